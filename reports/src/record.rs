//! The run record: one JSON file per finished run (DESIGN.md §6).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Version of the record layout; bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 2;

/// Everything known about one finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// [`SCHEMA_VERSION`] at write time.
    pub schema_version: u32,
    /// Hash of the canonical cell configuration (dataset, model, method, training, seed).
    pub cell_id: String,
    /// Software and machine that produced the run.
    pub stamp: Stamp,
    /// Dataset identity and its tasks.
    pub dataset: DatasetInfo,
    /// Method name and full configuration (defaults filled in).
    pub method: MethodInfo,
    /// Model architecture and size.
    pub model: ModelInfo,
    /// Training configuration (optimiser, learning rate, epochs, batch size, selection rule).
    pub train: Value,
    /// The run's seed.
    pub seed: u64,
    /// Whether the run completed.
    pub status: RunStatus,
    /// Per-epoch logs.
    pub epochs: Vec<EpochLog>,
    /// Epoch (from 1) whose parameters were selected on validation; 0 only when no trained
    /// epoch could be scored (the run diverged in its first epoch).
    pub selected_epoch: usize,
    /// How the checkpoint was selected and whether it improved on the initial parameters.
    pub selection: Selection,
    /// Test results of the selected parameters, task order.
    pub test: Vec<TaskResult>,
    /// The weights λ the method used.
    pub weights: WeightsSummary,
    /// Compute cost.
    pub cost: Cost,
    /// The method's final state (e.g. the weights AutoScale's prefix variant chose); null for
    /// stateless methods.
    #[serde(default)]
    pub method_state: Value,
    /// Cell ids of this run's single-task baselines (`stl`, same model and seed), task order;
    /// Δm% is computed from them. Empty when none ran.
    #[serde(default)]
    pub stl_cells: Vec<String>,
    /// The weight search that chose λ, for search methods (`tuned`, `autoscale`).
    #[serde(default)]
    pub search: Option<SearchRecord>,
    /// Wall-clock timings; excluded from determinism checks.
    pub timing: Timing,
}

/// Provenance: software versions, commit and machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stamp {
    /// mtlbench version.
    pub mtlbench_version: String,
    /// Git commit of the build, or `unknown`.
    pub git_commit: String,
    /// Whether the working tree had uncommitted changes at build time.
    pub git_dirty: bool,
    /// rustc version string.
    pub rustc: String,
    /// Target triple.
    pub target: String,
    /// candle-core version.
    pub candle: String,
    /// Device the run trained on, e.g. `cpu`.
    pub device: String,
    /// Worker threads available to the tensor backend.
    pub threads: usize,
    /// Versions of the dependencies that shape the numbers (from Cargo.lock), name → version.
    #[serde(default)]
    pub dependencies: BTreeMap<String, String>,
}

/// Dataset identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetInfo {
    /// Dataset id including generator parameters, e.g. `synthetic-linear/k4-d16-v1`.
    pub id: String,
    /// Data revision (commit for hub data, generator version for synthetic data).
    pub revision: String,
    /// The dataset's configuration as given.
    pub config: Value,
    /// Tasks in order.
    pub tasks: Vec<TaskInfo>,
    /// Examples per split: train, validation, test.
    pub split_sizes: [usize; 3],
    /// Verified source files (path, size, sha256); empty for generated data.
    #[serde(default)]
    pub files: Vec<DataFileInfo>,
    /// Seed of a generated split or pairing, if the dataset has one.
    #[serde(default)]
    pub split_seed: Option<u64>,
}

/// One verified source file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataFileInfo {
    /// Path inside the source.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256.
    pub sha256: String,
}

/// One task of the dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskInfo {
    /// Task name.
    pub name: String,
    /// Loss function, e.g. `mse`.
    pub loss: String,
    /// Reported metric, e.g. `mae` or `accuracy`.
    pub metric: String,
    /// Whether a larger metric is better.
    pub higher_is_better: bool,
}

/// Method identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodInfo {
    /// Registry name.
    pub name: String,
    /// Canonical hyper-parameters.
    pub config: Value,
}

