//! In-memory multi-task data: one input matrix per split with every task's targets, and the
//! deterministic batching shared by all single-domain datasets.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::loaded::SplitData;
use crate::{Batch, InputGroup, Split, Targets};

/// One split: `rows × dim` inputs and one target column per task.
#[derive(Debug, Clone, PartialEq)]
pub struct TabularSplit {
    /// Row-major inputs.
    pub x: Vec<f32>,
    /// Input width.
    pub dim: usize,
    /// Targets per task, each with one entry per row.
    pub targets: Vec<Targets>,
}

impl TabularSplit {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.x.len() / self.dim.max(1)
    }

    /// The rows at `indices` as one input group feeding every task.
    pub fn gather(&self, indices: &[usize]) -> InputGroup {
        let mut x = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            x.extend_from_slice(&self.x[i * self.dim..(i + 1) * self.dim]);
        }
        let targets = self
            .targets
            .iter()
            .enumerate()
            .map(|(k, t)| {
                let picked = match t {
                    Targets::Real(v) => Targets::Real(indices.iter().map(|&i| v[i]).collect()),
                    Targets::Labels(v) => Targets::Labels(indices.iter().map(|&i| v[i]).collect()),
                };
                (k, picked)
            })
            .collect();
        InputGroup {
            x,
            rows: indices.len(),
            targets,
        }
    }
}

/// Train, validation and test splits of one multi-task dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct TabularData {
    /// The splits, in [`Split`] order.
    pub splits: [TabularSplit; 3],
}

impl TabularData {
    /// The split's data.
    pub fn split(&self, split: Split) -> &TabularSplit {
        &self.splits[split as usize]
    }
}

/// The ChaCha8 stream that shuffles training epoch `epoch` under run seed `seed`.
pub fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64);
    rng
}

/// The row order of one pass over a split of `rows` rows: training rows shuffled by `rng`,
/// validation and test rows in order (`rng` untouched).
pub fn pass_order(rows: usize, split: Split, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rows).collect();
    if split == Split::Train {
        order.shuffle(rng);
    }
    order
}

impl SplitData for TabularData {
    fn split_len(&self, split: Split) -> usize {
        self.split(split).rows()
    }

    /// Batches of `batch_size` rows (the last may be smaller), one input group each. Training
    /// rows are shuffled by [`epoch_rng`]; other splits keep their order.
    fn batches(&self, split: Split, batch_size: usize, epoch: usize, seed: u64) -> Vec<Batch> {
        let data = self.split(split);
        pass_order(data.rows(), split, &mut epoch_rng(seed, epoch))
            .chunks(batch_size.max(1))
            .map(|idx| Batch {
                groups: vec![data.gather(idx)],
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> TabularData {
        let split = |n: usize| TabularSplit {
            x: (0..n * 2).map(|v| v as f32).collect(),
            dim: 2,
            targets: vec![Targets::Real((0..n).map(|v| v as f32).collect())],
        };
        TabularData {
            splits: [split(10), split(4), split(4)],
        }
    }

    #[test]
    fn train_batches_are_a_seeded_permutation() {
        let d = data();
        let rows = |bs: Vec<Batch>| -> Vec<f32> {
            bs.iter()
                .flat_map(|b| match &b.groups[0].targets[0].1 {
                    Targets::Real(v) => v.clone(),
                    Targets::Labels(_) => unreachable!(),
                })
                .collect()
        };
        let a = rows(d.batches(Split::Train, 3, 0, 7));
        assert_eq!(a, rows(d.batches(Split::Train, 3, 0, 7)));
        assert_ne!(a, rows(d.batches(Split::Train, 3, 1, 7)));
        assert_ne!(a, rows(d.batches(Split::Train, 3, 0, 8)));
        let mut sorted = a.clone();
        sorted.sort_by(f32::total_cmp);
        assert_eq!(sorted, (0..10).map(|v| v as f32).collect::<Vec<_>>());
        assert_eq!(d.batches(Split::Train, 3, 0, 7).len(), 4);
    }

    #[test]
    fn gather_keeps_inputs_and_targets_aligned() {
        let d = data();
        let g = d.split(Split::Val).gather(&[3, 1]);
        assert_eq!(g.x, vec![6.0, 7.0, 2.0, 3.0]);
        assert_eq!(g.targets[0].1, Targets::Real(vec![3.0, 1.0]));
    }
}
