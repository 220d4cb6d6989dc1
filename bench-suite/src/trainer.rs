//! The trainer: a [`Session`] steps one model through its schedule — epochs of batches,
//! validation after each, checkpoint selection on validation, test metrics of the selected
//! parameters — and weight searches step several sessions side by side.

use std::time::Instant;

use candle_core::{Device, Tensor};
use mtl_datasets::{Batch, Dataset, Split};
use mtl_methods::{Diagnostics, Method};
use mtl_reports::record::{Cost, EpochLog, GradDiagnostics, RunStatus, Stamp, WeightsSummary};

use crate::config::TrainConfig;
use crate::loss::{metric_sum, targets_tensor, task_loss};
use crate::model::{Model, ModelSpec};
use crate::optim;
use crate::step::{encode_groups, params_gram, task_losses, train_step, BackwardCount, NonFinite};
use crate::Result;

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

/// Running summary of the weights λ over all steps.
struct WeightsTracker {
    last: Vec<f64>,
    sum: Vec<f64>,
    min: Vec<f64>,
    max: Vec<f64>,
    steps: u64,
}

impl WeightsTracker {
    fn new(k: usize) -> Self {
        Self {
            last: vec![0.0; k],
            sum: vec![0.0; k],
            min: vec![f64::INFINITY; k],
            max: vec![f64::NEG_INFINITY; k],
            steps: 0,
        }
    }

    fn push(&mut self, w: &[f64]) {
        for (k, &v) in w.iter().enumerate() {
            self.sum[k] += v;
            self.min[k] = self.min[k].min(v);
            self.max[k] = self.max[k].max(v);
        }
        self.last = w.to_vec();
        self.steps += 1;
    }

    fn summary(&self) -> WeightsSummary {
        let n = self.steps.max(1) as f64;
        let or_zero = |v: &[f64]| {
            v.iter()
                .map(|x| if x.is_finite() { *x } else { 0.0 })
                .collect()
        };
        WeightsSummary {
            last: self.last.clone(),
            mean: self.sum.iter().map(|s| s / n).collect(),
            min: or_zero(&self.min),
            max: or_zero(&self.max),
        }
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
    batch_size: usize,
    seed: u64,
    planned_epochs: usize,
    epoch: usize,
    pending: std::vec::IntoIter<Batch>,
    epoch_steps: usize,
    loss_sum: Vec<f64>,
    loss_total: Vec<f64>,
    weight_sum: Vec<f64>,
    step: u64,
    count: BackwardCount,
    weights: WeightsTracker,
    step_ms: Vec<f64>,
    epochs: Vec<EpochLog>,
    reference_val: Vec<f64>,
    best: (f64, usize, Vec<Tensor>),
    status: RunStatus,
    started: bool,
    diagnostics: bool,
    epoch_diagnostics: Option<GradDiagnostics>,
    diagnostic_backward: u64,
}

/// What a finished session produced, before it is stamped into a record.
#[derive(Debug, Clone)]
pub struct TrainedRun {
    /// How the run ended.
    pub status: RunStatus,
    /// Per-epoch logs.
    pub epochs: Vec<EpochLog>,
    /// Validation-selected epoch (0 = initial parameters).
    pub selected_epoch: usize,
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
        let model = Model::new(spec, &dataset.input_shape(), &outputs, seed, device)?;
        let optimizer = optim::build(train, model.params());
        let (reference_val, _) = evaluate(&model, dataset, Split::Val, device)?;
        let snapshot = model.snapshot()?;
        Ok(Self {
            dataset,
            device: device.clone(),
            model,
            method,
            optimizer,
            batch_size: train.batch_size,
            seed,
            planned_epochs: train.epochs,
            epoch: 0,
            pending: Vec::new().into_iter(),
            epoch_steps: 0,
            loss_sum: vec![0.0; k],
            loss_total: vec![0.0; k],
            weight_sum: vec![0.0; k],
            step: 0,
            count: BackwardCount::default(),
            weights: WeightsTracker::new(k),
            step_ms: Vec::new(),
            epochs: Vec::new(),
            best: (1.0, 0, snapshot),
            reference_val,
            status: RunStatus::Completed,
            started: false,
            diagnostics: train.diagnostics,
            epoch_diagnostics: None,
            diagnostic_backward: 0,
        })
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

    /// Sum over all steps so far of each task's training loss.
    pub fn loss_totals(&self) -> &[f64] {
        &self.loss_total
    }

