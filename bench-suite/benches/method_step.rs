//! Per-step cost of each method relative to `uniform` on the same model and batch.
//!
//! `cargo bench -p mtl-bench --bench method_step`; compare each method's time with
//! `uniform`'s in the same group. Every registered online method runs with its example
//! parameters; `tuned` and `autoscale` (full) train with fixed weights after their search,
//! which `fixed` measures. Methods on representation gradients add K head-only backward
//! passes; methods on parameter gradients K full ones.

use candle_core::Device;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mtl_bench::{ModelSpec, Session, TrainConfig};
use mtl_datasets::{Dataset, Split, SyntheticLinear, SyntheticLinearConfig};
use serde_json::json;

const TASKS: usize = 4;

fn method_step(c: &mut Criterion) {
    let data = SyntheticLinear::new(SyntheticLinearConfig {
        tasks: TASKS,
        dim: 64,
        train: 4096,
        val: 256,
        test: 256,
        ..Default::default()
    })
    .expect("valid dataset");
    let batch = data.batches(Split::Train, 256, 1, 0).remove(0);
    let train = TrainConfig {
        epochs: 1,
        batch_size: 256,
        ..Default::default()
    };
    // Every registered method with its example parameters; search methods train with fixed
    // weights after their search, which `fixed` measures. AutoScale's prefix variant is
    // measured after its exploration (10 % of 16 steps = 2 steps).
    let mut methods: Vec<(String, &str, serde_json::Value, u64)> = mtl_methods::METHODS
        .iter()
        .filter_map(|spec| {
            let (_, params) = spec.examples(TASKS).remove(0);
            match spec.search(&params, TASKS) {
                Ok(None) => Some((spec.name.to_owned(), spec.name, params, 0)),
                _ => None,
            }
        })
        .collect();
    methods.push((
        "autoscale-after-prefix".to_owned(),
        "autoscale",
        json!({"exploration": "prefix"}),
        2,
    ));
    for model in ["mlp-m", "mlp-xl"] {
        let spec = ModelSpec::parse(model).expect("valid model");
        let mut group = c.benchmark_group(format!("method_step/{model}"));
        for (label, name, params, warm_steps) in &methods {
            let method = mtl_methods::find(name)
                .and_then(|m| m.build(params, data.tasks().len()))
                .expect("valid method");
            let mut session =
                Session::new(&data, &spec, method, &train, 0, &Device::Cpu).expect("session");
            session
                .train_steps(*warm_steps, &mut || {})
                .expect("warm-up");
            group.bench_function(BenchmarkId::from_parameter(label.as_str()), |b| {
                b.iter(|| session.step_on(&batch).expect("step"))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, method_step);
criterion_main!(benches);
