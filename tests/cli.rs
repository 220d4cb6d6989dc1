//! End-to-end: `list`, `run`, `report` through the real binary.

mod util;

use std::path::Path;

use util::{small_run, Workdir};

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
        .run(&small_run(&[
            "--method",
            "fixed",
            "--param",
            "weights=[0.25,0.75]",
            "--data",
            "tasks=2",
            "--model",
            "linear-s",
            "--out",
            "one",
        ]))
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
    let cases: [(&[&str], &str); 6] = [
        (&["run", "--method", "nope"], "unknown method `nope`"),
        (&["run", "--model", "mlp-huge"], "mlp-huge"),
        (&["run", "--param", "normalization"], "key=value"),
        (&["run", "--train", "lr=-1"], "lr"),
        (&["run", "--device", "tpu"], "tpu"),
        (&["run", "--device", "cuda"], "--features cuda"),
    ];
    for (args, needle) in cases {
        let run = w.run(args).expect_code(2);
        assert!(run.stderr().contains(needle), "{args:?}: {}", run.stderr());
    }
    assert!(w.listing().is_empty(), "created {:?}", w.listing());
}

#[test]
fn a_sweep_file_that_is_not_there_or_not_a_file_is_a_bad_command_line() {
    let w = Workdir::new();
    std::fs::create_dir(w.join("folder")).unwrap();
    for command in ["check", "sweep"] {
        for file in ["missing.toml", "folder"] {
            let run = w.run(&[command, file]).expect_code(2);
            assert!(
                run.stderr().contains(file) && run.stderr().contains("reading sweep file"),
                "{command} {file}: {}",
                run.stderr()
            );
        }
    }
    assert_eq!(w.listing(), vec!["folder".to_string()]);
}

#[test]
fn check_gives_its_verdict_only_after_every_check_has_passed() {
    let w = Workdir::new();
    // Valid as text, refused once the dataset is known: a LeNet on feature vectors.
    w.write(
        "lenet.toml",
        "seeds = [0]\nmodels = [\"lenet-m\"]\n[dataset]\nname = \"synthetic-linear\"\n\
         [[methods]]\nname = \"uniform\"\n",
    );
    let run = w.run(&["check", "lenet.toml"]).expect_code(2);
    assert!(!run.stdout().contains("valid"), "{}", run.stdout());
    // A valid file names its own results folder.
    w.write(
        "ok.toml",
        "seeds = [0]\nmodels = [\"mlp-s\"]\n[dataset]\nname = \"synthetic-linear\"\n\
         [[methods]]\nname = \"uniform\"\n[train]\nepochs = 0\n",
    );
    let run = w.run(&["check", "ok.toml"]).expect_code(2);
    assert!(
        run.stderr().contains("ok.toml: train.epochs: must be in"),
        "{}",
        run.stderr()
    );
    w.write(
        "ok.toml",
        &std::fs::read_to_string(w.join("ok.toml"))
            .unwrap()
            .replace("epochs = 0", "epochs = 1"),
    );
    let out = w.run(&["check", "ok.toml"]).expect_code(0).stdout();
    let last = out.lines().last().unwrap_or_default();
    assert_eq!(last, "ok.toml: the configuration is valid", "{out}");
    assert!(out.contains("results in results/ok-"), "{out}");
    assert!(!out.contains("<plan id>"), "{out}");
    // A device this build cannot open is refused by check as by sweep, blaming the file.
    if !cfg!(feature = "cuda") {
        let text = std::fs::read_to_string(w.join("ok.toml")).unwrap();
        w.write("gpu.toml", &format!("device = \"cuda\"\n{text}"));
        for command in ["check", "sweep"] {
            let run = w.run(&[command, "gpu.toml"]).expect_code(2);
            assert!(
                run.stderr().contains("gpu.toml: device")
                    && run.stderr().contains("--features cuda"),
                "{command}: {}",
                run.stderr()
            );
        }
        assert!(!w.join("results").exists(), "{:?}", w.listing());
    }
}

