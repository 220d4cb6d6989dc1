//! End-to-end: the real benchmarks through the binary — the shipped image subset trains with
//! the convnet and stamps its provenance; the Hub's parquet (served on 127.0.0.1) is fetched,
//! pinned, verified and trained on; data that needs the Hub cache fails with the fix.

mod util;

use mtl_datasets::hub::testing::{
    commit_id, png_grey, sha256_hex, write_image_parquet, FixtureFile, FixtureRepo, HubServer,
};
use mtl_datasets::hub::RepoCache;
use mtl_datasets::multi_mnist::FASHION_HUB;
use mtl_datasets::raw::ImageSet;
use util::{Run, Workdir};

/// `mtlbench --threads 1 run --dataset multi-fashion` followed by `extra`.
fn multi_fashion_run<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--threads", "1", "run", "--dataset", "multi-fashion"];
    args.extend_from_slice(extra);
    args
}

#[test]
fn multi_fashion_subset_trains_lenet_and_records_its_files_and_seed() {
    let w = Workdir::new();
    let run = w
        .run(&multi_fashion_run(&[
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
        ]))
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

/// `set`'s first `n` images as a parquet file in the Hub's schema (PNG Image struct +
/// ClassLabel), as bytes.
fn hub_parquet(w: &Workdir, set: &ImageSet, n: usize) -> Vec<u8> {
    let rows: Vec<(Vec<u8>, i64)> = (0..n)
        .map(|i| (png_grey(28, 28, set.image(i)), i64::from(set.labels[i])))
        .collect();
    let path = w.join("fixture.parquet");
    write_image_parquet(&path, &rows);
    std::fs::read(&path).unwrap()
}

#[test]
fn multi_fashion_from_hub_parquet_fetches_pins_trains_and_fails_on_damage() {
    let w = Workdir::new();
    // Real Fashion-MNIST images (the shipped subset) in the Hub's parquet conversion, served
    // as `zalando-datasets/fashion_mnist` at `refs/convert/parquet` like the public Hub.
    let (train, test, _) = mtl_datasets::subset::fashion().unwrap();
    let repo = FixtureRepo {
        repo: "zalando-datasets/fashion_mnist".into(),
        commit: commit_id("fashion-mnist-parquet"),
        branches: vec!["refs/convert/parquet".into()],
        files: vec![
            FixtureFile::new(FASHION_HUB.train, hub_parquet(&w, &train, 240)),
            FixtureFile::new(FASHION_HUB.test, hub_parquet(&w, &test, 60)),
        ],
    };
    let server = HubServer::start(vec![repo.clone()]);
    let endpoint = server.endpoint().to_owned();
    let hub = w.join("hub");
    let env = |offline: &'static str| {
        [
            ("HF_HUB_CACHE", hub.to_str().unwrap().to_owned()),
            ("HF_ENDPOINT", endpoint.clone()),
            ("MTLBENCH_OFFLINE", offline.to_owned()),
            ("HF_HUB_OFFLINE", "0".to_owned()),
            ("MTLBENCH_MANIFESTS", String::new()),
        ]
    };
    let run = |args: &[&str], offline: &'static str| -> Run {
        let env = env(offline);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        w.run_env(args, &env)
    };

    // The built-in `fashion-mnist` manifest: the first fetch resolves the branch and pins it.
    let fetch = run(&["data", "fetch", "fashion-mnist"], "0").expect_code(0);
    assert!(
        fetch.stdout().contains(&format!(
            "fashion-mnist (zalando-datasets/fashion_mnist@{})",
            repo.commit
        )),
        "{}",
        fetch.stdout()
    );

    let train_args = |out: &'static str| {
        multi_fashion_run(&[
            "--data",
            "source=hub",
            "--model",
            "mlp-xs",
            "--train",
            "epochs=1",
            "--out",
            out,
        ])
    };
    let record = |dir: &str| -> serde_json::Value {
        let records: Vec<_> = std::fs::read_dir(w.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        assert_eq!(records.len(), 1, "{records:?}");
        serde_json::from_str(&std::fs::read_to_string(&records[0]).unwrap()).unwrap()
    };
    run(&train_args("online"), "0").expect_code(0);
    let r = record("online");
    let d = &r["dataset"];
    assert_eq!(d["id"], "multi-fashion/hub-sener-koltun-pair0");
    assert_eq!(
        d["revision"],
        format!(
            "zalando-datasets/fashion_mnist@{}/multi-image-v1",
            repo.commit
        )
    );
    let files: Vec<(String, String)> = d["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = repo
        .files
        .iter()
        .map(|f| (f.path.clone(), sha256_hex(&f.bytes)))
        .collect();
    assert_eq!(files, want);

    // Offline with the cache filled and the server gone: the same data, the same record.
    drop(server);
    run(&train_args("offline"), "1").expect_code(0);
    assert_eq!(record("offline")["dataset"], *d);

    // A flipped byte in the cached training parquet: exit 3 naming the file.
    let blob = RepoCache::new(&hub, &repo.repo).blob(&want[0].1);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let failed = run(&train_args("damaged"), "1").expect_code(3);
    assert!(
        failed.stderr().contains(FASHION_HUB.train) && failed.stderr().contains("sha256"),
        "{}",
        failed.stderr()
    );
}
