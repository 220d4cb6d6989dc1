//! End-to-end: sweeps through the real binary.

mod util;

use util::{records_without_timing, Workdir, TINY_SWEEP};

#[test]
fn same_config_and_seed_give_identical_records() {
    let w = Workdir::new();
    let cfg = w.write("tiny.toml", TINY_SWEEP);
    let cfg = cfg.to_str().unwrap();
    w.run(&["sweep", cfg, "--out", "a"]).expect_code(0);
    w.run(&["sweep", cfg, "--out", "b"]).expect_code(0);
    let a = records_without_timing(&w.join("a"));
    let b = records_without_timing(&w.join("b"));
    assert_eq!(a.len(), 24, "12 cells plus 12 single-task baselines");
    assert_eq!(a, b);

    // Different seeds of one cell differ; every (cell, seed) has its own record.
    let seeds: Vec<_> = a
        .iter()
        .filter(|(_, r)| r["method"]["name"] == "uniform" && r["model"]["name"] == "mlp-xs")
        .collect();
    assert_eq!(seeds.len(), 2);
    assert_ne!(seeds[0].1["seed"], seeds[1].1["seed"]);
    assert_ne!(seeds[0].1["test"], seeds[1].1["test"]);
}

#[test]
fn sweep_prints_the_table_and_writes_valid_records() {
    let w = Workdir::new();
    let cfg = w.write("tiny.toml", TINY_SWEEP);
    let run = w
        .run(&["sweep", cfg.to_str().unwrap(), "--out", "res"])
        .expect_code(0);
    let out = run.stdout();
    let main = main_table(&out);
    for row in ["| stl ", "| uniform ", "| mgda ", "| mgda-ub "] {
        assert_eq!(main.matches(row).count(), 2, "{row} once per model:\n{out}");
    }
    assert!(
        out.contains("24 runs (24 trained, 0 already recorded)"),
        "{out}"
    );

    let records = records_without_timing(&w.join("res"));
    for (name, r) in &records {
        assert_eq!(format!("{}.json", r["cell_id"].as_str().unwrap()), *name);
        assert_eq!(r["status"]["state"], "completed");
        assert_eq!(r["schema_version"], 2);
        assert_eq!(r["epochs"].as_array().unwrap().len(), 3);
        assert_eq!(r["dataset"]["tasks"].as_array().unwrap().len(), 3);
        assert!(r["stamp"]["git_commit"]
            .as_str()
            .is_some_and(|c| !c.is_empty()));
        assert_eq!(r["stamp"]["device"], "cpu");
        let lambda: Vec<f64> = r["weights"]["mean"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(
            (lambda.iter().sum::<f64>() - 1.0).abs() < 1e-9,
            "{lambda:?}"
        );
        // Backward passes are counted where they happen: MGDA-UB goes through the encoder
        // once per step (plus K head-only passes), MGDA K times.
        let (enc, heads) = (
            r["cost"]["encoder_backward_per_step"].as_f64().unwrap(),
            r["cost"]["head_backward_per_step"].as_f64().unwrap(),
        );
        let want = match r["method"]["name"].as_str().unwrap() {
            "uniform" | "stl" => (1.0, 0.0),
            "mgda" => (3.0, 0.0),
            "mgda-ub" => (1.0, 3.0),
            other => panic!("unexpected method {other}"),
        };
        assert_eq!((enc, heads), want, "{name}");
    }

    // A second sweep into the same folder reuses every record.
    let again = w
        .run(&["sweep", cfg.to_str().unwrap(), "--out", "res"])
        .expect_code(0);
    assert!(
        again
            .stdout()
            .contains("24 runs (0 trained, 24 already recorded)"),
        "{}",
        again.stdout()
    );

    // The report regenerates the same table, byte for byte, every time.
    let r1 = w.run(&["report", "res"]).expect_code(0).stdout();
    let r2 = w.run(&["report", "res"]).expect_code(0).stdout();
    assert_eq!(r1, r2);
    let table_lines = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with('|'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(table_lines(&r1), table_lines(&out));
}

#[test]
fn malformed_sweep_files_are_rejected_with_the_field_and_create_nothing() {
    let base = "seeds = [0]\nmodels = [\"mlp-xs\"]\n";
    let dataset = "[dataset]\nname = \"synthetic-linear\"\ntrain = 64\nval = 16\ntest = 16\n";
    let uniform = "[[methods]]\nname = \"uniform\"\n";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{base}{dataset}[[methods]]\nname = \"mgda\"\nnormalisation = \"l2\"\n"),
            "normalisation",
        ),
        (
            format!("{base}{dataset}[[methods]]\nname = \"mgda\"\nnormalization = \"l3\"\n"),
            "l3",
        ),
        (
            format!("{base}{dataset}[[methods]]\nname = \"pcgrad2\"\n"),
            "methods[0].name",
        ),
        (
            format!(
                "{base}{dataset}[[methods]]\nname = \"fixed\"\nweights = [0.5, 0.6, 0.1, 0.1]\n"
            ),
            "sum to 1",
        ),
        (
            format!("{base}{dataset}[[methods]]\nname = \"fixed\"\nweights = [0.5, 0.5]\n"),
            "4 tasks",
        ),
        (
            format!("{base}{dataset}[train]\nlr = 0.0\n{uniform}"),
            "train.lr",
        ),
        (
            format!("{base}{dataset}[train]\nepochs = 0\n{uniform}"),
            "train.epochs",
        ),
        (
            format!("{base}{dataset}[train]\noptimizer = \"lbfgs\"\n{uniform}"),
            "lbfgs",
        ),
        (
            format!("{base}{dataset}[train]\nbatchsize = 3\n{uniform}"),
            "batchsize",
        ),
        (
            format!("seeds = []\nmodels = [\"mlp-xs\"]\n{dataset}{uniform}"),
            "seeds",
        ),
        (
            format!("seeds = [1, 1]\nmodels = [\"mlp-xs\"]\n{dataset}{uniform}"),
            "distinct",
        ),
        (
            format!("seeds = [0]\nmodels = [\"mlp-huge\"]\n{dataset}{uniform}"),
            "models[0]",
        ),
        (
            format!("{base}[dataset]\nname = \"synthetic-linear\"\ntasks = 0\n{uniform}"),
            "tasks",
        ),
        (
            format!("{base}[dataset]\nname = \"nope\"\n{uniform}"),
            "dataset.name",
        ),
        (format!("{base}{dataset}"), "methods"),
        (
            format!("{base}{dataset}{uniform}extra = 1\n[other]\nx = 1\n"),
            "other",
        ),
        (
            format!("{base}{dataset}[[methods]]\nname = \"tuned\"\nstrategy = \"bayes\"\n"),
            "bayes",
        ),
        (
            format!("{base}{dataset}[[methods]]\nname = \"tuned\"\npopulation = 1\n"),
            "population",
        ),
        (
            format!("{base}{dataset}[[methods]]\nname = \"tuned\"\nstep = 0.3\n"),
            "step",
        ),
        (
            format!("{base}{dataset}[[methods]]\nname = \"autoscale\"\nprefix = 1.5\n"),
            "prefix",
        ),
        (
            format!("{base}{dataset}[[methods]]\nname = \"autoscale\"\nwindows = \"four\"\n"),
            "windows",
        ),
        (
            format!("{base}{dataset}[[methods]]\nname = \"stl\"\ntask = 9\n"),
            "task",
        ),
        (format!("{base}{dataset}stl = \"yes\"\n{uniform}"), "stl"),
        ("seeds = [0\n".to_string(), "line 1, column"),
        (
            format!("{base}{dataset}[[datasets]]\nname = \"synthetic-linear\"\n{uniform}"),
            "not both",
        ),
        (format!("{base}{uniform}"), "needs a dataset"),
        (
            format!("{base}[[datasets]]\nname = \"synthetic-linear\"\n[[datasets]]\nname = \"nope\"\n{uniform}"),
            "datasets[1].name",
        ),
        (
            format!("{base}[[datasets]]\nname = \"synthetic-linear\"\n[[datasets]]\nname = \"synthetic-linear\"\n{uniform}"),
            "listed twice with the same parameters",
        ),
        (
            format!("{base}[[datasets]]\nname = \"synthetic-linear\"\n[[datasets]]\nname = \"synthetic-linear\"\ntasks = -2\n{uniform}"),
            "datasets[1]",
        ),
        (
            format!("seeds = [0]\nmodels = [\"mlp-xs\", \"mlp-xs\"]\n{dataset}{uniform}"),
            "models[1]: model `mlp-xs` is listed twice",
        ),
        (format!("{base}workers = 0\n{dataset}{uniform}"), "workers: must be in 1..=64"),
        (format!("{base}device = \"tpu\"\n{dataset}{uniform}"), "device: unknown device `tpu`"),
        (format!("{base}out = \"\"\n{dataset}{uniform}"), "out: must name a folder"),
        (
            format!("{base}{dataset}[[methods]]\nname = \"mgda-ub\"\nnormalization = []\n"),
            "methods[0].normalization: an empty list",
        ),
        (
            format!("{base}{dataset}[[methods]]\nname = \"mgda-ub\"\nnormalization = [\"l2\", \"l1\"]\n"),
            "grid point normalization = \"l1\"",
        ),
        (
            format!("{base}{dataset}[[methods]]\nname = \"mgda-ub\"\nnormalization = [\"l2\", \"l2\"]\n"),
            "duplicate method entry `mgda-ub` at grid point normalization = \"l2\"",
        ),
        (
            format!("{base}{dataset}[[methods]]\nname = \"fixed\"\nweights = [[0.5, 0.5, 0.0, 0.0], [0.5, 0.5]]\n"),
            "grid point weights = [0.5,0.5]",
        ),
        (
            format!("{base}{dataset}[[methods]]\nname = [\"uniform\", \"mgda\"]\n"),
            "expected a string",
        ),
        (format!("seeds = [-1]\nmodels = [\"mlp-xs\"]\n{dataset}{uniform}"), "seeds"),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let w = Workdir::new();
        w.write("bad.toml", text);
        let run = w.run(&["sweep", "bad.toml", "--out", "res"]).expect_code(2);
        let err = run.stderr();
        assert!(
            err.contains(needle),
            "case {i}: expected `{needle}` in:\n{err}"
        );
        assert!(
            err.contains("bad.toml"),
            "case {i}: error names the file:\n{err}"
        );
        assert_eq!(
            w.listing(),
            vec!["bad.toml".to_string()],
            "case {i} created files"
        );
    }
}

