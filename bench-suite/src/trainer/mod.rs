//! The trainer: a [`Session`] steps one model through its schedule — epochs of batches,
//! validation after each, checkpoint selection on validation, test metrics of the selected
//! parameters — and weight searches step several sessions side by side.

use std::time::Instant;

use candle_core::{Device, Tensor};
use mtl_datasets::{Batch, Dataset, Split};
use mtl_methods::{Diagnostics, Method, RunInfo};
use mtl_reports::record::{
    Cost, EpochLog, GradDiagnostics, RunStatus, Selection, Stamp, WeightsSummary,
};

use crate::config::TrainConfig;
use crate::dropout::Masks;
use crate::method_params::MethodParams;
use crate::model::{Model, ModelSpec};
use crate::optim;
use crate::selection::Scorer;
use crate::step::{
    encode_groups, losses_after_step, params_gram, task_losses, train_step, BackwardCount,
    NonFinite,
};
use crate::Result;

mod epoch_batches;
mod evaluate;
mod state;
mod weights;

pub use evaluate::evaluate;
pub use state::SessionState;

use epoch_batches::EpochBatches;
pub(crate) use epoch_batches::{BatchRef, EpochCache};
use weights::WeightsTracker;

/// Where and with what the run executes.
#[derive(Debug, Clone)]
pub struct RunEnv {
    /// Tensor device.
    pub device: Device,
    /// Provenance stamped into the record.
    pub stamp: Stamp,
    /// Cells trained side by side in this process (stamped into the record's timing).
    pub workers: usize,
}

impl RunEnv {
    /// Runs on `device` (`cpu`, `cuda` or `cuda:N`), `workers` side by side, stamped with
    /// this build's provenance.
    pub fn on(device: &str, workers: usize) -> Result<Self> {
        let device = crate::stamp::parse_device(device)?;
        Ok(Self {
            stamp: crate::stamp::stamp(&device),
            device,
            workers,
        })
    }
}

/// A model in training: parameters, optimiser state, the method, and a cursor into the
/// epoch's batches. [`crate::train_cell`] steps one session to the end; weight searches (PBT) step
/// several side by side and copy state between them.
pub struct Session<'a> {
    dataset: &'a dyn Dataset,
    device: Device,
    model: Model,
    method: Box<dyn Method>,
    optimizer: Box<dyn optim::Optimizer>,
    /// The method's own trainable parameters, if it has any (created when training starts).
    method_params: Option<MethodParams>,
    batch_size: usize,
    seed: u64,
    planned_epochs: usize,
    epoch: usize,
    pending: EpochBatches,
    epoch_steps: usize,
    loss_sum: Vec<f64>,
    loss_total: Vec<f64>,
    weight_sum: Vec<f64>,
    step: u64,
    count: BackwardCount,
    weights: WeightsTracker,
    step_ms: Vec<f64>,
    epochs: Vec<EpochLog>,
    scorer: Scorer,
    initial_score: f64,
    best: (f64, usize, Vec<Tensor>),
    status: RunStatus,
    started: bool,
    diagnostics: bool,
    epoch_diagnostics: Option<GradDiagnostics>,
    diagnostic_backward: u64,
    /// Training settings (the learning-rate schedule and dropout are read per epoch / step).
    train: TrainConfig,
}

/// What a finished session produced, before it is stamped into a record.
#[derive(Debug, Clone)]
pub struct TrainedRun {
    /// How the run ended.
    pub status: RunStatus,
    /// Per-epoch logs.
    pub epochs: Vec<EpochLog>,
    /// Validation-selected epoch (from 1; 0 only when no trained epoch was scored).
    pub selected_epoch: usize,
    /// How it was selected.
    pub selection: Selection,
    /// Test loss per task of the selected parameters.
    pub test_loss: Vec<f64>,
    /// Test metric per task of the selected parameters.
    pub test_metric: Vec<f64>,
    /// λ over training.
    pub weights: WeightsSummary,
    /// Backward passes per step.
    pub cost: Cost,
    /// Step times, milliseconds.
    pub step_ms: Vec<f64>,
    /// All trainable parameters.
    pub parameters: usize,
    /// Shared encoder parameters.
    pub shared_parameters: usize,
    /// The method's final state.
    pub method_state: serde_json::Value,
}

