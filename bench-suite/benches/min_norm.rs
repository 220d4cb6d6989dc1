//! The min-norm solver and the Gram matrix it starts from (DESIGN.md §9).
//!
//! - `min_norm/<K>`: `solver::min_norm` on the Gram matrix of K seeded random gradients of
//!   dimension D = 1024 (standard normal plus a shared offset, so the gradients partly agree and
//!   the optimum lies inside a face, as in training). Only the solve is timed. A one-off
//!   timing of the exact active-set solve on similar inputs (uniform instead of normal draws)
//!   gave about 1 ms for K = 128 (90 major cycles, 91 active tasks) and 0.1 ms for K = 40;
//!   `reports/results/bench.md` still holds the replaced Frank–Wolfe loop's numbers.
//! - `gram/K=<K>/D=<D>`: `Gram::from_rows` on K rows of D `f32` entries.
//!
//! Run: `cargo bench -p mtl-bench --bench min_norm`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mtl_methods::solver::{min_norm, MinNormConfig};
use mtl_methods::Gram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// K gradient rows of length `d`: i.i.d. standard normal plus a shared offset of size 0.3.
fn gradients(k: usize, d: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let offset: Vec<f32> = (0..d)
        .map(|_| 0.3 * rng.sample::<f32, _>(StandardNormal))
        .collect();
    (0..k)
        .map(|_| {
            offset
                .iter()
                .map(|o| o + rng.sample::<f32, _>(StandardNormal))
                .collect()
        })
        .collect()
}

fn bench_min_norm(c: &mut Criterion) {
    const D: usize = 1024;
    let config = MinNormConfig::default();
    let mut group = c.benchmark_group("min_norm");
    for k in [2usize, 4, 8, 16, 40, 128] {
        let gram = Gram::from_rows(&gradients(k, D, k as u64));
        group.bench_with_input(BenchmarkId::from_parameter(k), &gram, |b, gram| {
            b.iter(|| min_norm(black_box(gram), black_box(&config)))
        });
    }
    group.finish();
}

fn bench_gram(c: &mut Criterion) {
    let mut group = c.benchmark_group("gram");
    for k in [2usize, 8, 40] {
        for d in [1024usize, 65536] {
            let rows = gradients(k, d, (k * d) as u64);
            group.throughput(Throughput::Elements((k * (k + 1) / 2 * d) as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("K={k}"), format!("D={d}")),
                &rows,
                |b, rows| b.iter(|| Gram::from_rows(black_box(rows))),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench_min_norm, bench_gram);
criterion_main!(benches);
