//! The trainer: one run of one method on one model, seed and dataset, to a [`RunRecord`].
//!
//! The trainer is method-agnostic: it asks [`Method::needs`] which gradients to compute,
//! hands the Gram matrix and losses to [`Method::step`], and back-propagates Σ λ_k L_k.
//! Backward passes are counted where they happen, split into passes that traverse the shared
//! encoder and passes through task heads only.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use candle_core::{Device, Tensor, Var};
use mtl_datasets::{Batch, Dataset, Split};
use mtl_methods::{Diagnostics, GradSource, Gram, Method, StepInput, Update};
use mtl_reports::record::{
    Cost, DatasetInfo, EpochLog, GradDiagnostics, MethodInfo, ModelInfo, RunStatus, SearchRecord,
    Stamp, TaskInfo, TaskResult, Timing, WeightsSummary,
};
use mtl_reports::{RunRecord, SCHEMA_VERSION};

use crate::config::{RunConfig, TrainConfig};
use crate::loss::{metric_sum, targets_tensor, task_loss};
use crate::model::{Model, ModelSpec};
use crate::optim;
use crate::{Error, Result};

/// Where and with what the run executes.
#[derive(Debug, Clone)]
pub struct RunEnv {
    /// Tensor device.
    pub device: Device,
    /// Provenance stamped into the record.
    pub stamp: Stamp,
}

/// Backward passes counted by the trainer.
#[derive(Debug, Clone, Copy, Default)]
struct BackwardCount {
    encoder: u64,
    heads: u64,
}

/// Per-task losses and weights of one step, plus the gradients to apply.
struct StepResult {
    losses: Vec<f64>,
    weights: Vec<f64>,
    grads: Vec<Tensor>,
}

/// A step that hit a non-finite loss.
struct NonFinite {
    task: usize,
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

/// When a run started: wall-clock for the record, monotonic for its duration.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    started_unix: f64,
    elapsed: Instant,
}

impl RunClock {
    /// Starts the clock now.
    pub fn start() -> Self {
        Self {
            started_unix: unix_now(),
            elapsed: Instant::now(),
        }
    }
}

