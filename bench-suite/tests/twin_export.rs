//! The PyTorch twin's reference is the real trainer: what `twin_export` writes reads back as
//! the dataset's splits, the model's initial parameters and the trainer's batch order, and its
//! step log is that of a normal `Session` run of the same configuration (no torch needed).

#[path = "../compare/export.rs"]
mod export;

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};
use mtl_bench::model::Model;
use mtl_bench::{ModelSpec, Session, TrainConfig};
use mtl_datasets::{Batch, Dataset, InputGroup, Split, Targets};
use serde_json::{json, Value};

fn dataset(name: &str, params: Value) -> Box<dyn Dataset> {
    mtl_datasets::find(name).unwrap().build(&params).unwrap()
}

fn train() -> TrainConfig {
    TrainConfig {
        batch_size: 32,
        ..TrainConfig::default()
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(candle_core::DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

fn target_values(t: &Targets) -> Vec<f64> {
    match t {
        Targets::Real(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Targets::Labels(v) => v.iter().map(|&x| f64::from(x)).collect(),
    }
}

/// Rows `idx` of a group read back from the file's tensors.
fn gathered(file: &BTreeMap<String, Tensor>, prefix: &str, idx: &[i64], k: usize) -> Vec<Vec<f64>> {
    let x = &file[&format!("{prefix}.x")];
    let dim: usize = x.dims()[1..].iter().product();
    let xs = values(x);
    let mut out = vec![idx
        .iter()
        .flat_map(|&i| xs[i as usize * dim..(i as usize + 1) * dim].to_vec())
        .collect()];
    for t in 0..k {
        let y = values(&file[&format!("{prefix}.y{t}")]);
        out.push(idx.iter().map(|&i| y[i as usize]).collect());
    }
    out
}

fn group_values(g: &InputGroup) -> Vec<Vec<f64>> {
    let mut out = vec![g.x.iter().map(|&v| f64::from(v)).collect()];
    out.extend(g.targets.iter().map(|(_, t)| target_values(t)));
    out
}

fn read(path: &std::path::Path) -> BTreeMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap()
        .into_iter()
        .collect()
}

/// Splits, initial parameters and epoch orders survive the files exactly.
fn check_files(ds: &dyn Dataset, model: &str, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let k = ds.tasks().len();
    let splits: Vec<InputGroup> = export::SPLITS
        .iter()
        .map(|(s, _)| export::whole_split(ds, *s).unwrap())
        .collect();
    let mut data = BTreeMap::new();
    for (g, (_, prefix)) in splits.iter().zip(export::SPLITS) {
        export::split_tensors(g, &ds.input_shape(), prefix, &mut data).unwrap();
    }
    export::save(data, &dir.path().join("data.safetensors")).unwrap();
    let file = read(&dir.path().join("data.safetensors"));
    for (g, (split, prefix)) in splits.iter().zip(export::SPLITS) {
        assert_eq!(g.rows, ds.split_len(split));
        let all: Vec<i64> = (0..g.rows as i64).collect();
        assert_eq!(
            gathered(&file, prefix, &all, k),
            group_values(g),
            "{prefix}"
        );
        let mut shape = vec![g.rows];
        shape.extend(ds.input_shape());
        assert_eq!(file[&format!("{prefix}.x")].dims(), shape.as_slice());
    }
    // Validation and test splits are the ones the trainer evaluates (one fixed-order pass).
    for (split, g) in [(Split::Val, &splits[1]), (Split::Test, &splits[2])] {
        let rows: Vec<f32> = ds
            .batches(split, 7, 0, 0)
            .iter()
            .flat_map(|b| b.groups[0].x.clone())
            .collect();
        assert_eq!(rows, g.x);
    }

    let spec = ModelSpec::parse(model).unwrap();
    let outputs: Vec<usize> = ds.tasks().iter().map(|t| t.output_dim()).collect();
    let m = Model::new(&spec, &ds.input_shape(), &outputs, seed, &Device::Cpu).unwrap();
    export::save(
        export::param_tensors(&m, "").unwrap(),
        &dir.path().join("init.safetensors"),
    )
    .unwrap();
    let init = read(&dir.path().join("init.safetensors"));
    let meta = export::meta(ds, ("name", &json!({})), &m, &train());
    let names: Vec<&str> = meta["model"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = m.params().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, want);
    assert_eq!(meta["model"]["encoder_len"], m.encoder_params().len());
    assert_eq!(meta["dataset"]["rows"]["train"], splits[0].rows);
    assert_eq!(meta["tasks"].as_array().unwrap().len(), k);
    assert_eq!(init.len(), m.params().len());
    for p in m.params() {
        assert_eq!(init[&p.name].dims(), p.var.dims(), "{}", p.name);
        assert_eq!(
            values(&init[&p.name]),
            values(p.var.as_tensor()),
            "{}",
            p.name
        );
    }

    let index = export::RowIndex::new(&splits[0]);
    let bs = train().batch_size;
    let orders = export::epoch_orders(ds, &index, bs, 2, seed).unwrap();
    export::save(orders, &dir.path().join("order.safetensors")).unwrap();
    let orders = read(&dir.path().join("order.safetensors"));
    assert_eq!(orders.keys().collect::<Vec<_>>(), ["epoch1", "epoch2"]);
    for epoch in 1..=2 {
        let order: Vec<i64> = orders[&format!("epoch{epoch}")].to_vec1().unwrap();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..splits[0].rows as i64).collect::<Vec<_>>());
        for (b, batch) in ds.batches(Split::Train, bs, epoch, seed).iter().enumerate() {
            let idx = &order[b * bs..(b * bs + batch.groups[0].rows)];
            assert_eq!(
                gathered(&file, "train", idx, k),
                group_values(&batch.groups[0]),
                "epoch {epoch} batch {b}"
            );
        }
    }
    let e1: Vec<i64> = orders["epoch1"].to_vec1().unwrap();
    let e2: Vec<i64> = orders["epoch2"].to_vec1().unwrap();
    assert_ne!(e1, e2, "epochs are shuffled differently");

    // A row that is not in the training array is an error, not a silent index.
    let mut stranger = splits[0].clone();
    stranger.x[0] += 1.0;
    let batch = Batch {
        groups: vec![stranger],
    };
    let err = index.locate(&batch).unwrap_err().to_string();
    assert!(err.contains("not in the exported training array"), "{err}");
}

#[test]
fn exported_files_read_back_as_the_data_model_and_batch_order() {
    let linear = dataset(
        "synthetic-linear",
        json!({"tasks": 2, "dim": 6, "train": 100, "val": 20, "test": 20}),
    );
    check_files(linear.as_ref(), "mlp-xs", 3);
    let fashion = dataset("multi-fashion", json!({"max_train": 96}));
    check_files(fashion.as_ref(), "lenet-xs", 1);
}

/// A plain session of the same configuration: parameters, loss totals and weights.
fn plain_session(
    ds: &dyn Dataset,
    model: &str,
    method: &str,
    seed: u64,
    steps: u64,
) -> (BTreeMap<String, Tensor>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let spec = ModelSpec::parse(model).unwrap();
    let m = mtl_methods::find(method)
        .unwrap()
        .build(&Value::Null, ds.tasks().len())
        .unwrap();
    let t = TrainConfig {
        epochs: export::epochs_for(ds, train().batch_size, steps),
        ..train()
    };
    let mut s = Session::new(ds, &spec, m, &t, seed, &Device::Cpu).unwrap();
    s.train_steps(steps, &mut || {}).unwrap();
    assert_eq!(s.steps_done(), steps);
    let params = export::param_tensors(s.model(), "").unwrap();
    let totals = s.loss_totals().to_vec();
    let done = s.finish().unwrap();
    (params, totals, done.weights.last, done.weights.mean)
}

#[test]
fn the_step_log_is_that_of_a_normal_session() {
    let fashion = dataset("multi-fashion", json!({"max_train": 96}));
    let steps = 5; // three batches an epoch: the log crosses an epoch boundary
    for (method, model) in [("uniform", "lenet-xs"), ("mgda-ub", "lenet-xs")] {
        let params = mtl_methods::find(method)
            .unwrap()
            .canonical_config(&Value::Null)
            .unwrap();
        let run = export::run_steps(
            fashion.as_ref(),
            &ModelSpec::parse(model).unwrap(),
            (method, &params),
            &train(),
            2,
            steps,
        )
        .unwrap();
        let (last, totals, w_last, w_mean) =
            plain_session(fashion.as_ref(), model, method, 2, steps);
        assert_eq!(export::first_difference(&run.last, &last).unwrap(), None);
        assert_eq!(run.log.len(), steps as usize);
        assert_eq!(
            run.log.iter().map(|s| s.step).collect::<Vec<_>>(),
            (0..steps).collect::<Vec<_>>()
        );
        for (t, total) in totals.iter().enumerate() {
            let sum: f64 = run.log.iter().map(|s| s.losses[t]).sum();
            assert_eq!(sum, *total, "{method}: task {t} loss total");
        }
        assert_eq!(run.log.last().unwrap().weights, w_last);
        let mean: Vec<f64> = (0..2)
            .map(|t| run.log.iter().map(|s| s.weights[t]).sum::<f64>() / steps as f64)
            .collect();
        for (a, b) in mean.iter().zip(&w_mean) {
            assert!((a - b).abs() < 1e-12, "{method}: mean λ {a} vs {b}");
        }
        // The trajectory ends where the session ended, and starts from the model's init.
        let final_step: BTreeMap<String, Tensor> = run
            .trajectory
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(&format!("step{steps}."))
                    .map(|n| (n.to_owned(), v.clone()))
            })
            .collect();
        assert_eq!(export::first_difference(&final_step, &last).unwrap(), None);
        let spec = ModelSpec::parse(model).unwrap();
        let m = Model::new(&spec, &[1, 28, 28], &[10, 10], 2, &Device::Cpu).unwrap();
        let init = export::param_tensors(&m, "").unwrap();
        assert_eq!(export::first_difference(&run.init, &init).unwrap(), None);
        assert!(export::first_difference(&run.init, &last)
            .unwrap()
            .is_some());
        match method {
            "uniform" => assert!(run
                .log
                .iter()
                .all(|s| s.weights == [0.5, 0.5] && s.gram.is_none())),
            _ => {
                assert!(run
                    .log
                    .iter()
                    .all(|s| s.gram.as_ref().map(Vec::len) == Some(4)));
                assert!(run.log.iter().any(|s| s.weights != [0.5, 0.5]));
            }
        }
    }
}