impl<'a> Session<'a> {
    /// A freshly initialised model (seeded by `seed`) with its optimiser and method.
    pub fn new(
        dataset: &'a dyn Dataset,
        spec: &ModelSpec,
        method: Box<dyn Method>,
        train: &TrainConfig,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let tasks = dataset.tasks();
        let k = tasks.len();
        let outputs: Vec<usize> = tasks.iter().map(|t| t.output_dim()).collect();
        train.validate_for("train", spec)?;
        let model = Model::new(spec, &dataset.input_shape(), &outputs, seed, device)?;
        let optimizer = optim::build(train, model.params());
        let scored = method.scored_tasks().unwrap_or_else(|| (0..k).collect());
        let higher = tasks.iter().map(|t| t.metric.higher_is_better()).collect();
        let initial = evaluate(&model, dataset, Split::Val, device)?;
        let scorer = Scorer::new(train.selection, scored, higher, initial.clone());
        let initial_score = scorer.score(&initial.0, &initial.1);
        let snapshot = model.snapshot()?;
        Ok(Self {
            dataset,
            device: device.clone(),
            model,
            method,
            optimizer,
            method_params: None,
            batch_size: train.batch_size,
            seed,
            planned_epochs: train.epochs,
            epoch: 0,
            pending: EpochBatches::default(),
            epoch_steps: 0,
            loss_sum: vec![0.0; k],
            loss_total: vec![0.0; k],
            weight_sum: vec![0.0; k],
            step: 0,
            count: BackwardCount::default(),
            weights: WeightsTracker::new(k),
            step_ms: Vec::new(),
            epochs: Vec::new(),
            best: (f64::INFINITY, 0, snapshot),
            scorer,
            initial_score,
            status: RunStatus::Completed,
            started: false,
            diagnostics: train.diagnostics,
            epoch_diagnostics: None,
            diagnostic_backward: 0,
            train: train.clone(),
        })
    }

    /// Starts the method for `total_steps` more steps, restores `state` if given, and takes
    /// over the parameters it owns under the current epoch's learning rate.
    fn start_method(&mut self, total_steps: u64, state: Option<&serde_json::Value>) -> Result<()> {
        self.method.start(&RunInfo {
            total_steps,
            steps_per_epoch: self.steps_per_epoch(),
            seed: self.seed,
        });
        if let Some(state) = state {
            self.method.restore(state)?;
        }
        self.method_params = MethodParams::of(&*self.method, &self.train)?;
        if let Some(p) = &mut self.method_params {
            p.set_lr(optim::epoch_lr(&self.train, self.epoch.max(1)));
        }
        self.started = true;
        Ok(())
    }

    /// Training steps in one epoch.
    pub fn steps_per_epoch(&self) -> u64 {
        self.dataset
            .split_len(Split::Train)
            .div_ceil(self.batch_size.max(1)) as u64
    }

    /// Training steps of the whole planned schedule.
    pub fn total_steps(&self) -> u64 {
        self.steps_per_epoch() * self.planned_epochs as u64
    }

    /// Steps taken so far.
    pub fn steps_done(&self) -> u64 {
        self.step
    }

    /// Backward passes through the shared encoder so far, training and diagnostics.
    pub fn encoder_backward(&self) -> u64 {
        self.count.encoder + self.diagnostic_backward
    }

    /// Sum over all steps so far of each task's training loss.
    pub fn loss_totals(&self) -> &[f64] {
        &self.loss_total
    }

    /// Best selection score over completed (trained) epochs; +∞ before the first one.
    pub fn best_score(&self) -> f64 {
        if self.diverged() {
            f64::INFINITY
        } else {
            self.best.0
        }
    }

    /// Whether the run hit a non-finite loss.
    pub fn diverged(&self) -> bool {
        self.status != RunStatus::Completed
    }

    /// The model being trained.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Replaces the method (PBT sets new weights this way).
    pub fn set_method(&mut self, method: Box<dyn Method>) {
        self.method = method;
        self.method_params = None;
        self.started = false;
    }