/// Model identity and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// Model name as given in configs, e.g. `mlp-m`.
    pub name: String,
    /// Architecture family, e.g. `mlp` or `linear`.
    pub arch: String,
    /// Shared width (hidden units, or q for the linear model).
    pub width: usize,
    /// Total trainable parameters.
    pub parameters: usize,
    /// Parameters of the shared encoder.
    pub shared_parameters: usize,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RunStatus {
    /// Trained for every epoch.
    Completed,
    /// Stopped on a non-finite loss or update.
    Diverged {
        /// Global step at which it happened.
        step: u64,
        /// Task whose loss was non-finite, if one was.
        task: Option<String>,
    },
}

impl RunStatus {
    /// `completed`, or `diverged at step N`: how the journal and `mtlbench status` say it.
    pub fn summary(&self) -> String {
        match self {
            RunStatus::Completed => "completed".to_owned(),
            RunStatus::Diverged { step, .. } => format!("diverged at step {step}"),
        }
    }
}

/// The validation selection of a run's checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// The objective minimised over trained epochs: `loss`, `metric` or `dm`.
    pub objective: String,
    /// Its value at the selected epoch (null when no trained epoch was scored).
    pub score: Option<f64>,
    /// Its value for the initial parameters (never selectable; shown for comparison).
    pub initial_score: Option<f64>,
    /// Whether the selected epoch scores better than the initial parameters; a run that
    /// never did is reported as not improved.
    pub improved: bool,
}

/// Losses and metrics after one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochLog {
    /// Epoch number from 1.
    pub epoch: usize,
    /// Mean training loss per task over the epoch's batches.
    pub train_loss: Vec<f64>,
    /// Validation loss per task.
    pub val_loss: Vec<f64>,
    /// Validation metric per task.
    pub val_metric: Vec<f64>,
    /// Mean λ over the epoch's steps.
    pub weights_mean: Vec<f64>,
    /// Gradient diagnostics on the epoch's first batch (when `train.diagnostics` is on).
    #[serde(default)]
    pub diagnostics: Option<GradDiagnostics>,
}

/// Task-gradient diagnostics w.r.t. the shared parameters on one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradDiagnostics {
    /// ‖g_k‖ per task.
    pub grad_norm: Vec<f64>,
    /// Pairwise cosine similarity, K×K.
    pub cosine: Vec<Vec<f64>>,
    /// Pairwise gradient magnitude similarity 2‖g_i‖‖g_j‖/(‖g_i‖²+‖g_j‖²), K×K.
    pub gms: Vec<Vec<f64>>,
    /// Mean GMS over task pairs.
    pub gms_mean: f64,
    /// Condition number of the task-gradient matrix; null when rank-deficient.
    pub condition_number: Option<f64>,
    /// Fraction of task pairs with negative cosine.
    pub conflict_rate: f64,
}

/// Test result of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskResult {
    /// Task name.
    pub task: String,
    /// Test loss.
    pub loss: f64,
    /// Test metric.
    pub metric: f64,
}

/// Summary of the weights λ over training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsSummary {
    /// λ at the last step.
    pub last: Vec<f64>,
    /// Mean λ over all steps.
    pub mean: Vec<f64>,
    /// Smallest λ_k seen per task.
    pub min: Vec<f64>,
    /// Largest λ_k seen per task.
    pub max: Vec<f64>,
}

/// Compute cost of the run, counted by the trainer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    /// Optimiser steps taken.
    pub steps: u64,
    /// Backward passes through the shared encoder per step.
    pub encoder_backward_per_step: f64,
    /// Backward passes through task heads only (not the encoder) per step.
    pub head_backward_per_step: f64,
    /// Backward passes spent on logged diagnostics (not on training), in total.
    #[serde(default)]
    pub diagnostic_backward: u64,
    /// Extra forward passes per step after the optimiser step (FAMO's loss measurement);
    /// left out of the record at 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub forward_after_step_per_step: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// A weight search shared by every seed of one method and model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRecord {
    /// Hash of the search configuration (dataset, model, method, training); names its file.
    pub id: String,
    /// The chosen weights λ.
    pub weights: Vec<f64>,
    /// Validation objective of the choice (null if every candidate diverged).
    pub score: Option<f64>,
    /// How the weights were chosen.
    pub rule: String,
    /// Compute spent by the search.
    pub budget: SearchBudget,
    /// Trials, PBT rounds or exploration windows, in order.
    pub history: Value,
    /// Wall time of the search, seconds. Kept in the search's own file only: a run record
    /// carries it in `timing.search_s`, so records stay comparable apart from `timing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_s: Option<f64>,
}

