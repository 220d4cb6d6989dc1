//! End-to-end: `list`, `run`, `report` through the real binary.

mod util;

use util::Workdir;

#[test]
fn list_shows_datasets_methods_with_defaults_and_sizes() {
    let out = Workdir::new().run(&["list"]).expect_code(0).stdout();
    for needle in [
        "synthetic-linear",
        "uniform",
        "fixed",
        "mgda",
        "mgda-ub",
        "normalization",
        "default: \"loss+\"",
        "xs=16",
        "linear",
    ] {
        assert!(out.contains(needle), "`{needle}` missing from:\n{out}");
    }
}

#[test]
fn run_trains_one_cell_and_writes_its_record() {
    let w = Workdir::new();
    let run = w
        .run(&[
            "run",
            "--method",
            "fixed",
            "--param",
            "weights=[0.25,0.75]",
            "--data",
            "tasks=2",
            "--data",
            "train=128",
            "--data",
            "val=32",
            "--data",
            "test=32",
            "--model",
            "linear-s",
            "--train",
            "epochs=2",
            "--out",
            "one",
        ])
        .expect_code(0);
    let out = run.stdout();
    assert!(out.contains("fixed on synthetic-linear/k2"), "{out}");
    let files: Vec<_> = std::fs::read_dir(w.join("one"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(r["weights"]["mean"], serde_json::json!([0.25, 0.75]));
    assert_eq!(r["model"]["width"], 2);
    assert_eq!(r["train"]["epochs"], 2);
}

#[test]
fn bad_run_flags_exit_2_with_a_clear_message() {
    let w = Workdir::new();
    let cases: [(&[&str], &str); 5] = [
        (&["run", "--method", "nope"], "unknown method `nope`"),
        (&["run", "--model", "mlp-huge"], "mlp-huge"),
        (&["run", "--param", "normalization"], "key=value"),
        (&["run", "--train", "lr=-1"], "lr"),
        (&["run", "--device", "tpu"], "tpu"),
    ];
    for (args, needle) in cases {
        let run = w.run(args).expect_code(2);
        assert!(run.stderr().contains(needle), "{args:?}: {}", run.stderr());
    }
    assert!(w.listing().is_empty(), "created {:?}", w.listing());
}

#[test]
fn report_on_an_empty_folder_says_what_to_run() {
    let w = Workdir::new();
    std::fs::create_dir(w.join("empty")).unwrap();
    let run = w.run(&["report", "empty"]).expect_code(2);
    assert!(run.stderr().contains("mtlbench sweep"), "{}", run.stderr());
}