    /// Best selection score over completed epochs (the initial parameters count as epoch 0).
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
        self.started = false;
    }

    /// Uses `reference` (validation loss per task) to normalise selection scores, so scores of
    /// several sessions compare on one scale.
    pub fn set_reference(&mut self, reference: Vec<f64>) -> Result<()> {
        self.reference_val = reference;
        self.best.0 = self.score(&evaluate(&self.model, self.dataset, Split::Val, &self.device)?.0);
        Ok(())
    }

    /// The normalising validation losses (the initial model's, unless set).
    pub fn reference(&self) -> &[f64] {
        &self.reference_val
    }

    fn score(&self, val: &[f64]) -> f64 {
        let relative = |t: usize| val[t] / self.reference_val[t].max(f64::MIN_POSITIVE);
        let tasks = self
            .method
            .scored_tasks()
            .unwrap_or_else(|| (0..val.len()).collect());
        tasks.iter().map(|&t| relative(t)).sum::<f64>() / tasks.len().max(1) as f64
    }

    /// Selection score of the current parameters: mean over tasks of validation loss relative
    /// to the reference (lower is better; +∞ once diverged).
    pub fn val_score(&self) -> Result<f64> {
        if self.diverged() {
            return Ok(f64::INFINITY);
        }
        let s = self.score(&evaluate(&self.model, self.dataset, Split::Val, &self.device)?.0);
        Ok(if s.is_finite() { s } else { f64::INFINITY })
    }

    /// Copies parameters and optimiser state from `other` (PBT's exploit step).
    pub fn copy_state_from(&mut self, other: &Session<'_>) -> Result<()> {
        self.model.restore(&other.model.snapshot()?)?;
        self.optimizer = other.optimizer.boxed_clone();
        Ok(())
    }

    /// Trains up to `n` more steps (stopping early on divergence or at the planned end),
    /// ending epochs — validation, logging, checkpoint selection — as they complete.
    pub fn train_steps(&mut self, n: u64, on_step: &mut dyn FnMut()) -> Result<()> {
        if !self.started {
            self.method
                .start(self.total_steps().saturating_sub(self.step));
            self.started = true;
        }
        for _ in 0..n {
            if self.diverged() {
                break;
            }
            crate::interrupt::check()?;
            let batch = match self.pending.next() {
                Some(b) => b,
                None if self.epoch < self.planned_epochs => {
                    self.epoch += 1;
                    self.pending = self
                        .dataset
                        .batches(Split::Train, self.batch_size, self.epoch, self.seed)
                        .into_iter();
                    self.epoch_steps = 0;
                    match self.pending.next() {
                        Some(b) => b,
                        None => break,
                    }
                }
                None => break,
            };
            if self.diagnostics && self.epoch_steps == 0 {
                self.epoch_diagnostics = Some(self.measure(&batch)?);
            }
            if !self.step_on(&batch)? {
                break;
            }
            self.step += 1;
            self.epoch_steps += 1;
            on_step();
            if self.pending.len() == 0 {
                self.end_epoch()?;
            }
        }
        Ok(())
    }

