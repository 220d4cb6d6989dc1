//! End-to-end: the multi-domain benchmark `mnist-fashion-domains` (shipped subset) through the
//! binary — every gradient path trains on both domains, the single-task baselines train on
//! their own domain only, and the report computes Δm% from them.

mod util;

use util::{records_without_timing, Workdir};

/// One seed of MultiLeNet-xs, one short epoch: uniform (no per-task gradients), MGDA
/// (gradients w.r.t. the shared parameters) and MGDA-UB (w.r.t. the representation), plus the
/// two single-task baselines.
const SWEEP: &str = r#"
seeds = [0]
models = ["lenet-xs"]

[dataset]
name = "mnist-fashion-domains"
max_train = 1024

[train]
epochs = 1
batch_size = 32
lr = 0.005

[[methods]]
name = "uniform"

[[methods]]
name = "mgda"

[[methods]]
name = "mgda-ub"
"#;

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn every_gradient_path_learns_both_domains_and_the_report_has_delta_m() {
    let w = Workdir::new();
    let cfg = w.write("domains.toml", SWEEP);
    w.run(&[
        "--threads",
        "1",
        "sweep",
        cfg.to_str().unwrap(),
        "--out",
        "res",
        "-q",
    ])
    .expect_code(0);
    let records = records_without_timing(&w.join("res"));
    assert_eq!(records.len(), 5, "3 methods and 2 single-task baselines");
    for (name, r) in &records {
        let d = &r["dataset"];
        assert_eq!(d["id"], "mnist-fashion-domains/subset-train1024", "{name}");
        assert_eq!(d["revision"], "subset-v1/domains-v1");
        assert_eq!(d["files"].as_array().unwrap().len(), 6);
        let tasks: Vec<&str> = d["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(tasks, ["digit", "item"]);
        assert_eq!(r["status"]["state"], "completed", "{name}");
        let accuracy: Vec<f64> = r["test"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["metric"].as_f64().unwrap())
            .collect();
        let method = r["method"]["name"].as_str().unwrap();
        let trained: Vec<usize> = match method {
            "stl" => vec![r["method"]["config"]["task"].as_u64().unwrap() as usize],
            _ => vec![0, 1],
        };
        for &t in &trained {
            // Chance is 0.1 for both 10-way tasks; after these 64 steps every run is at
            // 0.46 to 0.65.
            assert!(accuracy[t] > 0.4, "{method} task {t}: {accuracy:?}");
        }
        let (enc, heads) = (
            r["cost"]["encoder_backward_per_step"].as_f64().unwrap(),
            r["cost"]["head_backward_per_step"].as_f64().unwrap(),
        );
        let want = match method {
            "uniform" | "stl" => (1.0, 0.0),
            "mgda" => (2.0, 0.0),
            "mgda-ub" => (1.0, 2.0),
            other => panic!("unexpected method {other}"),
        };
        assert_eq!((enc, heads), want, "{name}");
        let train_loss = floats(&r["epochs"][0]["train_loss"]);
        for t in 0..2 {
            if trained.contains(&t) {
                assert!(train_loss[t] > 0.0, "{method}: {train_loss:?}");
            } else {
                assert_eq!(train_loss[t], 0.0, "stl computes only its own task");
            }
        }
    }
    let report = w.run(&["report", "res"]).expect_code(0).stdout();
    assert!(
        report.contains("mnist-fashion-domains/subset-train1024"),
        "{report}"
    );
    for method in ["uniform", "mgda", "mgda-ub"] {
        let row = report
            .lines()
            .find(|l| l.starts_with(&format!("| {method} ")))
            .unwrap_or_else(|| panic!("no {method} row:\n{report}"));
        let delta = row.split('|').nth(4).unwrap().trim();
        assert!(
            delta.parse::<f64>().is_ok_and(f64::is_finite),
            "Δm% of {method}: `{delta}` in\n{report}"
        );
    }
}