#[test]
fn a_diverging_run_is_recorded_as_such_and_the_sweep_goes_on() {
    let w = Workdir::new();
    // Plain SGD with a huge learning rate overflows within a few steps.
    let text = TINY_SWEEP
        .replace("lr = 0.01", "lr = 1e12\noptimizer = \"sgd\"")
        .replace("seeds = [0, 1]", "seeds = [0]");
    let cfg = w.write("diverge.toml", &text);
    let run = w
        .run(&["sweep", cfg.to_str().unwrap(), "--out", "res"])
        .expect_code(0);
    let records = records_without_timing(&w.join("res"));
    assert_eq!(records.len(), 12, "6 cells and 6 single-task baselines");
    for (name, r) in &records {
        assert_eq!(r["status"]["state"], "diverged", "{name}");
        assert!(r["status"]["step"].as_u64().is_some());
        assert!(r["status"]["task"]
            .as_str()
            .is_some_and(|t| t.starts_with('y')));
    }
    // Every row counts its diverged runs and shows no statistics for them.
    let out = run.stdout();
    let main = main_table(&out);
    let rows: Vec<Vec<&str>> = main
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| method"))
        .map(|l| {
            l.split('|')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 8, "{out}");
    for row in rows {
        let (method, n, diverged) = (row[0], row[2], *row.last().unwrap());
        assert_eq!(n, "0/1", "the seed run has no Δm%, and says so: {row:?}");
        assert_eq!(diverged, if method == "stl" { "3" } else { "1" }, "{row:?}");
    }
}

#[test]
fn thread_count_changes_results_only_within_float_rounding() {
    let w = Workdir::new();
    let cfg = w.write(
        "tiny.toml",
        &TINY_SWEEP.replace("seeds = [0, 1]", "seeds = [0]"),
    );
    let cfg = cfg.to_str().unwrap();
    w.run(&["sweep", cfg, "--out", "one", "--threads", "1"])
        .expect_code(0);
    w.run(&["sweep", cfg, "--out", "two", "--threads", "2"])
        .expect_code(0);
    let (one, two) = (
        records_without_timing(&w.join("one")),
        records_without_timing(&w.join("two")),
    );
    assert_eq!(one.len(), two.len());
    for ((name, a), (_, b)) in one.iter().zip(&two) {
        assert_eq!(a["stamp"]["threads"], 1);
        assert_eq!(b["stamp"]["threads"], 2);
        assert_eq!(
            a["cell_id"], b["cell_id"],
            "thread count is not part of the cell"
        );
        for (ta, tb) in a["test"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["test"].as_array().unwrap())
        {
            let (x, y) = (ta["loss"].as_f64().unwrap(), tb["loss"].as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-4 * y.abs().max(1e-3),
                "{name}: test loss {x} vs {y}"
            );
        }
    }
    let bad = w.run(&["sweep", cfg, "--threads", "0"]).expect_code(2);
    assert!(bad.stderr().contains("--threads"), "{}", bad.stderr());
}

/// The first table of a sweep's output (the main comparison table; the per-task metrics follow).
fn main_table(out: &str) -> String {
    out.lines()
        .skip_while(|l| !l.starts_with("| method"))
        .take_while(|l| l.starts_with('|'))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn check_validates_counts_cells_and_creates_nothing() {
    let w = Workdir::new();
    w.write(
        "grid.toml",
        &TINY_SWEEP.replace(
            "name = \"mgda\"\nnormalization = \"l2\"",
            "name = \"mgda\"\nnormalization = [\"l2\", \"loss+\"]",
        ),
    );
    let run = w.run(&["check", "grid.toml"]).expect_code(0);
    let out = run.stdout();
    assert!(
        out.contains("grid.toml: the configuration is valid"),
        "{out}"
    );
    assert!(
        out.contains("methods[1] mgda at grid point normalization = \"loss+\""),
        "{out}"
    );
    assert!(
        out.contains("3 tasks; generated, no data files needed"),
        "{out}"
    );
    assert!(
        out.contains(
            "28 runs: 1 datasets × 4 methods × 2 models × 2 seeds, plus 12 single-task baselines"
        ),
        "{out}"
    );
    assert_eq!(w.listing(), vec!["grid.toml".to_string()]);
    // The embedded default sweep checks too.
    let default = w.run(&["check"]).expect_code(0);
    assert!(default
        .stdout()
        .contains("default sweep: the configuration is valid"));
    w.write("bad.toml", "seeds = [0]\n");
    let bad = w.run(&["check", "bad.toml"]).expect_code(2);
    assert!(bad.stderr().contains("bad.toml"), "{}", bad.stderr());
}

#[test]
fn results_do_not_depend_on_the_worker_count() {
    let w = Workdir::new();
    // AutoScale's weight search runs once per model and is shared by both seeds, however
    // many runs train side by side.
    let text = format!("{TINY_SWEEP}\n[[methods]]\nname = \"autoscale\"\n");
    w.write("tiny.toml", &text);
    w.run(&["sweep", "tiny.toml", "--out", "one", "-q", "--jobs", "1"])
        .expect_code(0);
    // The file's `workers` setting, overridden by nothing.
    w.write("tiny3.toml", &format!("workers = 3\n{text}"));
    w.run(&["sweep", "tiny3.toml", "--out", "three", "-q"])
        .expect_code(0);
    let (one, three) = (
        records_without_timing(&w.join("one")),
        records_without_timing(&w.join("three")),
    );
    assert_eq!(one.len(), 28);
    assert_eq!(one, three);
    for dir in ["one", "three"] {
        let searches = std::fs::read_dir(w.join(dir).join("searches"))
            .unwrap()
            .count();
        assert_eq!(searches, 2, "one search per model in {dir}");
    }
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.join("three").join(&three[0].0)).unwrap()).unwrap();
    assert_eq!(r["timing"]["workers"], 3);
    assert_eq!(r["timing"]["peak_rss_scope"], "process");
}

