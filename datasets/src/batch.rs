//! Batches: one or more input groups, each with the targets of the tasks it feeds.

/// A dataset split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    /// Training data.
    Train,
    /// Validation data (model selection).
    Val,
    /// Test data (reported metrics).
    Test,
}

/// Targets of one task for the rows of an input group.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// One real value per row (regression).
    Real(Vec<f32>),
    /// One label per row (classification and binary).
    Labels(Vec<u32>),
}

impl Targets {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Targets::Real(v) => v.len(),
            Targets::Labels(v) => v.len(),
        }
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Rows of input that go through the encoder together, with the targets of the tasks read
/// from them. Multi-task data: one group, every task. Multi-domain data: one group per domain.
#[derive(Debug, Clone, PartialEq)]
pub struct InputGroup {
    /// Row-major inputs, `rows × input_dim`.
    pub x: Vec<f32>,
    /// Number of rows.
    pub rows: usize,
    /// (task index, targets) for each task this group feeds, by increasing task index.
    pub targets: Vec<(usize, Targets)>,
}

impl InputGroup {
    /// Whether this group feeds any of `tasks`.
    pub fn feeds_any(&self, tasks: &[usize]) -> bool {
        self.targets.iter().any(|(t, _)| tasks.contains(t))
    }
}

/// One step's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Input groups; every task appears in exactly one group.
    pub groups: Vec<InputGroup>,
}

impl Batch {
    /// The batch with only the targets of `tasks`, without the input groups left with none (a
    /// single-task run on multi-domain data need not encode the other domains).
    pub fn restricted_to(&self, tasks: &[usize]) -> Batch {
        Batch {
            groups: self
                .groups
                .iter()
                .filter(|g| g.feeds_any(tasks))
                .map(|g| InputGroup {
                    x: g.x.clone(),
                    rows: g.rows,
                    targets: g
                        .targets
                        .iter()
                        .filter(|(t, _)| tasks.contains(t))
                        .cloned()
                        .collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restriction_keeps_the_groups_and_targets_of_the_tasks_asked_for() {
        let group = |x: f32, tasks: &[usize]| InputGroup {
            x: vec![x],
            rows: 1,
            targets: tasks
                .iter()
                .map(|&t| (t, Targets::Labels(vec![t as u32])))
                .collect(),
        };
        let b = Batch {
            groups: vec![group(0.0, &[0]), group(1.0, &[1, 2])],
        };
        assert_eq!(b.restricted_to(&[0, 1, 2]), b);
        assert_eq!(
            b.restricted_to(&[2]),
            Batch {
                groups: vec![group(1.0, &[2])]
            }
        );
        assert_eq!(
            b.restricted_to(&[0]),
            Batch {
                groups: vec![group(0.0, &[0])]
            }
        );
    }
}
