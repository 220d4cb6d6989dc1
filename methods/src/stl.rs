//! Single-task learning: train one task alone, the baseline of Δm%.
//!
//! Same encoder, head, data, seed and schedule as the multi-task runs, with weights e_k (the
//! encoder and head k see only task k's gradient) and checkpoint selection on task k's
//! validation loss alone. Sweeps run one `stl` cell per task, model and seed (`stl = true`,
//! the default), and every multi-task record lists the ids of its baselines, so Δm% is computed
//! from runs of the same pipeline, never from typed-in numbers (Maninis et al., CVPR 2019;
//! Vandenhende et al., TPAMI 2021, for Δm).
//!
//! On multi-domain data the baseline of a task sees exactly its domain's rows of each batch
//! of the multi-task runs (same steps, same rows), and the trainer neither encodes the other
//! domains nor runs the other heads (see [`Method::scored_tasks`]); the record's training
//! losses of the other tasks are 0 (not computed), their validation and test values those of
//! untrained heads.
//!
//! Hyper-parameters: `task` (index from 0, required in effect: default 0). Cost: one backward
//! pass per step, over the trained task's rows only; K runs per baseline.

use serde::{Deserialize, Serialize};

use serde_json::{json, Value};

use crate::method::{Method, MethodConfig, Needs, ParamDoc, Property, StepInput, Update};
use crate::uniform::FixedWeights;
use crate::{Error, Gram, Result, Weights};

/// Hyper-parameters of `stl`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StlConfig {
    /// The task trained, by index from 0.
    pub task: usize,
}

impl MethodConfig for StlConfig {
    fn single_task_baseline(task: usize) -> Option<Self> {
        Some(Self { task })
    }

    fn params() -> &'static [ParamDoc] {
        &[ParamDoc {
            name: "task",
            kind: "integer in 0..K",
            help: "the task trained alone, by index",
        }]
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        if self.task >= num_tasks {
            return Err(Error::InvalidConfig {
                method: "stl".into(),
                message: format!(
                    "field `task` is {} but the dataset has tasks 0..{num_tasks}",
                    self.task
                ),
            });
        }
        let mut one_hot = vec![0.0; num_tasks];
        one_hot[self.task] = 1.0;
        Ok(Box::new(SingleTask {
            task: self.task,
            weights: FixedWeights::new(Weights::simplex(one_hot)?),
        }))
    }

    /// The last task, so that "always task 0" would not pass unnoticed.
    fn examples(num_tasks: usize) -> Vec<(String, Value)> {
        let last = num_tasks.saturating_sub(1);
        vec![(format!("task {last}"), json!({ "task": last }))]
    }

    fn permutation_equivariant(&self) -> Property {
        Property::Exempt("it trains the task at index `task`, a position by definition")
    }

    fn mean_when_identical(&self) -> Property {
        Property::Exempt("all weight is on one task by definition")
    }

    /// e_task.
    fn two_task_reference(
        &self,
        _: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Ok((0..2)
            .map(|i| f64::from(u8::from(i == self.task)))
            .collect())
    }
}

/// Weights e_k, scored on task k alone.
struct SingleTask {
    task: usize,
    weights: FixedWeights,
}

impl Method for SingleTask {
    fn needs(&self) -> Needs {
        self.weights.needs()
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        self.weights.step(input)
    }

    fn scored_tasks(&self) -> Option<Vec<usize>> {
        Some(vec![self.task])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trains_and_scores_only_its_task() {
        let mut m = StlConfig { task: 1 }.build(3).unwrap();
        let w = m
            .step(&StepInput::new(0, &[1.0, 2.0, 3.0], None))
            .unwrap()
            .into_weights()
            .unwrap();
        assert_eq!(w.as_slice(), &[0.0, 1.0, 0.0]);
        assert_eq!(m.scored_tasks(), Some(vec![1]));
        assert!(StlConfig { task: 3 }
            .build(3)
            .err()
            .unwrap()
            .to_string()
            .contains("task"));
    }
}