#[test]
fn records_are_stamped_completely() {
    let w = Workdir::new();
    let cfg = w.write(
        "tiny.toml",
        &TINY_SWEEP.replace("seeds = [0, 1]", "seeds = [3]").replace(
            "models = [\"linear-s\", \"mlp-xs\"]",
            "models = [\"mlp-xs\"]",
        ),
    );
    w.run(&["sweep", cfg.to_str().unwrap(), "--out", "res", "-q"])
        .expect_code(0);
    let dir = w.join("res");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        seen += 1;
        let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let s = &r["stamp"];
        assert_eq!(s["mtlbench_version"], env!("CARGO_PKG_VERSION"));
        let commit = s["git_commit"].as_str().unwrap();
        assert!(commit == "unknown" || commit.len() == 40, "{commit}");
        assert!(s["git_dirty"].is_boolean());
        assert!(s["rustc"].as_str().unwrap().starts_with("rustc "), "{s}");
        assert!(s["target"].as_str().unwrap().contains('-'), "{s}");
        assert_eq!(s["device"], "cpu");
        assert!(s["threads"].as_u64().unwrap() >= 1);
        let deps = s["dependencies"].as_object().unwrap();
        assert_eq!(deps["candle-core"], s["candle"]);
        for dep in ["candle-nn", "gemm", "rand_chacha"] {
            assert!(
                deps[dep].as_str().is_some_and(|v| v.contains('.')),
                "{dep}: {deps:?}"
            );
        }
        let d = &r["dataset"];
        assert!(d["id"].as_str().unwrap().starts_with("synthetic-linear/"));
        assert!(!d["revision"].as_str().unwrap().is_empty());
        assert!(d["files"].is_array() && d.get("split_seed").is_some());
        assert_eq!(d["split_sizes"], serde_json::json!([256, 64, 64]));
        let id = r["cell_id"].as_str().unwrap();
        assert_eq!(id.len(), 16);
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            format!("{id}.json")
        );
        assert!(r["method"]["config"].is_object(), "full method config");
        assert_eq!(r["train"]["epochs"], 3);
        assert!(r["train"]["selection"].is_string());
        assert_eq!(r["seed"], 3);
        assert_eq!(r["status"]["state"], "completed");
        assert_eq!(r["epochs"].as_array().unwrap().len(), 3);
        assert!(r["cost"]["encoder_backward_per_step"].as_f64().unwrap() >= 1.0);
        assert_eq!(r["cost"]["steps"], 24);
        let t = &r["timing"];
        assert!(t["step_ms_median"].as_f64().unwrap() > 0.0);
        assert!(t["total_s"].as_f64().unwrap() > 0.0);
        let (start, end) = (
            t["started_unix"].as_f64().unwrap(),
            t["finished_unix"].as_f64().unwrap(),
        );
        assert!(start > 1.6e9 && start <= end, "{t}");
        assert!(t["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "{t}");
        // One run at a time on Linux: the peak is the run's own.
        assert_eq!(t["peak_rss_scope"], "run", "{t}");
        assert_eq!(t["workers"], 1);
    }
    assert_eq!(seen, 6);
    // The folder keeps the plan and the configuration it was made for.
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("sweep-state/plan.json")).unwrap()).unwrap();
    assert_eq!(plan["cells"], 6);
    assert_eq!(plan["device"], "cpu");
    assert!(std::fs::read_to_string(dir.join("sweep-state/config.toml"))
        .unwrap()
        .contains("seeds = [3]"));
}

