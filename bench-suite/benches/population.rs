//! Three ways to train a population of P = 8 members of one architecture on CPU, timed for
//! one forward and backward pass of all members (issue 14, "populations"; the conclusions are
//! in `bench-suite/compare/results/search-side-by-side.md`):
//!
//! - `population/one-by-one/<h>`: the members one after another;
//! - `population/stacked/<h>`: one model with every parameter stacked along a member axis
//!   (candle's batched matrix products, one per layer for all members);
//! - `population/side-by-side/<h>`: the members in parallel on rayon's pool, as
//!   `SearchBackend::train_many` trains them.
//!
//! Each member is an MLP 784 → h → h with two 10-class heads and cross-entropy losses on a
//! batch of 256, built from candle's own ops (not mtlbench's fused CPU ops, which would only
//! favour the first and last variants). The thread count is rayon's (`RAYON_NUM_THREADS`).
//!
//! Run: `CANDLE_NUM_THREADS=1 cargo bench -p mtl-bench --bench population`.

use std::hint::black_box;

use candle_core::{DType, Device, Result, Tensor, Var, D};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

const MEMBERS: usize = 8;
const BATCH: usize = 256;
const INPUT: usize = 784;
const CLASSES: usize = 10;

/// Mean cross-entropy of `logits` (…, classes) against the labels `y` (…).
fn cross_entropy(logits: &Tensor, y: &Tensor) -> Result<Tensor> {
    let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    log_p
        .gather(&y.unsqueeze(D::Minus1)?, D::Minus1)?
        .neg()?
        .mean_all()
}

/// A variable of `shape` with small seeded uniform entries.
fn var(shape: &[usize], seed: u64) -> Var {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f32> = (0..shape.iter().product())
        .map(|_| rng.random_range(-0.05..0.05))
        .collect();
    Var::from_vec(values, shape, &Device::Cpu).expect("variable")
}

/// One member's forward and backward pass; `w` holds w1, b1, w2, b2 and the two heads. The
/// same code runs a stacked population, whose parameters carry a leading member axis.
fn pass(x: &Tensor, y: &Tensor, w: &[Var]) -> Result<()> {
    let t = |v: &Var| v.as_tensor().transpose(D::Minus2, D::Minus1);
    let z = x
        .broadcast_matmul(&t(&w[0])?)?
        .broadcast_add(&w[1])?
        .relu()?;
    let z = z.matmul(&t(&w[2])?)?.broadcast_add(&w[3])?.relu()?;
    let loss =
        (cross_entropy(&z.matmul(&t(&w[4])?)?, y)? + cross_entropy(&z.matmul(&t(&w[5])?)?, y)?)?;
    black_box(loss.backward()?);
    Ok(())
}

/// A member's parameters, with `lead` in front of every shape (empty for one member).
fn member(lead: &[usize], h: usize, seed: u64) -> Vec<Var> {
    let bias = if lead.is_empty() { vec![h] } else { vec![1, h] };
    [
        vec![h, INPUT],
        bias.clone(),
        vec![h, h],
        bias,
        vec![CLASSES, h],
        vec![CLASSES, h],
    ]
    .iter()
    .enumerate()
    .map(|(i, s)| var(&[lead, s].concat(), seed * 10 + i as u64))
    .collect()
}

fn bench_population(c: &mut Criterion) {
    let device = Device::Cpu;
    let x = var(&[BATCH, INPUT], 7).as_tensor().clone();
    let y = Tensor::zeros(BATCH, DType::U32, &device).expect("labels");
    let xs = x
        .unsqueeze(0)
        .and_then(|x| x.broadcast_as((MEMBERS, BATCH, INPUT)))
        .and_then(|x| x.contiguous())
        .expect("stacked inputs");
    let ys = Tensor::zeros((MEMBERS, BATCH), DType::U32, &device).expect("stacked labels");
    let mut group = c.benchmark_group("population");
    group.sample_size(20);
    for h in [64usize, 256] {
        let members: Vec<Vec<Var>> = (0..MEMBERS).map(|m| member(&[], h, m as u64)).collect();
        let stacked = member(&[MEMBERS], h, 99);
        group.bench_function(BenchmarkId::new("one-by-one", h), |b| {
            b.iter(|| {
                for w in &members {
                    pass(&x, &y, w).expect("pass");
                }
            })
        });
        group.bench_function(BenchmarkId::new("stacked", h), |b| {
            b.iter(|| pass(&xs, &ys, &stacked).expect("pass"))
        });
        group.bench_function(BenchmarkId::new("side-by-side", h), |b| {
            b.iter(|| {
                members
                    .par_iter()
                    .try_for_each(|w| pass(&x, &y, w))
                    .expect("pass")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_population);
criterion_main!(benches);
