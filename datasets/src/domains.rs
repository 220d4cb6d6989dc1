//! Multi-domain data (Royer, Blankevoort & Ehteshami Bejnordi, NeurIPS 2023, "Scalarization
//! for Multi-Task and Multi-Domain Learning at Scale"): each domain has its own inputs and its
//! own tasks, all read by one shared encoder; a batch holds one input group per domain.
//!
//! Batch composition (every split alike): one pass over a split is S = ⌈N / batch_size⌉ steps,
//! N the rows summed over the domains. Each domain's n_d rows, in pass order, are cut into S
//! consecutive chunks, and step s takes rows ⌊s·n_d/S⌋..⌊(s+1)·n_d/S⌋ of every domain. So
//! - a step holds about `batch_size` rows, each domain's share proportional to its size;
//! - an epoch is exactly one pass over every domain: no domain runs out before another, none
//!   is repeated or cycled, and the step count is the ⌈N / batch_size⌉ that the trainer and the
//!   weight searches compute from [`crate::Dataset::split_len`];
//! - a task's loss is the mean over its own domain's rows of the step, so the composition
//!   changes the noise of that task's gradient, not its expectation: how much each domain
//!   counts is left to the task weights λ (and `max_train` can even out the domains' sizes).
//!
//! A domain with fewer rows than steps (only when `batch_size` < N / n_d) gives step s its
//! single row ⌊s·n_d/S⌋, so such rows repeat within the pass and every step still feeds every
//! task. Training orders are shuffled per domain, the domains in order, by the one ChaCha8
//! stream of (seed, epoch) that single-domain data uses ([`crate::tabular::epoch_rng`]);
//! validation and test rows keep their order.

use std::ops::Range;

use crate::formats::FormatError;
use crate::loaded::SplitData;
use crate::tabular::{epoch_rng, pass_order, TabularData};
use crate::{Batch, Result, Split};

/// One domain: its inputs and the targets of its tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    /// Name, for error messages.
    pub name: String,
    /// The three splits; target column j belongs to task `tasks[j]`.
    pub data: TabularData,
    /// The dataset's task index of each target column, increasing.
    pub tasks: Vec<usize>,
}

/// Several domains through one encoder, batched as the module documents.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainData {
    domains: Vec<Domain>,
}

impl DomainData {
    /// Checks and joins `domains` of dataset `dataset` with `num_tasks` tasks: every split of
    /// every domain has rows, all inputs have one width, and each task is fed by exactly one
    /// domain, in increasing order within it.
    pub fn new(dataset: &str, domains: Vec<Domain>, num_tasks: usize) -> Result<Self> {
        let invalid = |d: &Domain, location: &str, expected: String, found: String| {
            FormatError::invalid(
                &format!("{dataset} domain `{}`", d.name),
                location,
                expected,
                found,
            )
        };
        let mut owner = vec![None; num_tasks];
        for d in &domains {
            for split in [Split::Train, Split::Val, Split::Test] {
                let s = d.data.split(split);
                if s.rows() == 0 {
                    let name = format!("{split:?} split").to_lowercase();
                    return Err(invalid(d, &name, "at least one row".into(), "none".into()).into());
                }
                if s.dim != domains[0].data.split(split).dim {
                    return Err(invalid(
                        d,
                        "input width",
                        domains[0].data.split(split).dim.to_string(),
                        s.dim.to_string(),
                    )
                    .into());
                }
                if s.targets.len() != d.tasks.len() {
                    return Err(invalid(
                        d,
                        "target columns",
                        format!("one per task, {}", d.tasks.len()),
                        s.targets.len().to_string(),
                    )
                    .into());
                }
            }
            if d.tasks.windows(2).any(|w| w[0] >= w[1]) {
                return Err(invalid(
                    d,
                    "tasks",
                    "increasing task indices".into(),
                    format!("{:?}", d.tasks),
                )
                .into());
            }
            for &t in &d.tasks {
                match owner.get_mut(t) {
                    Some(slot @ None) => *slot = Some(&d.name),
                    _ => {
                        return Err(invalid(
                            d,
                            "tasks",
                            format!("tasks in 0..{num_tasks}, each fed by one domain"),
                            format!("task {t}"),
                        )
                        .into())
                    }
                }
            }
        }
        if let Some(t) = owner.iter().position(Option::is_none) {
            return Err(FormatError::invalid(
                dataset,
                "domains",
                "a domain for every task",
                format!("none for task {t}"),
            )
            .into());
        }
        Ok(Self { domains })
    }

    /// The domains, in batch-group order.
    pub fn domains(&self) -> &[Domain] {
        &self.domains
    }
}

/// The rows (positions in pass order) that step `step` of `steps` takes from a domain of `n`
/// rows: ⌊s·n/S⌋..⌊(s+1)·n/S⌋, at least one row.
pub fn chunk(n: usize, steps: usize, step: usize) -> Range<usize> {
    let lo = step * n / steps;
    lo..((step + 1) * n / steps).max(lo + 1)
}

impl SplitData for DomainData {
    fn split_len(&self, split: Split) -> usize {
        self.domains
            .iter()
            .map(|d| d.data.split(split).rows())
            .sum()
    }