    /// Uses `reference` (validation losses and metrics per task) to normalise selection
    /// scores, so scores of several sessions compare on one scale.
    pub fn set_reference(&mut self, reference: (Vec<f64>, Vec<f64>)) -> Result<()> {
        self.scorer.set_reference(reference);
        self.rescore_initial()
    }

    /// The normalising validation losses and metrics (the initial model's, unless set).
    pub fn reference(&self) -> (Vec<f64>, Vec<f64>) {
        self.scorer.reference()
    }

    /// Sets the single-task baselines' validation metrics, task order, for `selection = "dm"`.
    pub fn set_baselines(&mut self, baselines: Vec<f64>) -> Result<()> {
        self.scorer.set_baselines(baselines);
        self.rescore_initial()
    }

    /// Whether selection still waits for single-task baselines (`dm` without them).
    pub fn needs_baselines(&self) -> bool {
        self.scorer.needs_baselines()
    }

    fn rescore_initial(&mut self) -> Result<()> {
        if self.step > 0 {
            return Err(crate::Error::Internal(
                "the selection reference changed after training started".into(),
            ));
        }
        let (loss, metric) = evaluate(&self.model, self.dataset, Split::Val, &self.device)?;
        self.initial_score = self.scorer.score(&loss, &metric);
        Ok(())
    }

    /// Selection score of the current parameters (lower is better; +∞ once diverged).
    pub fn val_score(&self) -> Result<f64> {
        if self.diverged() {
            return Ok(f64::INFINITY);
        }
        let (loss, metric) = evaluate(&self.model, self.dataset, Split::Val, &self.device)?;
        Ok(self.scorer.score(&loss, &metric))
    }

    /// Takes over `other`'s training — parameters, optimiser state, epoch logs, the weights
    /// seen and the best checkpoint so far (PBT's exploit step: the member continues
    /// `other`'s lineage, so what it reports at the end is that lineage's).
    pub fn copy_state_from(&mut self, other: &Session<'_>) -> Result<()> {
        self.model.restore(&other.model.snapshot()?)?;
        self.optimizer = other.optimizer.boxed_clone();
        self.best = other.best.clone();
        self.initial_score = other.initial_score;
        self.epochs = other.epochs.clone();
        self.weights = other.weights.clone();
        self.loss_total = other.loss_total.clone();
        Ok(())
    }

    /// Trains up to `n` more steps (stopping early on divergence or at the planned end),
    /// ending epochs — validation, logging, checkpoint selection — as they complete.
    pub fn train_steps(&mut self, n: u64, on_step: &mut dyn FnMut()) -> Result<()> {
        self.ensure_started()?;
        for _ in 0..n {
            let Some(batch) = self.next_batch()? else {
                break;
            };
            if self.diagnostics && self.epoch_steps == 0 {
                self.epoch_diagnostics = Some(self.measure(&batch)?);
            }
            if !self.step_on(&batch)? {
                break;
            }
            self.close_step(on_step)?;
        }
        Ok(())
    }

    fn ensure_started(&mut self) -> Result<()> {
        if !self.started {
            self.start_method(self.total_steps().saturating_sub(self.step), None)?;
        }
        Ok(())
    }

    /// The batch of the next step, starting the method or the next epoch (its learning
    /// rate, its batches) where due; `None` once diverged or at the end of the schedule. A
    /// stop signal is an error here, at the step boundary.
    pub(crate) fn next_batch(&mut self) -> Result<Option<BatchRef>> {
        self.next_batch_sharing(&mut EpochCache::default())
    }

    /// [`Session::next_batch`], taking a new epoch's batches from `cache` where another
    /// session on the same seed built them already.
    pub(crate) fn next_batch_sharing(
        &mut self,
        cache: &mut EpochCache,
    ) -> Result<Option<BatchRef>> {
        self.ensure_started()?;
        if self.diverged() {
            return Ok(None);
        }
        crate::interrupt::failpoint_before_step();
        crate::interrupt::check()?;
        if let Some(b) = self.pending.take() {
            return Ok(Some(b));
        }
        if self.epoch >= self.planned_epochs {
            return Ok(None);
        }
        self.epoch += 1;
        let lr = optim::epoch_lr(&self.train, self.epoch);
        self.optimizer.set_lr(lr);
        if let Some(p) = &mut self.method_params {
            p.set_lr(lr);
        }
        let batches = cache.get(self.dataset, self.batch_size, self.epoch, self.seed);
        self.pending = EpochBatches::at(batches, 0);
        self.epoch_steps = 0;
        Ok(self.pending.take())
    }

