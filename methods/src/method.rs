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
    /// Invariant to neither (a direction, or weights that scale with 1/‖g‖).
    pub const NONE: Self = Self {
        common: false,
        per_task: false,
    };
}

/// Which per-task gradients a method needs before it can answer a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GradSource {
    /// No gradients: weights come from losses or state alone (one backward per step).
    None,
    /// Gradients w.r.t. the shared parameters θ (K backward passes through the encoder).
    Params,
    /// Gradients w.r.t. the shared representation z (one backward through the encoder).
    Representation,
    /// Gradients w.r.t. the parameters of the encoder's last layer only (GradNorm's choice);
    /// the trainer still runs K backward passes through the encoder, since one pass cannot
    /// stop early, but the Gram matrix and rows cover that layer alone.
    LastSharedLayer,
}

/// What a method asks of the trainer at one step. Asked again before every step, so a method
/// that refreshes its weights only every n steps (Nash-MTL's `update_weights_every`) or only
/// while it measures (AutoScale's prefix) asks for gradients on those steps alone and pays
/// nothing on the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// Gradients to build the Gram matrix from.
    pub grads: GradSource,
    /// The per-task gradient rows themselves, not only their Gram matrix (a per-coordinate
    /// rule such as GradDrop's). Only with a gradient source.
    pub rows: bool,
    /// The per-task losses of the same batch again after the optimiser step, handed to
    /// [`Method::after_step`] (FAMO): one more forward pass, no backward.
    pub after_step: bool,
}

impl Needs {
    /// Gradients from `grads`, nothing else.
    pub const fn grads(grads: GradSource) -> Self {
        Self {
            grads,
            rows: false,
            after_step: false,
        }
    }
}

/// What a method learns about its run before the first step ([`Method::start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunInfo {
    /// Steps the training will take from here.
    pub total_steps: u64,
    /// Steps in one epoch ([`Method::end_epoch`] is called after each).
    pub steps_per_epoch: u64,
    /// The run's seed, for methods that draw (PCGrad's task order, RLW's weights); a method
    /// derives its own stream from it, so its draws never shift the trainer's.
    pub seed: u64,
}

impl RunInfo {
    /// A run of `total_steps` steps in one epoch, seed 0 (tests and benches).
    pub const fn steps(total_steps: u64) -> Self {
        Self {
            total_steps,
            steps_per_epoch: total_steps,
            seed: 0,
        }
    }
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
    /// The per-task gradients themselves (one row per task), present iff `needs().rows`.
    pub rows: Option<&'a [Vec<f32>]>,
}

impl<'a> StepInput<'a> {
    /// Step `step` with `losses` and, if the method asked for gradients, their Gram matrix.
    pub const fn new(step: u64, losses: &'a [f64], gram: Option<&'a Gram>) -> Self {
        Self {
            step,
            losses,
            gram,
            rows: None,
        }
    }
}

/// A method's answer for one step.
///
/// Each variant fixes what the shared parameters receive; what the task heads receive is the
/// method's declared [`HeadScaling`].
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Task weights λ on the simplex: the shared parameters get Σ λ_k g_k, the gradient of
    /// Σ λ_k L_k.
    Weights(Weights),
    /// Loss weights w off the simplex (any finite values: UW, DWA, IMTL-L, GLS): the shared
    /// parameters get Σ w_k g_k, the gradient of Σ w_k L_k.
    FreeWeights(Vec<f64>),
    /// Coefficients c of a combination of the task gradients, computed from their Gram matrix
    /// (PCGrad, CAGrad, UPGrad, IMTL-G, …; any sign): the shared parameters get Σ c_k g_k.
    /// Only for a method with a gradient source.
    Combination(Vec<f64>),
    /// The shared update itself, coordinate by coordinate, in the space of the method's
    /// gradient rows (GradDrop): pushed back through the encoder for `Representation`, applied
    /// as is for `Params`. Only for a method that asks for the rows.
    Direction(Vec<f32>),
}