#[test]
fn a_non_finite_update_ends_the_run_as_diverged_at_that_step_and_the_sweep_goes_on() {
    let w = Workdir::new();
    w.write(
        "tiny.toml",
        &TINY_SWEEP.replace("seeds = [0, 1]", "seeds = [0]"),
    );
    // The method's weights of the 5th training step (global step 4) of every run become NaN.
    let run = w
        .run_env(
            &["sweep", "tiny.toml", "--out", "res", "-q"],
            &[("MTLBENCH_FAILPOINT", "nan-weights@5")],
        )
        .expect_code(0);
    assert!(
        run.stdout()
            .contains("12 runs (12 trained, 0 already recorded)"),
        "{}",
        run.stdout()
    );
    for (name, r) in records_without_timing(&w.join("res")) {
        assert_eq!(r["status"]["state"], "diverged", "{name}");
        assert_eq!(r["status"]["step"], 4, "{name}");
        assert!(
            r["status"]["task"].is_null(),
            "{name}: no task's loss was at fault"
        );
        assert_eq!(
            r["cost"]["steps"], 4,
            "{name}: the bad update was not applied"
        );
    }
}

#[test]
fn several_datasets_run_in_one_sweep_each_with_its_own_baselines() {
    let w = Workdir::new();
    w.write(
        "two.toml",
        "seeds = [0]\nmodels = [\"linear-s\"]\n\
         [[datasets]]\nname = \"synthetic-linear\"\ntasks = 2\ntrain = 64\nval = 16\ntest = 16\n\
         [[datasets]]\nname = \"synthetic-linear\"\ntasks = 3\ntrain = 64\nval = 16\ntest = 16\n\
         [train]\nepochs = 2\nbatch_size = 16\n\
         [[methods]]\nname = \"uniform\"\n",
    );
    let run = w
        .run(&["sweep", "two.toml", "--out", "res", "-q"])
        .expect_code(0);
    let out = run.stdout();
    assert!(out.contains("7 runs (7 trained"), "{out}");
    assert!(out.contains("Dataset: synthetic-linear/k2"), "{out}");
    assert!(out.contains("Dataset: synthetic-linear/k3"), "{out}");
    let records = records_without_timing(&w.join("res"));
    let uniform: Vec<_> = records
        .iter()
        .filter(|(_, r)| r["method"]["name"] == "uniform")
        .collect();
    assert_eq!(uniform.len(), 2);
    for (_, r) in uniform {
        let k = r["dataset"]["tasks"].as_array().unwrap().len();
        assert_eq!(r["stl_cells"].as_array().unwrap().len(), k);
    }
}

