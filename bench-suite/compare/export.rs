//! What the PyTorch twin (`bench-suite/compare/twin.py`) reads: a dataset's three splits as
//! mtlbench generated them, a model's initial parameters, the batch order of every epoch, and
//! for the step test the per-step losses, weights λ and parameters of a real [`Session`].
//!
//! Nothing here re-implements training: the step log is taken by wrapping the method the
//! trainer calls ([`Recording`]), the parameters are read from the session's model, and the
//! batch order is recovered by matching each training batch's rows, as the dataset hands them
//! out, against the exported training array. The layout is documented in
//! `bench-suite/compare/README.md`.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor};
use mtl_bench::model::Model;
use mtl_bench::{ModelSpec, Session, TrainConfig};
use mtl_datasets::{Batch, Dataset, InputGroup, Split, Targets};
use mtl_methods::{HeadScaling, Method, Needs, RunInfo, StepInput, Update};
use serde::Serialize;
use serde_json::{json, Value};

/// Errors of the exporter: messages for the user, already saying what was expected.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The splits in file order, with their key prefixes.
pub const SPLITS: [(Split, &str); 3] = [
    (Split::Train, "train"),
    (Split::Val, "val"),
    (Split::Test, "test"),
];

/// One split as one input group: every row, every task, in the dataset's fixed order
/// (training rows: the order of `batches(Train, n, epoch 0, seed 0)`).
pub fn whole_split(ds: &dyn Dataset, split: Split) -> Result<InputGroup> {
    let n = ds.split_len(split);
    let mut batches = ds.batches(split, n.max(1), 0, 0);
    match (batches.len(), batches.first().map(|b| b.groups.len())) {
        (1, Some(1)) => Ok(batches.remove(0).groups.remove(0)),
        _ => Err(format!(
            "dataset `{}`: the twin export needs single-domain data (one input group per batch); \
             this dataset gives {} batch(es) of {:?} group(s) for one whole-split batch",
            ds.id(),
            batches.len(),
            batches.iter().map(|b| b.groups.len()).collect::<Vec<_>>()
        )
        .into()),
    }
}

fn targets_tensor(targets: &Targets) -> Result<Tensor> {
    Ok(match targets {
        Targets::Real(v) => Tensor::from_slice(v, v.len(), &Device::Cpu)?,
        Targets::Labels(v) => {
            let wide: Vec<i64> = v.iter().map(|&l| i64::from(l)).collect();
            Tensor::from_vec(wide, v.len(), &Device::Cpu)?
        }
    })
}

/// The tensors of one split: `{prefix}.x` (`rows × input_shape`, f32) and `{prefix}.y{k}` per
/// task k (i64 labels or f32 values).
pub fn split_tensors(
    group: &InputGroup,
    input_shape: &[usize],
    prefix: &str,
    out: &mut BTreeMap<String, Tensor>,
) -> Result<()> {
    let mut shape = vec![group.rows];
    shape.extend_from_slice(input_shape);
    out.insert(
        format!("{prefix}.x"),
        Tensor::from_slice(&group.x, shape, &Device::Cpu)?,
    );
    for (k, targets) in &group.targets {
        out.insert(format!("{prefix}.y{k}"), targets_tensor(targets)?);
    }
    Ok(())
}

