//! Opt-in (`MTLBENCH_REAL_DATA=1`): training on the full real benchmarks, from the unpacked
//! packages (the same folders as `datasets/tests/real_data.rs`), without the Hub cache:
//! MultiFashion (all of Fashion-MNIST) with `lenet-m` and QM9-11 with `mlp-m`, one epoch
//! each; prints test metrics and step times.
//!
//! ```sh
//! MTLBENCH_REAL_DATA=1 MTLBENCH_QM9_DIR=.../qm9pack/data \
//!     cargo test -p mtl-bench --release --test real_training -- --nocapture --test-threads 1
//! ```

use std::path::PathBuf;

use candle_core::Device;
use mtl_bench::{ModelSpec, Session, TrainConfig};
use mtl_datasets::formats::qm9_csv;
use mtl_datasets::image_sources::read_fashion_dir;
use mtl_datasets::loaded::Loaded;
use mtl_datasets::multi_mnist::{self, Items, MultiImageConfig};
use mtl_datasets::qm9::{self, Qm9Config};
use mtl_datasets::Dataset;

fn enabled() -> bool {
    std::env::var("MTLBENCH_REAL_DATA").is_ok_and(|v| v == "1")
}

fn dir(var: &str, default: &str) -> PathBuf {
    PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_owned()))
}

/// Trains one epoch of `uniform` and returns (test metrics, median step ms).
fn one_epoch(d: &Loaded, model: &str) -> (Vec<f64>, f64) {
    let k = d.tasks().len();
    let method = mtl_methods::find("uniform")
        .unwrap()
        .build(&serde_json::Value::Null, k)
        .unwrap();
    let train = TrainConfig {
        epochs: 1,
        lr: 2e-3,
        ..TrainConfig::default()
    };
    let spec = ModelSpec::parse(model).unwrap();
    let mut s = Session::new(d, &spec, method, &train, 0, &Device::Cpu).unwrap();
    let total = s.total_steps();
    s.train_steps(total, &mut || {}).unwrap();
    let run = s.finish().unwrap();
    let mut ms = run.step_ms.clone();
    ms.sort_by(f64::total_cmp);
    (run.test_metric, ms[ms.len() / 2])
}

#[test]
fn full_multi_fashion_trains_lenet() {
    if !enabled() {
        return;
    }
    let fashion = read_fashion_dir(&dir(
        "MTLBENCH_FASHION_DIR",
        "/usr/share/datasets/fashion-mnist",
    ))
    .unwrap();
    let right = fashion.clone();
    let config = MultiImageConfig::default();
    let data = multi_mnist::build_from(Items::Fashion, &config, fashion, &right).unwrap();
    let d = Loaded {
        id: "multi-fashion/local".into(),
        revision: "local".into(),
        tasks: vec![
            mtl_datasets::Task::classification("left", 10),
            mtl_datasets::Task::classification("right", 10),
        ],
        input_shape: vec![1, 28, 28],
        data,
        files: Vec::new(),
        split_seed: Some(0),
    };
    let (acc, ms) = one_epoch(&d, "lenet-m");
    println!("multi-fashion full, lenet-m, 1 epoch: test accuracy {acc:?}, median step {ms:.1} ms");
    assert!(acc.iter().all(|&a| a > 0.5), "{acc:?}");
}

#[test]
fn full_qm9_trains_an_mlp() {
    if !enabled() {
        return;
    }
    let molecules = qm9_csv::read_dir(&dir("MTLBENCH_QM9_DIR", "qm9pack/data")).unwrap();
    let d = qm9::build_from(&molecules, &Qm9Config::default(), Vec::new(), "local").unwrap();
    let (mae, ms) = one_epoch(&d, "mlp-m");
    println!("qm9-11, mlp-m, 1 epoch: test MAE (std units) {mae:.3?}, median step {ms:.2} ms");
    assert!(mae.iter().all(|&m| m < 0.8), "{mae:?}");
}