#[test]
fn each_dataset_can_have_its_own_models_and_a_model_that_cannot_take_the_input_is_refused() {
    let w = Workdir::new();
    let text = "seeds = [0]\nmodels = [\"mlp-xs\"]\n\
         [[datasets]]\nname = \"synthetic-linear\"\ntasks = 2\ntrain = 64\nval = 16\ntest = 16\n\
         [[datasets]]\nname = \"multi-fashion\"\nmax_train = 64\nmodels = [\"lenet-xs\"]\n\
         [train]\nepochs = 1\nbatch_size = 32\n\
         [[methods]]\nname = \"uniform\"\n";
    w.write("own.toml", text);
    let run = w
        .run(&["sweep", "own.toml", "--out", "res", "-q"])
        .expect_code(0);
    assert!(
        run.stdout().contains("6 runs (6 trained"),
        "{}",
        run.stdout()
    );
    let models: Vec<(String, String)> = records_without_timing(&w.join("res"))
        .into_iter()
        .map(|(_, r)| {
            let id = r["dataset"]["id"].as_str().unwrap();
            let name = id.split('/').next().unwrap().to_owned();
            (name, r["model"]["name"].as_str().unwrap().to_owned())
        })
        .collect();
    for (dataset, model) in &models {
        let want = if dataset == "multi-fashion" {
            "lenet-xs"
        } else {
            "mlp-xs"
        };
        assert_eq!(model, want, "{models:?}");
    }

    // A convolutional model on a dataset of feature vectors: refused before anything is made.
    w.write(
        "bad.toml",
        &text.replace("models = [\"mlp-xs\"]", "models = [\"lenet-xs\"]"),
    );
    let bad = w
        .run(&["sweep", "bad.toml", "--out", "bad", "-q"])
        .expect_code(2);
    assert!(
        bad.stderr().contains("datasets[0]") && bad.stderr().contains("needs image inputs"),
        "{}",
        bad.stderr()
    );
    assert!(!w.join("bad").exists());
    // Models belong to datasets or the whole sweep, not to methods.
    w.write(
        "method.toml",
        &text.replace(
            "name = \"uniform\"\n",
            "name = \"uniform\"\nmodels = [\"mlp-s\"]\n",
        ),
    );
    let err = w.run(&["check", "method.toml"]).expect_code(2);
    assert!(
        err.stderr().contains("methods[0].models"),
        "{}",
        err.stderr()
    );
}