impl Update {
    /// The per-task coefficients of the update (weights or combination); `None` for a
    /// direction.
    pub fn coefficients(&self) -> Option<&[f64]> {
        match self {
            Update::Weights(w) => Some(w.as_slice()),
            Update::FreeWeights(c) | Update::Combination(c) => Some(c),
            Update::Direction(_) => None,
        }
    }

    /// The simplex weights, if the update is [`Update::Weights`].
    pub fn into_weights(self) -> Option<Weights> {
        match self {
            Update::Weights(w) => Some(w),
            _ => None,
        }
    }
}

/// The kind of a method's [`Update`], declared up front for `mtlbench list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    /// [`Update::Weights`].
    Weights,
    /// [`Update::FreeWeights`].
    FreeWeights,
    /// [`Update::Combination`].
    Combination,
    /// [`Update::Direction`].
    Direction,
}

impl UpdateKind {
    /// What the shared parameters receive, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            UpdateKind::Weights => "simplex weights",
            UpdateKind::FreeWeights => "free loss weights",
            UpdateKind::Combination => "gradient combination",
            UpdateKind::Direction => "per-coordinate direction",
        }
    }
}

/// What each task's head (its own parameters) receives from an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadScaling {
    /// Head k gets c_k ∇L_k, its task's gradient times the task's coefficient: what
    /// back-propagating the weighted loss Σ c_k L_k gives (loss weighting; Sener & Koltun's
    /// MGDA code). A task whose coefficient is 0 trains no head that step.
    #[default]
    Weighted,
    /// Head k gets its own gradient ∇L_k unscaled, whatever the shared update: the rule of
    /// methods whose combination concerns the shared parameters only (gradient surgery; MGDA's
    /// Algorithm 2 in the paper). Every head trains at every step.
    Own,
}

impl HeadScaling {
    /// The rule in a few words, as `mtlbench list` shows it.
    pub fn describe(self) -> &'static str {
        match self {
            HeadScaling::Weighted => "weighted (head k gets c_k ∇L_k)",
            HeadScaling::Own => "own (head k gets ∇L_k)",
        }
    }

    /// True for [`HeadScaling::Weighted`] (configurations leave the default out of their JSON).
    pub fn is_weighted(&self) -> bool {
        *self == HeadScaling::Weighted
    }

    /// The factor head `task`'s gradient gets under coefficients `c` (1 for [`HeadScaling::Own`]).
    pub fn factor(self, c: &[f64], task: usize) -> f64 {
        match self {
            HeadScaling::Weighted => c[task],
            HeadScaling::Own => 1.0,
        }
    }
}