#[test]
fn report_on_an_empty_folder_says_what_to_run() {
    let w = Workdir::new();
    std::fs::create_dir(w.join("empty")).unwrap();
    let run = w.run(&["report", "empty"]).expect_code(2);
    assert!(run.stderr().contains("mtlbench sweep"), "{}", run.stderr());
    // A file where a results folder is wanted.
    w.write("notes.md", "x");
    let run = w.run(&["status", "notes.md"]).expect_code(2);
    assert!(
        run.stderr()
            .contains("is a file, not a sweep results folder")
            && !run.stderr().contains("--out notes.md"),
        "{}",
        run.stderr()
    );
    // A study's runs folder holds one folder per part: the message names them.
    let study = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/runs/autoscale");
    let run = w.run(&["report", study.to_str().unwrap()]).expect_code(2);
    assert!(
        run.stderr().contains("multifashion, qm9, qm9-dm")
            && run.stderr().contains("mtlbench report"),
        "{}",
        run.stderr()
    );
}

#[test]
fn report_html_writes_one_page_and_prints_the_same_without_out() {
    let records = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/tests/fixtures/records");
    let records = records.to_str().unwrap();
    let w = Workdir::new();
    let run = w
        .run(&["report", records, "--format", "html", "--out", "page"])
        .expect_code(0);
    assert!(
        run.stdout().contains("wrote page/report.html"),
        "{}",
        run.stdout()
    );
    assert_eq!(
        w.listing(),
        ["page", "page/report.html"],
        "the page holds its plots"
    );
    let page = std::fs::read_to_string(w.join("page/report.html")).unwrap();
    // The fixtures' two blocks of two models each: 4 Pareto plots and 2 model-size plots.
    assert!(page.starts_with("<!DOCTYPE html>") && page.matches("<svg ").count() == 6);
    let printed = w
        .run(&["report", records, "--format", "html"])
        .expect_code(0);
    assert_eq!(printed.stdout(), page);
}

#[test]
fn diagnostics_are_logged_per_epoch_when_asked() {
    let w = Workdir::new();
    w.run(&small_run(&[
        "--method",
        "uniform",
        "--data",
        "tasks=3",
        "--model",
        "mlp-xs",
        "--train",
        "diagnostics=true",
        "--out",
        "diag",
    ]))
    .expect_code(0);
    let file = std::fs::read_dir(w.join("diag"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let epochs = r["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for e in epochs {
        let d = &e["diagnostics"];
        assert_eq!(d["grad_norm"].as_array().unwrap().len(), 3);
        assert_eq!(d["cosine"][1][1].as_f64().unwrap(), 1.0);
        let gms = d["gms_mean"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&gms), "{gms}");
        let conflict = d["conflict_rate"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&conflict));
    }
    // K extra backward passes per epoch, counted apart from training's one per step.
    assert_eq!(r["cost"]["diagnostic_backward"], 6);
    assert_eq!(r["cost"]["encoder_backward_per_step"], 1.0);
}

#[test]
fn searched_methods_run_from_the_command_line_and_record_their_search() {
    let w = Workdir::new();
    let out = w
        .run(&small_run(&[
            "--method",
            "tuned",
            "--param",
            "strategy=random",
            "--param",
            "trials=3",
            "--data",
            "tasks=2",
            "--model",
            "linear-s",
            "--out",
            "tuned",
        ]))
        .expect_code(0)
        .stdout();
    assert!(out.contains("tuned on synthetic-linear"), "{out}");
    let searches: Vec<_> = std::fs::read_dir(w.join("tuned/searches"))
        .unwrap()
        .collect();
    assert_eq!(searches.len(), 1, "the search is stored for reuse");
    let record = std::fs::read_dir(w.join("tuned"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file())
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
    let search = &r["search"];
    assert_eq!(search["budget"]["trainings"], 3);
    assert_eq!(search["history"]["trials"].as_array().unwrap().len(), 3);
    assert_eq!(
        r["weights"]["mean"], search["weights"],
        "the chosen weights are the ones trained"
    );
}

#[test]
fn help_and_list_snapshots() {
    let w = Workdir::new();
    insta::assert_snapshot!("help", w.run(&["--help"]).expect_code(0).stdout());
    insta::assert_snapshot!(
        "sweep_help",
        w.run(&["sweep", "--help"]).expect_code(0).stdout()
    );
    insta::assert_snapshot!("list", w.run(&["list"]).expect_code(0).stdout());
}
