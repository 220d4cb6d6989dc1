//! Column standardisation with training-split statistics, and seeded random splits.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Per-column mean and standard deviation of a row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    /// Column means.
    pub mean: Vec<f64>,
    /// Column standard deviations (1 where a column is constant).
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Statistics of the `dim`-column matrix `x` (population standard deviation).
    pub fn fit(x: &[f64], dim: usize) -> Self {
        let rows = (x.len() / dim.max(1)).max(1) as f64;
        let mut mean = vec![0.0; dim];
        for row in x.chunks(dim) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= rows);
        let mut var = vec![0.0; dim];
        for row in x.chunks(dim) {
            for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        let std = var
            .into_iter()
            .map(|s| (s / rows).sqrt())
            .map(|s| if s > 1e-12 { s } else { 1.0 })
            .collect();
        Self { mean, std }
    }

    /// `(x − mean) / std` column-wise, as f32.
    pub fn apply(&self, x: &[f64]) -> Vec<f32> {
        let dim = self.mean.len();
        x.iter()
            .enumerate()
            .map(|(i, v)| ((v - self.mean[i % dim]) / self.std[i % dim]) as f32)
            .collect()
    }
}

/// A seeded random partition of `0..n` into train/validation/test index lists of the given
/// sizes (each sorted, so data keeps file order within a split).
pub fn random_split(n: usize, val: usize, test: usize, seed: u64) -> [Vec<usize>; 3] {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let test_idx = order.split_off(n.saturating_sub(test));
    let val_idx = order.split_off(order.len().saturating_sub(val));
    [order, val_idx, test_idx].map(|mut v| {
        v.sort_unstable();
        v
    })
}

/// The rows at `indices` of a `dim`-column matrix.
pub fn rows(x: &[f64], dim: usize, indices: &[usize]) -> Vec<f64> {
    indices
        .iter()
        .flat_map(|&i| x[i * dim..(i + 1) * dim].iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardizes_with_fit_statistics() {
        let s = Standardizer::fit(&[1.0, 5.0, 3.0, 5.0], 2);
        assert_eq!(s.mean, [2.0, 5.0]);
        assert_eq!(s.std, [1.0, 1.0]);
        assert_eq!(s.apply(&[3.0, 7.0]), [1.0, 2.0]);
    }

    #[test]
    fn random_split_partitions_and_depends_on_seed() {
        let [a, b, c] = random_split(100, 10, 20, 3);
        assert_eq!((a.len(), b.len(), c.len()), (70, 10, 20));
        let mut all: Vec<usize> = a.iter().chain(&b).chain(&c).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(random_split(100, 10, 20, 3)[2], c);
        assert_ne!(random_split(100, 10, 20, 4)[2], c);
        assert_eq!(rows(&[0.0, 1.0, 2.0, 3.0], 2, &[1]), [2.0, 3.0]);
    }
}