/// A configured, running method. Built from a [`MethodConfig`] for a fixed number of tasks.
pub trait Method: Send {
    /// What the trainer must compute before calling [`Method::step`] (asked before every step).
    fn needs(&self) -> Needs;
    /// Called once before the first step with the run's length, epoch size and seed (for
    /// methods whose behaviour depends on the schedule or that draw). Default: nothing.
    fn start(&mut self, run: &RunInfo) {
        let _ = run;
    }
    /// The update for this step.
    fn step(&mut self, input: &StepInput<'_>) -> Result<Update>;
    /// The per-task losses of the step's batch after the optimiser step, when
    /// [`Needs::after_step`] asked for them. Default: nothing.
    fn after_step(&mut self, losses: &[f64]) -> Result<()> {
        let _ = losses;
        Ok(())
    }
    /// Called after each epoch with its mean training loss per task (DWA). Default: nothing.
    fn end_epoch(&mut self, epoch: usize, mean_losses: &[f64]) {
        let _ = (epoch, mean_losses);
    }
    /// What the task heads receive from an update. Default: [`HeadScaling::Weighted`].
    fn head_scaling(&self) -> HeadScaling {
        HeadScaling::Weighted
    }
    /// Trainable parameters the method owns (UW's log-variances), trained by the run's
    /// optimiser from [`Method::parameter_grads`] after every step; they are part of its
    /// [`Method::state`]. Default: none.
    fn parameters(&self) -> Vec<f64> {
        Vec::new()
    }
    /// The gradient of the method's own objective w.r.t. [`Method::parameters`] at the last
    /// step. Default: none.
    fn parameter_grads(&self) -> Vec<f64> {
        Vec::new()
    }
    /// Sets the owned parameters after the optimiser updated them. Default: nothing.
    fn set_parameters(&mut self, values: &[f64]) {
        let _ = values;
    }
    /// The tasks the method is about, `None` for all: only their validation losses select the
    /// checkpoint, and every other task must get weight 0. Single-task baselines answer their
    /// own task; a method that also needs no per-task gradients then pays nothing for the
    /// others: the trainer runs no head for them and does not encode input groups that feed
    /// none of its tasks (the other domains of a multi-domain batch), recording their training
    /// losses as 0.
    fn scored_tasks(&self) -> Option<Vec<usize>> {
        None
    }
    /// Serialisable state, enough for [`Method::restore`] to continue the run exactly;
    /// stateless methods return `null`.
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// What the run's record shows of the final state. Default: [`Method::state`]; a method
    /// whose state holds gradient-sized buffers shows a summary instead.
    fn record_state(&self) -> serde_json::Value {
        self.state()
    }
    /// Continues from a [`Method::state`] of the same configuration. Default: accepts only
    /// `null` (a stateless method).
    fn restore(&mut self, state: &serde_json::Value) -> Result<()> {
        match state {
            serde_json::Value::Null => Ok(()),
            other => Err(crate::Error::InvalidState {
                message: format!("a stateless method has no state to restore, got {other}"),
            }),
        }
    }
}

/// Typed state of a stateful method: [`Method::state`] and [`Method::restore`] through serde.
pub fn typed_state<S: Serialize>(state: &S) -> serde_json::Value {
    serde_json::to_value(state).expect("method state serialises to JSON")
}

/// Parses a [`Method::state`] written by [`typed_state`].
pub fn parse_state<S: DeserializeOwned>(state: &serde_json::Value) -> Result<S> {
    serde_json::from_value(state.clone()).map_err(|e| crate::Error::InvalidState {
        message: e.to_string(),
    })
}

/// Parses a [`Method::state`] and checks that it `fits` the method; otherwise the error says
/// what the method keeps (`keeps`, e.g. "uw keeps 3 log-variances").
pub fn restore_state<S: DeserializeOwned>(
    state: &serde_json::Value,
    fits: impl FnOnce(&S) -> bool,
    keeps: impl FnOnce() -> String,
) -> Result<S> {
    let parsed: S = parse_state(state)?;
    if fits(&parsed) {
        Ok(parsed)
    } else {
        Err(crate::Error::InvalidState { message: keeps() })
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
    /// The configuration that trains task `task` alone, for the method that is the Δm%
    /// baseline (`stl`); `None` for every other method. Sweeps with `stl = true` add one such
    /// run per task through this hook, not by name.
    fn single_task_baseline(task: usize) -> Option<Self> {
        let _ = task;
        None
    }
    /// What the method's updates are, for `mtlbench list` and the property suite (simplex
    /// weights are checked on the simplex). Default: [`UpdateKind::Weights`].
    fn update_kind() -> UpdateKind {
        UpdateKind::Weights
    }
    /// What the task heads receive under this configuration; the built method must answer
    /// the same from [`Method::head_scaling`]. Default: [`HeadScaling::Weighted`].
    fn head_scaling(&self) -> HeadScaling {
        HeadScaling::Weighted
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
    fn permutation_equivariant(&self) -> Property {
        Property::Holds
    }
    /// Identical gradients and equal losses give the mean 1/K. Default: holds.
    fn mean_when_identical(&self) -> Property {
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