#[test]
fn forced_gradients_are_the_trainers_gradients() {
    // With plain SGD the trainer's update is p − lr·g in f32, so each exported gradient can be
    // checked against the parameter trajectory bit for bit (uniform: the same backward path)
    // or to rounding (mgda-ub: the trainer goes through the detached representation).
    let fashion = dataset("multi-fashion", json!({"max_train": 64}));
    let sgd = TrainConfig {
        optimizer: mtl_bench::optim::OptimizerKind::Sgd,
        lr: 0.5,
        ..train()
    };
    let spec = ModelSpec::parse("lenet-xs").unwrap();
    for method in ["uniform", "mgda-ub"] {
        let params = mtl_methods::find(method)
            .unwrap()
            .canonical_config(&Value::Null)
            .unwrap();
        let run =
            export::run_steps(fashion.as_ref(), &spec, (method, &params), &sgd, 4, 3).unwrap();
        let grads =
            export::forced_gradients(fashion.as_ref(), &spec, &run, sgd.batch_size, 4).unwrap();
        assert_eq!(grads.len(), 3 * run.init.len());
        let mut worst = 0f32;
        for t in 0..3 {
            for name in run.init.keys() {
                let before = match t {
                    0 => run.init[name].clone(),
                    _ => run.trajectory[&format!("step{t}.{name}")].clone(),
                };
                let after = &run.trajectory[&format!("step{}.{name}", t + 1)];
                let g = &grads[&format!("step{t}.{name}")];
                let f = |x: &Tensor| x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                for ((p, q), g) in f(&before).iter().zip(f(after)).zip(f(g)) {
                    let want = p - 0.5f32 * g;
                    worst = worst.max((want - q).abs() / p.abs().max(1e-3));
                }
            }
        }
        match method {
            "uniform" => assert_eq!(worst, 0.0, "uniform: bitwise"),
            _ => assert!(worst < 1e-4, "{method}: relative update error {worst}"),
        }
    }
}