/// Compute spent by a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchBudget {
    /// Trainings started.
    pub trainings: u64,
    /// Training steps over all trainings.
    pub steps: u64,
    /// Steps of one full training schedule.
    pub schedule_steps: u64,
    /// Backward passes through the shared encoder over all trainings, gradient measurements
    /// (AutoScale's windows) included.
    pub encoder_backward: u64,
    /// Whether the reported run is one of the search's trainings (PBT's winning member), so
    /// its cost is already in this budget.
    #[serde(default)]
    pub includes_run: bool,
}

/// Wall-clock timings; never compared across runs for determinism.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// Median time of one training step, milliseconds.
    pub step_ms_median: f64,
    /// Mean time of one training step, milliseconds.
    pub step_ms_mean: f64,
    /// Whole run, seconds: its training and evaluation, not a weight search run before it
    /// (`search_s`); for PBT's kept member, its whole population.
    pub total_s: f64,
    /// Start, seconds since the Unix epoch.
    pub started_unix: f64,
    /// End, seconds since the Unix epoch.
    pub finished_unix: f64,
    /// Peak resident memory of the process, bytes, read when the run ended; 0 where unknown.
    /// See `peak_rss_scope` for what it covers.
    #[serde(default)]
    pub peak_rss_bytes: u64,
    /// `run`: the peak while this run trained (the counter was reset at its start; one run at
    /// a time). `process`: the process's peak since it started, covering every run that
    /// trained in it, side by side or before.
    #[serde(default)]
    pub peak_rss_scope: String,
    /// Cells the sweep trained side by side in this process (1 = one at a time).
    #[serde(default)]
    pub workers: usize,
    /// Wall time of the weight search this run's weights came from, seconds (0 without one);
    /// a search shared by several seeds is charged to each.
    #[serde(default)]
    pub search_s: f64,
}

impl RunRecord {
    /// The record with its timing fields zeroed: what determinism tests compare.
    pub fn without_timing(&self) -> Self {
        Self {
            timing: Timing {
                step_ms_median: 0.0,
                step_ms_mean: 0.0,
                total_s: 0.0,
                started_unix: 0.0,
                finished_unix: 0.0,
                peak_rss_bytes: 0,
                peak_rss_scope: String::new(),
                workers: 0,
                search_s: 0.0,
            },
            ..self.clone()
        }
    }

    /// Checks the lengths every reader relies on: one entry per task in test results,
    /// weights, epoch logs and baselines. Describes the first mismatch.
    pub fn check_shape(&self) -> std::result::Result<(), String> {
        let k = self.dataset.tasks.len();
        let mut lists: Vec<(String, usize)> = vec![
            ("test".into(), self.test.len()),
            ("weights.last".into(), self.weights.last.len()),
            ("weights.mean".into(), self.weights.mean.len()),
            ("weights.min".into(), self.weights.min.len()),
            ("weights.max".into(), self.weights.max.len()),
        ];
        for (i, e) in self.epochs.iter().enumerate() {
            for (name, len) in [
                ("train_loss", e.train_loss.len()),
                ("val_loss", e.val_loss.len()),
                ("val_metric", e.val_metric.len()),
                ("weights_mean", e.weights_mean.len()),
            ] {
                lists.push((format!("epochs[{i}].{name}"), len));
            }
        }
        if !self.stl_cells.is_empty() {
            lists.push(("stl_cells".into(), self.stl_cells.len()));
        }
        if let Some((field, len)) = lists.into_iter().find(|(_, len)| *len != k) {
            return Err(format!("field `{field}` has {len} entries for {k} tasks"));
        }
        if let Some((i, e)) = self
            .epochs
            .iter()
            .enumerate()
            .find(|(i, e)| e.epoch != i + 1)
        {
            return Err(format!(
                "field `epochs[{i}].epoch` is {}, expected {} (epochs are logged 1, 2, … in order)",
                e.epoch,
                i + 1
            ));
        }
        if self.selected_epoch > self.epochs.len() {
            return Err(format!(
                "field `selected_epoch` is {} but only {} epochs are logged",
                self.selected_epoch,
                self.epochs.len()
            ));
        }
        Ok(())
    }

    /// Whether the run completed.
    pub fn completed(&self) -> bool {
        self.status == RunStatus::Completed
    }
}