/// Writes `tensors` as one safetensors file.
pub fn save(tensors: BTreeMap<String, Tensor>, path: &Path) -> Result<()> {
    let map: HashMap<String, Tensor> = tensors.into_iter().collect();
    candle_core::safetensors::save(&map, path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// The model's parameters by name (values as they are now).
pub fn param_tensors(model: &Model, prefix: &str) -> Result<BTreeMap<String, Tensor>> {
    model
        .params()
        .iter()
        .map(|p| Ok((format!("{prefix}{}", p.name), p.var.as_tensor().copy()?)))
        .collect()
}

/// The first name whose tensors differ in shape or in any bit between `a` and `b`, or whose
/// name is in only one of them; `None` when they are identical.
pub fn first_difference(
    a: &BTreeMap<String, Tensor>,
    b: &BTreeMap<String, Tensor>,
) -> Result<Option<String>> {
    for name in a.keys().chain(b.keys()) {
        let (Some(x), Some(y)) = (a.get(name), b.get(name)) else {
            return Ok(Some(name.clone()));
        };
        let bits = |t: &Tensor| -> Result<Vec<u32>> {
            Ok(t.flatten_all()?
                .to_vec1::<f32>()?
                .iter()
                .map(|v| v.to_bits())
                .collect())
        };
        if x.dims() != y.dims() || bits(x)? != bits(y)? {
            return Ok(Some(name.clone()));
        }
    }
    Ok(None)
}

/// Content hash of row `r` of `group` (inputs and every task's target).
fn row_hash(group: &InputGroup, r: usize) -> u64 {
    let dim = group.x.len() / group.rows.max(1);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for v in &group.x[r * dim..(r + 1) * dim] {
        v.to_bits().hash(&mut h);
    }
    for (_, t) in &group.targets {
        match t {
            Targets::Real(v) => v[r].to_bits().hash(&mut h),
            Targets::Labels(v) => v[r].hash(&mut h),
        }
    }
    h.finish()
}

fn same_row(a: &InputGroup, i: usize, b: &InputGroup, j: usize) -> bool {
    let dim = a.x.len() / a.rows.max(1);
    let target = |t: &Targets, r: usize| match t {
        Targets::Real(v) => u64::from(v[r].to_bits()),
        Targets::Labels(v) => u64::from(v[r]),
    };
    a.x[i * dim..(i + 1) * dim]
        .iter()
        .zip(&b.x[j * dim..(j + 1) * dim])
        .all(|(p, q)| p.to_bits() == q.to_bits())
        && a.targets
            .iter()
            .zip(&b.targets)
            .all(|((_, s), (_, t))| target(s, i) == target(t, j))
}

/// Finds rows of batches in the exported training array by content.
pub struct RowIndex<'a> {
    train: &'a InputGroup,
    by_hash: HashMap<u64, Vec<usize>>,
}

impl<'a> RowIndex<'a> {
    /// Indexes every row of `train`.
    pub fn new(train: &'a InputGroup) -> Self {
        let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
        for r in 0..train.rows {
            by_hash.entry(row_hash(train, r)).or_default().push(r);
        }
        Self { train, by_hash }
    }

    /// The training-array index of every row of `batch`, in batch order. Identical rows (same
    /// inputs and targets) map to the first of them: the twin then feeds the same values.
    pub fn locate(&self, batch: &Batch) -> Result<Vec<i64>> {
        let [group] = batch.groups.as_slice() else {
            return Err("the twin export needs single-domain batches (one input group)".into());
        };
        (0..group.rows)
            .map(|r| {
                self.by_hash
                    .get(&row_hash(group, r))
                    .and_then(|c| c.iter().find(|&&i| same_row(self.train, i, group, r)))
                    .map(|&i| i as i64)
                    .ok_or_else(|| {
                        "a training batch holds a row that is not in the exported training array"
                            .into()
                    })
            })
            .collect()
    }
}

/// The batch order of epochs `1..=epochs` for `seed`: `epoch{e}` → training-array indices, the
/// epoch's batches concatenated (batch b is rows `b·batch_size ..`).
pub fn epoch_orders(
    ds: &dyn Dataset,
    index: &RowIndex<'_>,
    batch_size: usize,
    epochs: usize,
    seed: u64,
) -> Result<BTreeMap<String, Tensor>> {
    let mut out = BTreeMap::new();
    for epoch in 1..=epochs {
        let mut order = Vec::with_capacity(ds.split_len(Split::Train));
        for batch in ds.batches(Split::Train, batch_size, epoch, seed) {
            order.extend(index.locate(&batch)?);
        }
        let n = order.len();
        out.insert(
            format!("epoch{epoch}"),
            Tensor::from_vec(order, n, &Device::Cpu)?,
        );
    }
    Ok(out)
}

/// One step as the method saw and answered it.
#[derive(Debug, Clone, Serialize)]
pub struct StepLog {
    /// Global step, from 0.
    pub step: u64,
    /// Per-task training losses of the batch.
    pub losses: Vec<f64>,
    /// The Gram matrix the method got (row-major K × K), if it asked for one.
    pub gram: Option<Vec<f64>>,
    /// The weights λ it answered.
    pub weights: Vec<f64>,
}

/// A method that passes everything through to `inner` and logs each step.
pub struct Recording {
    inner: Box<dyn Method>,
    log: Arc<Mutex<Vec<StepLog>>>,
}

impl Recording {
    /// Wraps `inner`; the steps land in `log`.
    pub fn new(inner: Box<dyn Method>, log: Arc<Mutex<Vec<StepLog>>>) -> Self {
        Self { inner, log }
    }
}

impl Method for Recording {
    fn needs(&self) -> Needs {
        self.inner.needs()
    }

    fn start(&mut self, run: &RunInfo) {
        self.inner.start(run);
    }

    fn head_scaling(&self) -> HeadScaling {
        self.inner.head_scaling()
    }

    fn step(&mut self, input: &StepInput<'_>) -> mtl_methods::Result<Update> {
        let update = self.inner.step(input)?;
        let weights = update
            .coefficients()
            .ok_or_else(|| {
                mtl_methods::Error::Backend(
                    "the twin records coefficients; a direction has none".into(),
                )
            })?
            .to_vec();
        if let Ok(mut log) = self.log.lock() {
            log.push(StepLog {
                step: input.step,
                losses: input.losses.to_vec(),
                gram: input.gram.map(|g| g.as_slice().to_vec()),
                weights,
            });
        }
        Ok(update)
    }

    fn scored_tasks(&self) -> Option<Vec<usize>> {
        self.inner.scored_tasks()
    }

    fn state(&self) -> Value {
        self.inner.state()
    }
}

/// What [`run_steps`] took from the session.
pub struct StepRun {
    /// Initial parameters by name.
    pub init: BTreeMap<String, Tensor>,
    /// One entry per step.
    pub log: Vec<StepLog>,
    /// Parameters after each step, keys `step{t}.{name}` (t from 1).
    pub trajectory: BTreeMap<String, Tensor>,
    /// Parameters after the last step.
    pub last: BTreeMap<String, Tensor>,
}

/// Training epochs that hold `steps` steps.
pub fn epochs_for(ds: &dyn Dataset, batch_size: usize, steps: u64) -> usize {
    let per_epoch = ds
        .split_len(Split::Train)
        .div_ceil(batch_size.max(1))
        .max(1) as u64;
    steps.div_ceil(per_epoch).max(1) as usize
}

/// Trains `steps` steps of `method` (registry name, canonical `params`) with a normal
/// [`Session`] and logs what the method saw, with the parameters after every step.
pub fn run_steps(
    ds: &dyn Dataset,
    spec: &ModelSpec,
    method: (&str, &Value),
    train: &TrainConfig,
    seed: u64,
    steps: u64,
) -> Result<StepRun> {
    let k = ds.tasks().len();
    let inner = mtl_methods::find(method.0)?.build(method.1, k)?;
    let log = Arc::new(Mutex::new(Vec::new()));
    let train = TrainConfig {
        epochs: epochs_for(ds, train.batch_size, steps),
        ..train.clone()
    };
    let recording = Box::new(Recording::new(inner, Arc::clone(&log)));
    let mut session = Session::new(ds, spec, recording, &train, seed, &Device::Cpu)?;
    let init = param_tensors(session.model(), "")?;
    let mut trajectory = BTreeMap::new();
    for t in 1..=steps {
        session.train_steps(1, &mut || {})?;
        if session.steps_done() != t {
            return Err(format!(
                "the session stopped at step {} of {steps} (diverged: {})",
                session.steps_done(),
                session.diverged()
            )
            .into());
        }
        trajectory.extend(param_tensors(session.model(), &format!("step{t}."))?);
    }
    let last = param_tensors(session.model(), "")?;
    let log = log.lock().map_err(|_| "step log poisoned")?.clone();
    Ok(StepRun {
        init,
        log,
        trajectory,
        last,
    })
}

/// The gradient of Σ_k λ_k L_k at the parameters before every logged step (keys
/// `step{t}.{name}`, t from 0), λ from the log, computed with mtlbench's model, losses and
/// candle's backprop as the trainer's one-backward (`uniform`) path does. For MGDA-UB the
/// trainer takes another route to the same gradient (through the detached representation);
/// rounding may differ there. A diagnostic: one step's gradients without accumulated drift.
pub fn forced_gradients(
    ds: &dyn Dataset,
    spec: &ModelSpec,
    run: &StepRun,
    batch_size: usize,
    seed: u64,
) -> Result<BTreeMap<String, Tensor>> {
    let device = Device::Cpu;
    let outputs: Vec<usize> = ds.tasks().iter().map(|t| t.output_dim()).collect();
    let model = Model::new(spec, &ds.input_shape(), &outputs, seed, &device)?;
    let names: Vec<String> = model.params().iter().map(|p| p.name.clone()).collect();
    let batches = (1..).flat_map(|epoch| ds.batches(Split::Train, batch_size, epoch, seed));
    let mut out = BTreeMap::new();
    for (step, batch) in run.log.iter().zip(batches) {
        let t = step.step;
        let source = |n: &String| {
            if t == 0 {
                run.init.get(n).cloned()
            } else {
                run.trajectory.get(&format!("step{t}.{n}")).cloned()
            }
        };
        let before = names
            .iter()
            .map(|n| source(n).ok_or_else(|| format!("no parameter {n} before step {t}")))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        model.restore(&before)?;
        let [group] = batch.groups.as_slice() else {
            return Err("the twin export needs single-domain batches (one input group)".into());
        };
        let x = Tensor::from_slice(&group.x, (group.rows, group.x.len() / group.rows), &device)?;
        let z = model.encode(&x)?;
        let mut total: Option<Tensor> = None;
        for (k, targets) in &group.targets {
            let out = model.head(*k, &z)?;
            let y = mtl_bench::loss::targets_tensor(targets, &device)?;
            let l = mtl_bench::loss::task_loss(&ds.tasks()[*k], &out, &y)?
                .affine(step.weights[*k], 0.0)?;
            total = Some(match total {
                Some(s) => s.add(&l)?,
                None => l,
            });
        }
        let grads = total.ok_or("a batch without tasks")?.backward()?;
        for p in model.params() {
            let g = match grads.get(p.var.as_tensor()) {
                Some(g) => g.copy()?,
                None => p.var.zeros_like()?,
            };
            out.insert(format!("step{t}.{}", p.name), g);
        }
    }
    Ok(out)
}

/// The description of the export that `twin.py` reads (`meta.json`).
pub fn meta(
    ds: &dyn Dataset,
    dataset: (&str, &Value),
    model: &Model,
    train: &TrainConfig,
) -> Value {
    let params: Vec<Value> = model
        .params()
        .iter()
        .map(|p| json!({"name": p.name, "shape": p.var.dims()}))
        .collect();
    let heads: Vec<Value> = (0..ds.tasks().len())
        .map(|k| {
            let r = model.head_range(k);
            json!([r.start, r.end])
        })
        .collect();
    let rows: serde_json::Map<String, Value> = SPLITS
        .iter()
        .map(|(s, name)| (name.to_string(), json!(ds.split_len(*s))))
        .collect();
    let spec = model.spec();
    json!({
        "format": "mtlbench-twin-v1",
        "dataset": {
            "name": dataset.0,
            "params": dataset.1,
            "id": ds.id(),
            "revision": ds.revision(),
            "input_shape": ds.input_shape(),
            "rows": rows,
        },
        "tasks": ds.tasks(),
        "model": {
            "name": spec.name,
            "arch": spec.arch.name(),
            "width": spec.width,
            "params": params,
            "encoder_len": model.encoder_params().len(),
            "heads": heads,
            "dtype": model.dtype().as_str(),
        },
        "train": train,
    })
}