    /// Counts the step just taken and, if it was the epoch's last, ends the epoch
    /// (validation of the current parameters, logging, checkpoint selection).
    pub(crate) fn close_step(&mut self, on_step: &mut dyn FnMut()) -> Result<()> {
        self.step += 1;
        self.epoch_steps += 1;
        on_step();
        if self.epoch_ends() {
            self.end_epoch()?;
        }
        Ok(())
    }

    /// Whether the step taken last (or about to be closed) is its epoch's last.
    pub(crate) fn epoch_ends(&self) -> bool {
        self.pending.is_done()
    }

    /// The current 1-based epoch (0 before the first batch).
    pub(crate) fn epoch(&self) -> usize {
        self.epoch
    }

    /// The run seed (initialisation and batch order).
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// Records a step whose gradients and update were computed outside the session (a
    /// stacked population, [`crate::population`]): one backward pass through the encoder,
    /// the losses and weights, and the step's share of wall time.
    pub(crate) fn record_external_step(&mut self, losses: &[f64], weights: &[f64], ms: f64) {
        self.count.encoder += 1;
        self.log_step(losses, weights, ms);
    }

    fn log_step(&mut self, losses: &[f64], weights: &[f64], ms: f64) {
        self.step_ms.push(ms);
        self.weights.push(weights);
        for t in 0..losses.len() {
            self.loss_sum[t] += losses[t];
            self.loss_total[t] += losses[t];
            self.weight_sum[t] += weights[t];
        }
    }

    /// The optimiser's step count and moments.
    pub(crate) fn optimizer_state(&self) -> Result<optim::OptimizerState> {
        self.optimizer.save()
    }

    /// Sets the parameters (model order) and, if given, the optimiser state.
    pub(crate) fn load_parameters(
        &mut self,
        params: &[Tensor],
        optimizer: Option<optim::OptimizerState>,
    ) -> Result<()> {
        self.model.restore(params)?;
        if let Some(state) = optimizer {
            self.optimizer.load(state)?;
        }
        Ok(())
    }

    /// One training step on `batch` (forward, the method's weights, backward, optimiser
    /// update), outside the epoch schedule: what benches time. Returns false when the losses
    /// were not finite (the session is then diverged).
    pub fn step_on(&mut self, batch: &Batch) -> Result<bool> {
        let tasks = self.dataset.tasks();
        let t0 = Instant::now();
        let masks = self.masks(batch)?;
        let after_step = self.method.needs().after_step;
        let result = train_step(
            &self.model,
            tasks,
            batch,
            &mut *self.method,
            self.step,
            &masks,
            &mut self.count,
            &self.device,
        )?;
        let result = result.map(|mut r| {
            // Test hook: a non-finite update direction at global step N (debug builds only).
            if mtl_reports::failpoint::hit("nan-weights", self.step as usize + 1) {
                r.weights[0] = f64::NAN;
            }
            r
        });
        match result {
            Ok(r) if r.weights.iter().any(|w| !w.is_finite()) => {
                // A non-finite update direction: the method's weights blew up.
                self.status = RunStatus::Diverged {
                    step: self.step,
                    task: None,
                };
                Ok(false)
            }
            Ok(r) => {
                self.optimizer.step(self.model.params(), &r.grads)?;
                if let Some(p) = &mut self.method_params {
                    p.step(&mut *self.method)?;
                }
                if after_step {
                    match losses_after_step(
                        &self.model,
                        tasks,
                        batch,
                        &*self.method,
                        &masks,
                        &self.device,
                    )? {
                        Some(after) => {
                            self.count.forward_after_step += 1;
                            self.method.after_step(&after)?
                        }
                        None => {
                            self.status = RunStatus::Diverged {
                                step: self.step,
                                task: None,
                            };
                            return Ok(false);
                        }
                    }
                }
                self.log_step(&r.losses, &r.weights, t0.elapsed().as_secs_f64() * 1e3);
                Ok(true)
            }
            Err(NonFinite { task }) => {
                self.status = RunStatus::Diverged {
                    step: self.step,
                    task: Some(tasks[task].name.clone()),
                };
                Ok(false)
            }
        }
    }

