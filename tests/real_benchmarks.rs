//! End-to-end: the real benchmarks through the binary — the shipped image subset trains with
//! the convnet and stamps its provenance; data that needs the Hub cache fails with the fix.

mod util;

use util::Workdir;

#[test]
fn multi_fashion_subset_trains_lenet_and_records_its_files_and_seed() {
    let w = Workdir::new();
    let run = w
        .run(&[
            "--threads",
            "1",
            "run",
            "--dataset",
            "multi-fashion",
            "--data",
            "max_train=128",
            "--data",
            "pair_seed=3",
            "--model",
            "lenet-xs",
            "--method",
            "mgda-ub",
            "--train",
            "epochs=1",
            "--out",
            "runs",
        ])
        .expect_code(0);
    assert!(run.stdout().contains("| left "), "{}", run.stdout());
    let records: Vec<_> = std::fs::read_dir(w.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(records.len(), 1);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&records[0]).unwrap()).unwrap();
    let d = &r["dataset"];
    assert_eq!(d["id"], "multi-fashion/subset-sener-koltun-pair3-train128");
    assert_eq!(d["revision"], "subset-v1/multi-image-v1");
    assert_eq!(d["split_seed"], 3);
    let files = d["files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    assert!(files
        .iter()
        .all(|f| f["sha256"].as_str().unwrap().len() == 64));
    assert_eq!(r["model"]["arch"], "lenet");
}

#[test]
fn convnet_on_feature_vectors_is_a_config_error() {
    let w = Workdir::new();
    let run = w
        .run(&["run", "--model", "lenet-m", "--out", "runs"])
        .expect_code(2);
    assert!(
        run.stderr().contains("needs image inputs"),
        "{}",
        run.stderr()
    );
}

#[test]
fn cache_only_benchmarks_say_how_to_fill_the_cache() {
    let w = Workdir::new();
    let run = w
        .run(&["run", "--dataset", "qm9-11", "--data", "source=subset"])
        .expect_code(2);
    assert!(
        run.stderr().contains("mtlbench data import qm9pack"),
        "{}",
        run.stderr()
    );
}
