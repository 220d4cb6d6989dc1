//! A session's checkpointable state: what [`Session::state`] takes at a step boundary and
//! [`Session::resume_from`] restores, so that a stopped run goes on exactly as if it had
//! never stopped.

use std::sync::Arc;

use mtl_datasets::Split;
use mtl_reports::record::{EpochLog, GradDiagnostics, RunStatus};

use super::epoch_batches::EpochBatches;
use super::weights::WeightsTracker;
use super::Session;
use crate::method_params::MethodParams;
use crate::model::Model;
use crate::optim;
use crate::step::BackwardCount;
use crate::Result;

/// A session's training state at a step boundary: everything [`Session::resume_from`] needs
/// to go on exactly as if it had never stopped. What a fresh session recomputes
/// deterministically (the scorer) is not kept; the initial score is, since a PBT member
/// takes over its lineage's.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SessionState {
    step: u64,
    epoch: usize,
    epoch_steps: usize,
    loss_sum: Vec<f64>,
    loss_total: Vec<f64>,
    weight_sum: Vec<f64>,
    encoder_backward: u64,
    head_backward: u64,
    #[serde(default)]
    forward_after_step: u64,
    diagnostic_backward: u64,
    epoch_diagnostics: Option<GradDiagnostics>,
    weights: WeightsTracker,
    step_ms: Vec<f64>,
    epochs: Vec<EpochLog>,
    /// The best score so far, `None` while it is +∞.
    best_score: Option<f64>,
    best_epoch: usize,
    best_params: Vec<Vec<f32>>,
    params: Vec<Vec<f32>>,
    optimizer: optim::OptimizerState,
    method: serde_json::Value,
    method_params: Option<optim::OptimizerState>,
    /// How the run stands (`None` in checkpoints written before it was kept: training).
    #[serde(default)]
    status: Option<RunStatus>,
    /// The initial model's selection score, which a PBT member takes over from the lineage
    /// it copies (`None` in older checkpoints: the session's own, recomputed).
    #[serde(default)]
    initial_score: Option<f64>,
}

impl Session<'_> {
    /// The training state at this step boundary, for a checkpoint. Only a session that is
    /// still training (not diverged) has one worth keeping.
    pub fn state(&self) -> Result<SessionState> {
        Ok(SessionState {
            step: self.step,
            epoch: self.epoch,
            epoch_steps: self.epoch_steps,
            loss_sum: self.loss_sum.clone(),
            loss_total: self.loss_total.clone(),
            weight_sum: self.weight_sum.clone(),
            encoder_backward: self.count.encoder,
            head_backward: self.count.heads,
            forward_after_step: self.count.forward_after_step,
            diagnostic_backward: self.diagnostic_backward,
            epoch_diagnostics: self.epoch_diagnostics.clone(),
            weights: self.weights.clone(),
            step_ms: self.step_ms.clone(),
            epochs: self.epochs.clone(),
            best_score: self.best.0.is_finite().then_some(self.best.0),
            best_epoch: self.best.1,
            best_params: Model::flat_values(&self.best.2)?,
            params: self.model.flat_params()?,
            optimizer: self.optimizer.save()?,
            method: self.method.state(),
            method_params: self
                .method_params
                .as_ref()
                .map(MethodParams::save)
                .transpose()?,
            status: Some(self.status.clone()),
            initial_score: self.initial_score.is_finite().then_some(self.initial_score),
        })
    }

    /// Continues from `state`, taken by [`Session::state`] of a session built alike (same
    /// dataset, model, method, training settings and seed), as if it had never stopped.
    pub fn resume_from(&mut self, state: SessionState) -> Result<()> {
        self.model.restore(&self.model.shaped(&state.params)?)?;
        self.best = (
            state.best_score.unwrap_or(f64::INFINITY),
            state.best_epoch,
            self.model.shaped(&state.best_params)?,
        );
        self.optimizer.load(state.optimizer)?;
        self.step = state.step;
        self.status = state.status.unwrap_or(RunStatus::Completed);
        if let Some(score) = state.initial_score {
            self.initial_score = score;
        }
        self.epoch = state.epoch;
        self.epoch_steps = state.epoch_steps;
        self.loss_sum = state.loss_sum;
        self.loss_total = state.loss_total;
        self.weight_sum = state.weight_sum;
        self.count = BackwardCount {
            encoder: state.encoder_backward,
            heads: state.head_backward,
            forward_after_step: state.forward_after_step,
        };
        self.diagnostic_backward = state.diagnostic_backward;
        self.epoch_diagnostics = state.epoch_diagnostics;
        self.weights = state.weights;
        self.step_ms = state.step_ms;
        self.epochs = state.epochs;
        // The method as it was started at step 0, its state (own parameters included) on top.
        self.start_method(self.total_steps(), Some(&state.method))?;
        if let (Some(p), Some(saved)) = (&mut self.method_params, state.method_params) {
            p.load(saved)?;
        }
        if self.epoch >= 1 {
            self.optimizer
                .set_lr(optim::epoch_lr(&self.train, self.epoch));
            let batches =
                self.dataset
                    .batches(Split::Train, self.batch_size, self.epoch, self.seed);
            self.pending = EpochBatches::at(Arc::new(batches), self.epoch_steps);
        }
        Ok(())
    }
}