    /// The dropout masks of the current step on `batch` (none without dropout).
    fn masks(&self, batch: &Batch) -> Result<Masks> {
        Masks::draw(
            self.train.dropout,
            &self.model,
            batch,
            self.seed,
            self.step,
            &self.device,
        )
    }

    /// Gradient diagnostics on `batch` w.r.t. the shared parameters (K extra backward passes,
    /// counted apart from the method's; no update), with the masks of the step about to run.
    fn measure(&mut self, batch: &Batch) -> Result<GradDiagnostics> {
        let tasks = self.dataset.tasks();
        let masks = self.masks(batch)?;
        let zs = encode_groups(&self.model, batch, &masks, &self.device)?;
        let losses = task_losses(&self.model, tasks, batch, &zs, &masks, &self.device)?;
        let (gram, _) = params_gram(&self.model, &losses)?;
        self.diagnostic_backward += losses.len() as u64;
        let d = Diagnostics::from_gram(&gram);
        Ok(GradDiagnostics {
            grad_norm: d.norms,
            cosine: d.cosine,
            gms: d.gms,
            gms_mean: d.gms_mean,
            condition_number: d.condition_number,
            conflict_rate: d.conflict_rate,
        })
    }

    fn end_epoch(&mut self) -> Result<()> {
        let tasks = self.dataset.tasks();
        let (val_loss, val_metric) = evaluate(&self.model, self.dataset, Split::Val, &self.device)?;
        if let Some(t) = val_loss.iter().position(|v| !v.is_finite()) {
            self.status = RunStatus::Diverged {
                step: self.step,
                task: Some(tasks[t].name.clone()),
            };
            return Ok(());
        }
        let n = self.epoch_steps.max(1) as f64;
        let s = self.scorer.score(&val_loss, &val_metric);
        let train_loss: Vec<f64> = self.loss_sum.iter().map(|v| v / n).collect();
        self.method.end_epoch(self.epoch, &train_loss);
        self.epochs.push(EpochLog {
            epoch: self.epoch,
            train_loss,
            val_loss,
            val_metric,
            weights_mean: self.weight_sum.iter().map(|v| v / n).collect(),
            diagnostics: self.epoch_diagnostics.take(),
        });
        self.loss_sum.iter_mut().for_each(|v| *v = 0.0);
        self.weight_sum.iter_mut().for_each(|v| *v = 0.0);
        if s < self.best.0 {
            self.best = (s, self.epoch, self.model.snapshot()?);
        }
        Ok(())
    }

    /// Restores the validation-selected parameters and evaluates them on the test split.
    pub fn finish(self) -> Result<TrainedRun> {
        self.model.restore(&self.best.2)?;
        let finite = |x: f64| x.is_finite().then_some(x);
        let selection = Selection {
            objective: self.scorer.objective().name().into(),
            score: finite(self.best.0),
            initial_score: finite(self.initial_score),
            improved: self.best.0 < self.initial_score,
        };
        let (test_loss, test_metric) =
            evaluate(&self.model, self.dataset, Split::Test, &self.device)?;
        let steps = self.step.max(1) as f64;
        Ok(TrainedRun {
            status: self.status,
            epochs: self.epochs,
            selected_epoch: self.best.1,
            selection,
            test_loss,
            test_metric,
            weights: self.weights.summary(),
            cost: Cost {
                steps: self.step,
                encoder_backward_per_step: self.count.encoder as f64 / steps,
                head_backward_per_step: self.count.heads as f64 / steps,
                diagnostic_backward: self.diagnostic_backward,
                forward_after_step_per_step: self.count.forward_after_step as f64 / steps,
            },
            step_ms: self.step_ms,
            parameters: Model::count(self.model.params()),
            shared_parameters: Model::count(self.model.encoder_params()),
            method_state: self.method.record_state(),
        })
    }
}

#[cfg(test)]
mod tests;