    fn batches(&self, split: Split, batch_size: usize, epoch: usize, seed: u64) -> Vec<Batch> {
        let mut rng = epoch_rng(seed, epoch);
        let orders: Vec<Vec<usize>> = self
            .domains
            .iter()
            .map(|d| pass_order(d.data.split(split).rows(), split, &mut rng))
            .collect();
        let steps = self.split_len(split).div_ceil(batch_size.max(1));
        (0..steps)
            .map(|s| Batch {
                groups: self
                    .domains
                    .iter()
                    .zip(&orders)
                    .map(|(d, order)| {
                        let mut group = d
                            .data
                            .split(split)
                            .gather(&order[chunk(order.len(), steps, s)]);
                        for (task, _) in &mut group.targets {
                            *task = d.tasks[*task];
                        }
                        group
                    })
                    .collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tabular::TabularSplit;
    use crate::Targets;

    /// A domain whose row i has input `[base + i]` and label `base + i`, feeding `tasks`.
    fn domain(name: &str, base: u32, rows: [usize; 3], tasks: Vec<usize>) -> Domain {
        let split = |n: usize| TabularSplit {
            x: (0..n).map(|i| (base as usize + i) as f32).collect(),
            dim: 1,
            targets: tasks
                .iter()
                .map(|_| Targets::Labels((0..n as u32).map(|i| base + i).collect()))
                .collect(),
        };
        Domain {
            name: name.into(),
            data: TabularData {
                splits: rows.map(split),
            },
            tasks,
        }
    }

    fn two(train: [usize; 2]) -> DomainData {
        DomainData::new(
            "test",
            vec![
                domain("a", 0, [train[0], 3, 2], vec![0]),
                domain("b", 1000, [train[1], 5, 4], vec![1]),
            ],
            2,
        )
        .unwrap()
    }

    /// Labels of task `t` over all batches, batch order.
    fn labels(batches: &[Batch], t: usize) -> Vec<u32> {
        batches
            .iter()
            .flat_map(|b| b.groups.iter().flat_map(|g| g.targets.iter()))
            .filter(|(task, _)| *task == t)
            .flat_map(|(_, y)| match y {
                Targets::Labels(v) => v.clone(),
                Targets::Real(_) => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn an_epoch_is_one_pass_over_every_domain_in_proportional_steps() {
        let d = two([30, 90]);
        assert_eq!(d.split_len(Split::Train), 120);
        let batches = d.batches(Split::Train, 16, 1, 7);
        assert_eq!(
            batches.len(),
            120usize.div_ceil(16),
            "the trainer's step count"
        );
        for b in &batches {
            assert_eq!(b.groups.len(), 2, "every step feeds both domains");
            let (na, nb) = (b.groups[0].rows, b.groups[1].rows);
            assert!(
                (3..=4).contains(&na) && (11..=12).contains(&nb),
                "{na} {nb}"
            );
            assert_eq!(b.groups[0].targets[0].0, 0);
            assert_eq!(b.groups[1].targets[0].0, 1);
            // Inputs and targets stay aligned.
            let Targets::Labels(y) = &b.groups[1].targets[0].1 else {
                unreachable!()
            };
            let x: Vec<u32> = b.groups[1].x.iter().map(|&v| v as u32).collect();
            assert_eq!(&x, y);
        }
        for (t, n, base) in [(0, 30, 0), (1, 90, 1000)] {
            let mut seen = labels(&batches, t);
            seen.sort_unstable();
            assert_eq!(seen, (base..base + n).collect::<Vec<_>>(), "task {t}");
        }
    }

    #[test]
    fn training_order_is_seeded_per_epoch_and_other_splits_are_fixed() {
        let d = two([30, 90]);
        let a = d.batches(Split::Train, 16, 1, 7);
        assert_eq!(a, d.batches(Split::Train, 16, 1, 7));
        assert_ne!(labels(&a, 1), labels(&d.batches(Split::Train, 16, 2, 7), 1));
        assert_ne!(labels(&a, 0), labels(&d.batches(Split::Train, 16, 1, 8), 0));
        let val = d.batches(Split::Val, 3, 4, 9);
        assert_eq!(val, d.batches(Split::Val, 3, 0, 0));
        assert_eq!(labels(&val, 0), vec![0, 1, 2]);
        assert_eq!(labels(&val, 1), vec![1000, 1001, 1002, 1003, 1004]);
        assert_eq!(val.len(), 3);
    }

    #[test]
    fn a_domain_smaller_than_the_step_count_still_feeds_every_step() {
        let d = two([3, 90]);
        let batches = d.batches(Split::Train, 8, 0, 0);
        assert_eq!(batches.len(), 93usize.div_ceil(8));
        assert!(batches.iter().all(|b| b.groups[0].rows == 1));
        let mut seen = labels(&batches, 0);
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, vec![0, 1, 2], "every row still appears");
        assert_eq!(chunk(3, 12, 11), 2..3);
        assert_eq!(chunk(90, 12, 0), 0..7);
        assert_eq!(chunk(90, 12, 11), 82..90);
    }

    #[test]
    fn malformed_domains_are_refused_with_the_reason() {
        let err = |domains: Vec<Domain>, k: usize| {
            DomainData::new("ds", domains, k).unwrap_err().to_string()
        };
        let e = err(
            vec![
                domain("a", 0, [4, 0, 2], vec![0]),
                domain("b", 9, [4, 1, 2], vec![1]),
            ],
            2,
        );
        assert!(e.contains("domain `a`") && e.contains("val split"), "{e}");
        let e = err(
            vec![
                domain("a", 0, [4, 1, 2], vec![0]),
                domain("b", 9, [4, 1, 2], vec![0]),
            ],
            2,
        );
        assert!(e.contains("domain `b`") && e.contains("task 0"), "{e}");
        let e = err(vec![domain("a", 0, [4, 1, 2], vec![0])], 2);
        assert!(e.contains("none for task 1"), "{e}");
    }
}
