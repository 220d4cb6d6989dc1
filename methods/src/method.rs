//! The method contract: what a method needs each step and what it answers.

use serde::{de::DeserializeOwned, Serialize};

use crate::{Gram, Result, Weights};

/// Whether one property of the shared property suite (`methods/tests/properties.rs`) holds for
/// a method, as the method declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Property {
    /// The suite checks it.
    Holds,
    /// It does not hold, by definition; the reason is shown when the suite skips the method.
    Exempt(&'static str),
}

/// How a method's weights respond to scaling the task gradients (losses unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleInvariance {
    /// The same weights when every gradient is multiplied by one factor c > 0.
    pub common: bool,
    /// The same weights when each task's gradient gets its own factor c_k > 0.
    pub per_task: bool,
}

impl ScaleInvariance {
    /// Invariant to both: weights that never look at the gradients.
    pub const FULL: Self = Self {
        common: true,
        per_task: true,
    };
}

/// Which per-task gradients a method needs before it can weight the losses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GradSource {
    /// No gradients: weights come from losses or state alone (one backward per step).
    None,
    /// Gradients w.r.t. the shared parameters θ (K backward passes through the encoder).
    Params,
    /// Gradients w.r.t. the shared representation z (one backward through the encoder).
    Representation,
}

/// What a method asks of the trainer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// Gradients to build the Gram matrix from.
    pub grads: GradSource,
}

/// Everything a method sees at one training step.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    /// Global step index, from 0.
    pub step: u64,
    /// Per-task training losses of this batch, task order.
    pub losses: &'a [f64],
    /// Gram matrix of per-task gradients, present iff `needs().grads != None`.
    pub gram: Option<&'a Gram>,
}

/// A method's answer for one step.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Task weights λ: the trainer back-propagates Σ λ_k L_k.
    Weights(Weights),
}

/// A configured, running method. Built from a [`MethodConfig`] for a fixed number of tasks.
pub trait Method: Send {
    /// What the trainer must compute before calling [`Method::step`].
    fn needs(&self) -> Needs;
    /// Called once before the first step with the number of steps the training will take
    /// (for methods whose behaviour depends on the schedule). Default: nothing.
    fn start(&mut self, total_steps: u64) {
        let _ = total_steps;
    }
    /// The update for this step.
    fn step(&mut self, input: &StepInput<'_>) -> Result<Update>;
    /// The tasks the method is about, `None` for all: only their validation losses select the
    /// checkpoint, and every other task must get weight 0. Single-task baselines answer their
    /// own task; a method that also needs no per-task gradients then pays nothing for the
    /// others: the trainer runs no head for them and does not encode input groups that feed
    /// none of its tasks (the other domains of a multi-domain batch), recording their training
    /// losses as 0.
    fn scored_tasks(&self) -> Option<Vec<usize>> {
        None
    }
    /// Serialisable state for resume; stateless methods return `null`.
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// A hyper-parameter as shown by `mtlbench list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamDoc {
    /// Field name in TOML and records.
    pub name: &'static str,
    /// Type and valid range, e.g. `"none | l2 | loss | loss+"`.
    pub kind: &'static str,
    /// One-line meaning.
    pub help: &'static str,
}

/// Typed hyper-parameters of one method (`serde(deny_unknown_fields)`), with defaults.
pub trait MethodConfig: Serialize + DeserializeOwned + Default + 'static {
    /// The documented hyper-parameters.
    fn params() -> &'static [ParamDoc];
    /// Range checks beyond what the types enforce; the message names the field.
    fn validate(&self) -> std::result::Result<(), String> {
        Ok(())
    }
    /// Builds the running method for `num_tasks` tasks. Search methods answer
    /// [`crate::Error::NeedsSearch`]: their weights come from [`MethodConfig::search`].
    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>>;
    /// The weight search to run before training, for methods whose fixed weights are
    /// searched (`tuned`, `autoscale` with a full exploration). Default: none.
    fn search(&self, num_tasks: usize) -> Result<Option<Box<dyn crate::search::WeightSearch>>> {
        let _ = num_tasks;
        Ok(None)
    }

    // What the shared property suite checks, declared by the method itself, so that a new
    // method is one file plus one registry line and the suite picks it up.

    /// Labelled hyper-parameter sets for K ≥ 1 tasks that together cover the method's
    /// behaviours; the first is its example. Default: the defaults alone.
    fn examples(num_tasks: usize) -> Vec<(String, serde_json::Value)> {
        let _ = num_tasks;
        vec![("defaults".to_owned(), serde_json::json!({}))]
    }
    /// Permuting the tasks (gradients and losses) permutes the weights. Default: holds.
    fn permutation_equivariant() -> Property {
        Property::Holds
    }
    /// Identical gradients and equal losses give the mean 1/K. Default: holds.
    fn mean_when_identical() -> Property {
        Property::Holds
    }
    /// How these weights respond to gradient scaling. Default: fully invariant, right for
    /// methods whose weights never look at the gradients; a gradient-based method declares
    /// its own (the suite fails it otherwise).
    fn scale_invariance(&self) -> ScaleInvariance {
        ScaleInvariance::FULL
    }
    /// The two-task weights of one step, written out from the paper's definition apart from
    /// the production code (its provenance in a comment), or why there is none (a search
    /// method, weights that depend on the run's history).
    fn two_task_reference(
        &self,
        gram: &Gram,
        losses: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str>;
}
