//! Every registered method trains end to end through the binary, on `synthetic-linear` (K = 4)
//! and on the shipped MultiFashion subset with MultiLeNet (K = 2), with its example
//! hyper-parameters; each record completes and states its backward passes per step (and
//! the forward passes after the step of a method that asks for them).

mod util;

use util::Workdir;

/// `--param key=value` arguments for a method's example parameters.
fn param_args(params: &serde_json::Value) -> Vec<String> {
    params
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            ["--param".to_owned(), format!("{k}={value}")]
        })
        .collect()
}

/// The one record in `dir`.
fn record(dir: &std::path::Path) -> serde_json::Value {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap()
}

fn trains_everywhere(dataset: &[&str], k: usize) {
    let w = Workdir::new();
    for (i, spec) in mtl_methods::METHODS.iter().enumerate() {
        let (_, params) = spec.examples(k).remove(0);
        let out = format!("runs{i}");
        let mut args: Vec<String> = ["run", "--method", spec.name, "--out", &out]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(dataset.iter().map(|s| s.to_string()));
        args.extend(param_args(&params));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        w.run(&args).expect_code(0);
        let r = record(&w.join(&out));
        let ctx = format!("{} on {dataset:?}: {}", spec.name, r["cost"]);
        assert_eq!(r["status"]["state"], "completed", "{ctx}");
        let encoder = r["cost"]["encoder_backward_per_step"].as_f64().unwrap();
        let heads = r["cost"]["head_backward_per_step"].as_f64().unwrap();
        assert!((1.0..=k as f64).contains(&encoder), "{ctx}");
        assert!(heads == 0.0 || heads == k as f64, "{ctx}");
        // One forward after every step, counted, for a method that asks for it; none else.
        let asks = spec
            .build(&params, k)
            .map(|m| m.needs().after_step)
            .unwrap_or(false);
        let forward = &r["cost"]["forward_after_step_per_step"];
        if asks {
            assert_eq!(forward.as_f64(), Some(1.0), "{ctx}");
        } else {
            assert!(forward.is_null(), "{ctx}");
        }
    }
}

#[test]
fn every_method_trains_on_synthetic_linear() {
    trains_everywhere(
        &[
            "--data",
            "train=64",
            "--data",
            "val=32",
            "--data",
            "test=32",
            "--train",
            "epochs=1",
            "--train",
            "batch_size=32",
        ],
        4,
    );
}

#[test]
fn every_method_trains_on_the_multi_fashion_subset() {
    trains_everywhere(
        &[
            "--dataset",
            "multi-fashion",
            "--data",
            "max_train=64",
            "--model",
            "lenet-xs",
            "--train",
            "epochs=1",
            "--train",
            "batch_size=32",
        ],
        2,
    );
}