/// Seconds since the Unix epoch.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A model in training: parameters, optimiser state, the method, and a cursor into the
/// epoch's batches. [`train`] steps one session to the end; weight searches (PBT) step
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
        let model = Model::new(spec, dataset.input_dim(), &outputs, seed, device)?;
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
        match result {
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

/// Stamps a finished session into a run record.
pub fn record(
    run: &RunConfig,
    dataset: &dyn Dataset,
    env: &RunEnv,
    spec: &ModelSpec,
    done: TrainedRun,
    search: Option<SearchRecord>,
    clock: &RunClock,
) -> RunRecord {
    let tasks = dataset.tasks();
    RunRecord {
        schema_version: SCHEMA_VERSION,
        cell_id: run.cell_id(),
        stamp: env.stamp.clone(),
        dataset: DatasetInfo {
            id: dataset.id(),
            revision: dataset.revision(),
            config: run.dataset.params.clone(),
            tasks: tasks
                .iter()
                .map(|t| TaskInfo {
                    name: t.name.clone(),
                    loss: t.loss.name().into(),
                    metric: t.metric.name().into(),
                    higher_is_better: t.metric.higher_is_better(),
                })
                .collect(),
            split_sizes: [Split::Train, Split::Val, Split::Test].map(|s| dataset.split_len(s)),
        },
        method: MethodInfo {
            name: run.method.name.clone(),
            config: run.method.params.clone(),
        },
        model: ModelInfo {
            name: spec.name.clone(),
            arch: spec.arch.name().into(),
            width: spec.width,
            parameters: done.parameters,
            shared_parameters: done.shared_parameters,
        },
        train: run.train.to_record_value(),
        seed: run.seed,
        status: done.status,
        epochs: done.epochs,
        selected_epoch: done.selected_epoch,
        test: tasks
            .iter()
            .enumerate()
            .map(|(t, task)| TaskResult {
                task: task.name.clone(),
                loss: done.test_loss[t],
                metric: done.test_metric[t],
            })
            .collect(),
        weights: done.weights,
        cost: done.cost,
        method_state: done.method_state,
        stl_cells: Vec::new(),
        search,
        timing: timing(
            &done.step_ms,
            clock.elapsed.elapsed().as_secs_f64(),
            clock.started_unix,
        ),
    }
}

fn timing(step_ms: &[f64], total_s: f64, started: f64) -> Timing {
    let mut sorted = step_ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let mean = if sorted.is_empty() {
        0.0
    } else {
        sorted.iter().sum::<f64>() / sorted.len() as f64
    };
    Timing {
        step_ms_median: median,
        step_ms_mean: mean,
        total_s,
        started_unix: started,
        finished_unix: unix_now(),
    }
}

/// The per-task loss tensors of a batch, task order, computed from each group's
/// representation by `encode` (the encoder itself, or a detached copy for MGDA-UB).
fn task_losses(
    model: &Model,
    tasks: &[mtl_datasets::Task],
    batch: &Batch,
    zs: &[Tensor],
    device: &Device,
) -> Result<Vec<Tensor>> {
    let mut losses: Vec<Option<Tensor>> = vec![None; tasks.len()];
    for (group, z) in batch.groups.iter().zip(zs) {
        for (t, targets) in &group.targets {
            let out = model.head(*t, z)?;
            losses[*t] = Some(task_loss(
                &tasks[*t],
                &out,
                &targets_tensor(targets, device)?,
            )?);
        }
    }
    losses
        .into_iter()
        .enumerate()
        .map(|(t, l)| l.ok_or_else(|| Error::Internal(format!("batch has no data for task {t}"))))
        .collect()
}

fn loss_values(losses: &[Tensor]) -> Result<std::result::Result<Vec<f64>, NonFinite>> {
    let values: Vec<f64> = losses
        .iter()
        .map(|l| Ok(l.to_scalar::<f32>()? as f64))
        .collect::<Result<_>>()?;
    Ok(match values.iter().position(|v| !v.is_finite()) {
        Some(task) => Err(NonFinite { task }),
        None => Ok(values),
    })
}

/// The gradient of every parameter from one `GradStore` (zeros where a parameter got none).
fn grads_of(model: &Model, store: &candle_core::backprop::GradStore) -> Result<Vec<Tensor>> {
    model
        .params()
        .iter()
        .map(|p| match store.get(p.var.as_tensor()) {
            Some(g) => Ok(g.clone()),
            None => Ok(p.var.zeros_like()?),
        })
        .collect()
}

/// Gradients of Σ_k λ_k L_k assembled from per-task stores: shared parameters sum the weighted
/// task gradients, head k's parameters take λ_k times task k's gradient. `shared` says which
/// parameters (a prefix of the list) come from `shared_store` instead, when given.
fn combine(
    model: &Model,
    per_task: &[candle_core::backprop::GradStore],
    lambda: &[f64],
    shared_store: Option<&candle_core::backprop::GradStore>,
) -> Result<Vec<Tensor>> {
    let encoder_len = model.encoder_params().len();
    let mut grads = Vec::with_capacity(model.params().len());
    for (i, p) in model.params().iter().enumerate() {
        let from_tasks = |tasks: &mut dyn Iterator<Item = usize>| -> Result<Tensor> {
            let mut acc: Option<Tensor> = None;
            for t in tasks {
                if let Some(g) = per_task[t].get(p.var.as_tensor()) {
                    let w = g.affine(lambda[t], 0.0)?;
                    acc = Some(match acc {
                        Some(a) => a.add(&w)?,
                        None => w,
                    });
                }
            }
            Ok(match acc {
                Some(a) => a,
                None => p.var.zeros_like()?,
            })
        };
        let g = if i < encoder_len {
            match shared_store {
                Some(store) => store
                    .get(p.var.as_tensor())
                    .cloned()
                    .map_or_else(|| p.var.zeros_like(), Ok)?,
                None => from_tasks(&mut (0..per_task.len()))?,
            }
        } else {
            let owner = (0..per_task.len())
                .find(|&t| model.head_range(t).contains(&i))
                .ok_or_else(|| {
                    Error::Internal(format!("parameter {} belongs to no head", p.name))
                })?;
            from_tasks(&mut std::iter::once(owner))?
        };
        grads.push(g);
    }
    Ok(grads)
}

fn flatten_rows(tensors: &[Option<&Tensor>], like: &[Tensor]) -> Result<Vec<f32>> {
    let mut row = Vec::new();
    for (t, shape) in tensors.iter().zip(like) {
        match t {
            Some(t) => row.extend(t.flatten_all()?.to_vec1::<f32>()?),
            None => row.extend(std::iter::repeat_n(0.0, shape.elem_count())),
        }
    }
    Ok(row)
}

fn weights_of(update: Update) -> Vec<f64> {
    match update {
        Update::Weights(w) => w.into_vec(),
    }
}

/// The representation of each input group.
fn encode_groups(model: &Model, batch: &Batch, device: &Device) -> Result<Vec<Tensor>> {
    batch
        .groups
        .iter()
        .map(|g| {
            model.encode(&Tensor::from_slice(
                &g.x,
                (g.rows, g.x.len() / g.rows.max(1)),
                device,
            )?)
        })
        .collect()
}

/// The Gram matrix of the per-task gradients w.r.t. the shared parameters, one backward pass
/// per task, and the per-task gradient stores.
fn params_gram(
    model: &Model,
    losses: &[Tensor],
) -> Result<(Gram, Vec<candle_core::backprop::GradStore>)> {
    let shared: Vec<Tensor> = model
        .encoder_params()
        .iter()
        .map(|p| p.var.as_tensor().clone())
        .collect();
    let mut stores = Vec::with_capacity(losses.len());
    let mut rows = Vec::with_capacity(losses.len());
    for l in losses {
        let store = l.backward()?;
        let parts: Vec<Option<&Tensor>> = shared.iter().map(|p| store.get(p)).collect();
        rows.push(flatten_rows(&parts, &shared)?);
        stores.push(store);
    }
    Ok((Gram::from_rows(&rows), stores))
}

/// One training step: forward, the method's weights, backward. The optimiser is applied by
/// the caller.
fn train_step(
    model: &Model,
    tasks: &[mtl_datasets::Task],
    batch: &Batch,
    method: &mut dyn Method,
    step: u64,
    count: &mut BackwardCount,
    device: &Device,
) -> Result<std::result::Result<StepResult, NonFinite>> {
    let zs = encode_groups(model, batch, device)?;
    match method.needs().grads {
        GradSource::None => {
            let losses = task_losses(model, tasks, batch, &zs, device)?;
            let values = match loss_values(&losses)? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            let lambda = weights_of(method.step(&StepInput {
                step,
                losses: &values,
                gram: None,
            })?);
            let mut total = losses[0].affine(lambda[0], 0.0)?;
            for t in 1..losses.len() {
                total = total.add(&losses[t].affine(lambda[t], 0.0)?)?;
            }
            let store = total.backward()?;
            count.encoder += 1;
            Ok(Ok(StepResult {
                losses: values,
                weights: lambda,
                grads: grads_of(model, &store)?,
            }))
        }
        GradSource::Params => {
            let losses = task_losses(model, tasks, batch, &zs, device)?;
            let values = match loss_values(&losses)? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            let (gram, stores) = params_gram(model, &losses)?;
            count.encoder += losses.len() as u64;
            let lambda = weights_of(method.step(&StepInput {
                step,
                losses: &values,
                gram: Some(&gram),
            })?);
            let grads = combine(model, &stores, &lambda, None)?;
            Ok(Ok(StepResult {
                losses: values,
                weights: lambda,
                grads,
            }))
        }
        GradSource::Representation => {
            let z_vars: Vec<Var> = zs
                .iter()
                .map(|z| Var::from_tensor(&z.detach()))
                .collect::<candle_core::Result<_>>()?;
            let z_tensors: Vec<Tensor> = z_vars.iter().map(|v| v.as_tensor().clone()).collect();
            let losses = task_losses(model, tasks, batch, &z_tensors, device)?;
            let values = match loss_values(&losses)? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            let mut stores = Vec::with_capacity(losses.len());
            let mut rows = Vec::with_capacity(losses.len());
            for l in &losses {
                let store = l.backward()?;
                count.heads += 1;
                let parts: Vec<Option<&Tensor>> = z_tensors.iter().map(|z| store.get(z)).collect();
                rows.push(flatten_rows(&parts, &z_tensors)?);
                stores.push(store);
            }
            let gram = Gram::from_rows(&rows);
            let lambda = weights_of(method.step(&StepInput {
                step,
                losses: &values,
                gram: Some(&gram),
            })?);
            // Push Σ λ_k ∂L_k/∂z back through the encoder with the surrogate Σ_g ⟨z_g, G_g⟩.
            let mut surrogate: Option<Tensor> = None;
            for (z, z_var) in zs.iter().zip(&z_tensors) {
                let mut g = z.zeros_like()?;
                for (t, store) in stores.iter().enumerate() {
                    if let Some(gz) = store.get(z_var) {
                        g = g.add(&gz.affine(lambda[t], 0.0)?)?;
                    }
                }
                let term = z.mul(&g.detach())?.sum_all()?;
                surrogate = Some(match surrogate {
                    Some(s) => s.add(&term)?,
                    None => term,
                });
            }
            let surrogate =
                surrogate.ok_or_else(|| Error::Internal("batch has no input groups".into()))?;
            let encoder_store = surrogate.backward()?;
            count.encoder += 1;
            let grads = combine(model, &stores, &lambda, Some(&encoder_store))?;
            Ok(Ok(StepResult {
                losses: values,
                weights: lambda,
                grads,
            }))
        }
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
    use mtl_methods::{Needs, Weights};

    /// Fixed weights behind any gradient source, to compare the trainer's three paths.
    struct Probe {
        grads: GradSource,
        weights: Vec<f64>,
        seen_gram: Option<Gram>,
    }

    impl Method for Probe {
        fn needs(&self) -> Needs {
            Needs { grads: self.grads }
        }

        fn step(&mut self, input: &StepInput<'_>) -> mtl_methods::Result<Update> {
            self.seen_gram = input.gram.cloned();
            Ok(Update::Weights(Weights::simplex(self.weights.clone())?))
        }
    }

    fn setup(arch: &str) -> (SyntheticLinear, Model, Batch) {
        let ds = SyntheticLinear::new(SyntheticLinearConfig {
            tasks: 3,
            dim: 6,
            train: 32,
            val: 8,
            test: 8,
            ..Default::default()
        })
        .unwrap();
        let spec = ModelSpec::parse(arch).unwrap();
        let model = Model::new(&spec, 6, &[1, 1, 1], 3, &Device::Cpu).unwrap();
        let batch = ds.batches(Split::Train, 16, 1, 0).remove(0);
        (ds, model, batch)
    }

    fn run(
        model: &Model,
        ds: &SyntheticLinear,
        batch: &Batch,
        grads: GradSource,
    ) -> (Vec<Vec<f32>>, Probe, BackwardCount) {
        let mut probe = Probe {
            grads,
            weights: vec![0.2, 0.3, 0.5],
            seen_gram: None,
        };
        let mut count = BackwardCount::default();
        let out = train_step(
            model,
            ds.tasks(),
            batch,
            &mut probe,
            0,
            &mut count,
            &Device::Cpu,
        )
        .unwrap()
        .ok()
        .unwrap();
        let flat = out
            .grads
            .iter()
            .map(|g| g.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .collect();
        (flat, probe, count)
    }

    /// A multi-domain batch (Royer et al., 2023): the first half of the rows is one domain
    /// feeding task 0, the second half another domain feeding tasks 1 and 2.
    fn multi_domain(batch: &Batch) -> Batch {
        let g = &batch.groups[0];
        let (half, dim) = (g.rows / 2, g.x.len() / g.rows);
        let part = |range: std::ops::Range<usize>, tasks: &[usize]| mtl_datasets::InputGroup {
            x: g.x[range.start * dim..range.end * dim].to_vec(),
            rows: range.len(),
            targets: tasks
                .iter()
                .map(|&t| match &g.targets[t].1 {
                    mtl_datasets::Targets::Real(v) => {
                        (t, mtl_datasets::Targets::Real(v[range.clone()].to_vec()))
                    }
                    mtl_datasets::Targets::Labels(v) => {
                        (t, mtl_datasets::Targets::Labels(v[range.clone()].to_vec()))
                    }
                })
                .collect(),
        };
        Batch {
            groups: vec![part(0..half, &[0]), part(half..g.rows, &[1, 2])],
        }
    }

    #[test]
    fn all_gradient_paths_give_the_gradient_of_the_weighted_loss() {
        for (arch, domains) in [
            ("mlp-xs", 1),
            ("linear-s", 1),
            ("mlp-xs", 2),
            ("linear-s", 2),
        ] {
            let (ds, model, batch) = setup(arch);
            let batch = if domains == 2 {
                multi_domain(&batch)
            } else {
                batch
            };
            let (reference, _, c0) = run(&model, &ds, &batch, GradSource::None);
            assert_eq!((c0.encoder, c0.heads), (1, 0));
            for source in [GradSource::Params, GradSource::Representation] {
                let (grads, probe, count) = run(&model, &ds, &batch, source);
                for (a, b) in grads.iter().flatten().zip(reference.iter().flatten()) {
                    assert!(
                        (a - b).abs() <= 1e-5 * b.abs().max(1e-2),
                        "{arch} {domains} domain(s) {source:?}: {a} vs {b}"
                    );
                }
                let gram = probe.seen_gram.expect("gram passed");
                assert_eq!(gram.k(), 3);
                match source {
                    GradSource::Params => assert_eq!((count.encoder, count.heads), (3, 0)),
                    _ => assert_eq!((count.encoder, count.heads), (1, 3)),
                }
            }
        }
    }

    #[test]
    fn representation_gram_holds_gradients_wrt_z() {
        // For the linear model z = W x and heads a_k (no bias), ∂L_k/∂z = (2/n)(ŷ_k − y_k) a_kᵀ
        // row-wise, so the Gram is (4/n²) Σ_rows r_k r_j ⟨a_k, a_j⟩ with r the residuals.
        let (ds, model, batch) = setup("linear-s");
        let (_, probe, _) = run(&model, &ds, &batch, GradSource::Representation);
        let gram = probe.seen_gram.unwrap();
        let g = &batch.groups[0];
        let x = Tensor::from_slice(&g.x, (g.rows, 6), &Device::Cpu).unwrap();
        let z = model.encode(&x).unwrap();
        let n = g.rows as f64;
        let mut residuals = Vec::new();
        let mut heads = Vec::new();
        for (t, targets) in &g.targets {
            let pred = model
                .head(*t, &z)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let mtl_datasets::Targets::Real(y) = targets else {
                unreachable!()
            };
            residuals.push(
                pred.iter()
                    .zip(y)
                    .map(|(p, y)| (p - y) as f64)
                    .collect::<Vec<_>>(),
            );
            let a = model.params()[model.head_range(*t).start]
                .var
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            heads.push(a);
        }
        for i in 0..3 {
            for j in 0..3 {
                let aa: f64 = heads[i]
                    .iter()
                    .zip(&heads[j])
                    .map(|(a, b)| (*a as f64) * (*b as f64))
                    .sum();
                let rr: f64 = residuals[i]
                    .iter()
                    .zip(&residuals[j])
                    .map(|(a, b)| a * b)
                    .sum();
                let want = 4.0 / (n * n) * rr * aa;
                assert!(
                    (gram.get(i, j) - want).abs() < 1e-5 * want.abs().max(1e-6),
                    "{i}{j}: {} vs {want}",
                    gram.get(i, j)
                );
            }
        }
    }
}