    /// One training step on `batch` (forward, the method's weights, backward, optimiser
    /// update), outside the epoch schedule: what benches time. Returns false when the losses
    /// were not finite (the session is then diverged).
    pub fn step_on(&mut self, batch: &Batch) -> Result<bool> {
        let tasks = self.dataset.tasks();
        let t0 = Instant::now();
        let result = train_step(
            &self.model,
            tasks,
            batch,
            &mut *self.method,
            self.step,
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
                self.step_ms.push(t0.elapsed().as_secs_f64() * 1e3);
                self.weights.push(&r.weights);
                for t in 0..tasks.len() {
                    self.loss_sum[t] += r.losses[t];
                    self.loss_total[t] += r.losses[t];
                    self.weight_sum[t] += r.weights[t];
                }
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

    /// Gradient diagnostics on `batch` w.r.t. the shared parameters (K extra backward passes,
    /// counted apart from the method's; no update).
    fn measure(&mut self, batch: &Batch) -> Result<GradDiagnostics> {
        let tasks = self.dataset.tasks();
        let zs = encode_groups(&self.model, batch, &self.device)?;
        let losses = task_losses(&self.model, tasks, batch, &zs, &self.device)?;
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
        let s = self.score(&val_loss);
        self.epochs.push(EpochLog {
            epoch: self.epoch,
            train_loss: self.loss_sum.iter().map(|v| v / n).collect(),
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
        let (test_loss, test_metric) =
            evaluate(&self.model, self.dataset, Split::Test, &self.device)?;
        let steps = self.step.max(1) as f64;
        Ok(TrainedRun {
            status: self.status,
            epochs: self.epochs,
            selected_epoch: self.best.1,
            test_loss,
            test_metric,
            weights: self.weights.summary(),
            cost: Cost {
                steps: self.step,
                encoder_backward_per_step: self.count.encoder as f64 / steps,
                head_backward_per_step: self.count.heads as f64 / steps,
                diagnostic_backward: self.diagnostic_backward,
            },
            step_ms: self.step_ms,
            parameters: Model::count(self.model.params()),
            shared_parameters: Model::count(self.model.encoder_params()),
            method_state: self.method.state(),
        })
    }
}

/// Mean loss and metric per task over a whole split.
pub fn evaluate(
    model: &Model,
    dataset: &dyn Dataset,
    split: Split,
    device: &Device,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let tasks = dataset.tasks();
    let k = tasks.len();
    let mut loss = vec![0.0; k];
    let mut metric = vec![0.0; k];
    let mut rows = vec![0usize; k];
    for batch in dataset.batches(split, 4096, 0, 0) {
        for group in &batch.groups {
            let x = Tensor::from_slice(
                &group.x,
                (group.rows, group.x.len() / group.rows.max(1)),
                device,
            )?;
            let z = model.encode(&x)?.detach();
            for (t, targets) in &group.targets {
                let out = model.head(*t, &z)?.detach();
                let l = task_loss(&tasks[*t], &out, &targets_tensor(targets, device)?)?
                    .to_scalar::<f32>()? as f64;
                loss[*t] += l * group.rows as f64;
                metric[*t] += metric_sum(&tasks[*t], &out, targets)?;
                rows[*t] += group.rows;
            }
        }
    }
    for t in 0..k {
        let n = rows[t].max(1) as f64;
        loss[t] /= n;
        metric[t] /= n;
    }
    Ok((loss, metric))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mtl_datasets::{SyntheticLinear, SyntheticLinearConfig};
    use mtl_reports::linear_front::LinearProblem;

    /// The test loss the trainer records (`evaluate`: the row mean of `task_loss`, squared
    /// error without ½) is the closed-form population loss the front analysis uses, for a
    /// linear model with encoder u and optimal heads ⟨s_k θ_k, u⟩.
    #[test]
    fn evaluated_loss_is_the_closed_form_population_loss() {
        let ds = SyntheticLinear::new(SyntheticLinearConfig {
            tasks: 3,
            dim: 3,
            noise: 0.3,
            train: 8,
            val: 8,
            test: 40_000,
            task_scales: vec![1.0, 2.0, 0.5],
            thetas: vec![
                vec![1.0, 0.0, 0.0],
                vec![0.3, 0.9, 0.1],
                vec![-0.2, 0.4, 0.9],
            ],
            ..Default::default()
        })
        .unwrap();
        let u = [0.6f64, 0.8, 0.0];
        let t = ds.scaled_task_vectors();
        let spec = ModelSpec::parse("linear-w1").unwrap();
        let model = Model::new(&spec, &[3], &[1, 1, 1], 0, &Device::Cpu).unwrap();
        let mut weights =
            vec![Tensor::from_slice(&u.map(|v| v as f32), (1, 3), &Device::Cpu).unwrap()];
        for tk in &t {
            let head: f64 = tk.iter().zip(u).map(|(a, b)| a * b).sum();
            weights.push(Tensor::from_slice(&[head as f32], (1, 1), &Device::Cpu).unwrap());
        }
        model.restore(&weights).unwrap();
        let (loss, _) = evaluate(&model, &ds, Split::Test, &Device::Cpu).unwrap();
        let want = LinearProblem {
            task_vectors: t,
            noise: ds.noise(),
            width: 1,
        }
        .losses(&[u.to_vec()])
        .unwrap();
        // 40 000 rows: the mean of squared Gaussian residuals is within ~1 % (1 σ) of its
        // expectation; a ½ factor or a missing s_k² would be off by ≥ 25 %.
        for (got, want) in loss.iter().zip(&want) {
            assert!((got / want - 1.0).abs() < 0.04, "{loss:?} vs {want:?}");
        }
    }
}
