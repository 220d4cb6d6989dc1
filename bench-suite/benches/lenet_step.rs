//! MultiLeNet on CPU: one training step and one evaluation pass, per encoder width.
//!
//! `cargo bench -p mtl-bench --bench lenet_step`. The step is `uniform`'s forward, backward
//! and Adam update on a batch of 256 MultiFashion images (the subset shipped in the
//! repository); the evaluation encodes 512 images, the chunk the model encodes at once.
//! Both go through the fused convolution stages (`conv_ops`).

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mtl_bench::{ModelSpec, Session, TrainConfig};
use mtl_datasets::Split;
use serde_json::json;

fn lenet_step(c: &mut Criterion) {
    let data = mtl_datasets::find("multi-fashion")
        .and_then(|spec| spec.build(&json!({"source": "subset"})))
        .expect("the shipped subset");
    let batch = data.batches(Split::Train, 256, 1, 0).remove(0);
    let group = &batch.groups[0];
    let eval_rows = 512.min(group.rows);
    let width = group.x.len() / group.rows;
    let images = Tensor::from_slice(
        &group.x[..eval_rows * width],
        (eval_rows, width),
        &Device::Cpu,
    )
    .expect("images");
    let train = TrainConfig {
        epochs: 1,
        batch_size: 256,
        ..Default::default()
    };
    let mut steps = c.benchmark_group("lenet_step");
    for model in ["lenet-xs", "lenet-s", "lenet-m", "lenet-l"] {
        let spec = ModelSpec::parse(model).expect("valid model");
        let method = mtl_methods::find("uniform")
            .and_then(|m| m.build(&json!({}), data.tasks().len()))
            .expect("uniform");
        let mut session =
            Session::new(data.as_ref(), &spec, method, &train, 0, &Device::Cpu).expect("session");
        steps.bench_function(BenchmarkId::new("train", model), |b| {
            b.iter(|| session.step_on(&batch).expect("step"))
        });
        steps.bench_function(BenchmarkId::new("encode", model), |b| {
            b.iter(|| session.model().encode(&images).expect("encode"))
        });
    }
    steps.finish();
}

criterion_group!(benches, lenet_step);
criterion_main!(benches);
