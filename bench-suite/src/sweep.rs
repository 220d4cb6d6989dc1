//! Running a sweep: every cell of a [`SweepPlan`] into a locked results folder, one record
//! file each, resuming whatever an earlier invocation left, with a bounded number of cells
//! training side by side.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mtl_datasets::{Dataset, Split};
use mtl_reports::record::RunStatus;
use mtl_reports::{write_record_atomic, RunRecord};

use crate::cell::{search_for, search_id, train_cell, Baselines};
use crate::config::RunConfig;
use crate::plan::SweepPlan;
use crate::progress::{ProgressMode, SweepProgress};
use crate::results_dir::{PlanStamp, ResultsDir};
use crate::selection::Objective;
use crate::trainer::RunEnv;
use crate::{Error, Result};

/// How a sweep runs.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Cells trained side by side (≥ 1).
    pub workers: usize,
    /// How progress is shown.
    pub progress: ProgressMode,
    /// Run into a folder made for another configuration (see [`ResultsDir::open`]).
    pub allow_config_change: bool,
    /// Where the configuration came from, for the folder's plan stamp.
    pub origin: String,
    /// The sweep file's text, kept in the folder.
    pub config_text: String,
}

/// What a finished sweep did.
#[derive(Debug)]
pub struct SweepOutcome {
    /// Folder holding the records.
    pub dir: PathBuf,
    /// Every cell's record, plan order.
    pub records: Vec<RunRecord>,
    /// Cells trained by this invocation.
    pub trained: usize,
    /// Cells whose valid record was already in the folder.
    pub reused: usize,
    /// Invalid records moved to quarantine by this invocation.
    pub quarantined: usize,
}

/// Training steps of one run of `cell` (weight searches come on top).
fn steps_of(run: &RunConfig, dataset: &dyn Dataset) -> u64 {
    (run.train.epochs
        * dataset
            .split_len(Split::Train)
            .div_ceil(run.train.batch_size)) as u64
}

/// The dataset `run` trains on.
fn dataset_of<'a>(
    plan: &SweepPlan,
    datasets: &[&'a dyn Dataset],
    run: &RunConfig,
) -> Result<&'a dyn Dataset> {
    plan.dataset_index(run)
        .and_then(|i| datasets.get(i).copied())
        .ok_or_else(|| Error::Internal(format!("a cell of unknown dataset {}", run.dataset.name)))
}

/// Everything the workers share.
struct Shared<'a> {
    plan: &'a SweepPlan,
    cells: &'a [RunConfig],
    datasets: &'a [&'a dyn Dataset],
    folder: &'a ResultsDir,
    env: &'a RunEnv,
    progress: &'a SweepProgress,
    queue: &'a [usize],
    next: AtomicUsize,
    stop: AtomicBool,
    searches: Mutex<BTreeMap<String, Arc<Mutex<()>>>>,
    reused: &'a BTreeMap<usize, RunRecord>,
    finished: Mutex<BTreeMap<usize, RunRecord>>,
}

impl Shared<'_> {
    fn dataset_of(&self, run: &RunConfig) -> Result<&dyn Dataset> {
        dataset_of(self.plan, self.datasets, run)
    }

    /// Takes cells off the queue until it is empty, a stop signal arrives or a cell fails.
    fn work(&self) -> Result<()> {
        loop {
            crate::interrupt::check()?;
            if self.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let Some(&index) = self.queue.get(self.next.fetch_add(1, Ordering::SeqCst)) else {
                return Ok(());
            };
            if let Err(e) = self.train(index) {
                self.stop.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
    }

    /// Runs the weight search of `cell`'s method, if it has one, unless it is cached: one
    /// search per (dataset, model, method), shared by every seed. The first worker to need it
    /// runs it; the others wait for its cached result.
    fn shared_search(
        &self,
        cell: &RunConfig,
        dataset: &dyn Dataset,
        baselines: &Baselines,
    ) -> Result<()> {
        let spec = mtl_methods::find(&cell.method.name)?;
        match spec.search(&cell.method.params, dataset.tasks().len())? {
            Some(search) if !search.keeps_member() => {}
            _ => return Ok(()),
        }
        let lock = self
            .searches
            .lock()
            .map_err(|_| Error::Internal("search locks poisoned".into()))?
            .entry(search_id(cell))
            .or_default()
            .clone();
        let _guard = lock
            .lock()
            .map_err(|_| Error::Internal("search lock poisoned".into()))?;
        search_for(cell, dataset, self.env, Some(self.folder.path()), baselines).map(|_| ())
    }

    /// The single-task validation metrics `selection = "dm"` scores `cell` against: its own
    /// seed's baselines, or for a search shared by every seed the mean over the sweep's seeds.
    /// Waits for those baselines to finish (they come first in the queue, so some worker
    /// holds each). `Ok(None)` when not needed; `Err` when the sweep stops meanwhile or a
    /// baseline has no validation result.
    fn baselines(&self, cell: &RunConfig, dataset: &dyn Dataset) -> Result<Option<Baselines>> {
        if cell.train.selection != Objective::Dm
            || mtl_methods::is_single_task_baseline(&cell.method.name)
        {
            return Ok(Some(None));
        }
        let shared = mtl_methods::find(&cell.method.name)?
            .search(&cell.method.params, dataset.tasks().len())?
            .is_some_and(|s| !s.keeps_member());
        let seeds = if shared {
            self.plan.seeds.clone()
        } else {
            vec![cell.seed]
        };
        let k = dataset.tasks().len();
        let mut sum = vec![0.0; k];
        for &seed in &seeds {
            let ids = self.plan.stl_cells(&RunConfig {
                seed,
                ..cell.clone()
            });
            for (task, id) in ids.iter().enumerate() {
                let Some(record) = self.wait_for(id)? else {
                    return Ok(None);
                };
                sum[task] += selected_val_metric(&record, task).ok_or_else(|| Error::Config {
                    path: "train.selection".into(),
                    message: format!(
                        "the single-task baseline {id} of task {task} has no selected \
                         validation result (it diverged), so `dm` cannot score {}; use \
                         `metric`",
                        cell.method.name
                    ),
                })?;
            }
        }
        Ok(Some(Some(
            sum.iter().map(|s| s / seeds.len() as f64).collect(),
        )))
    }

    /// The record of cell `id` once it exists; `None` if the sweep stops first.
    fn wait_for(&self, id: &str) -> Result<Option<RunRecord>> {
        let index = self
            .cells
            .iter()
            .position(|c| c.cell_id() == id)
            .ok_or_else(|| Error::Internal(format!("baseline cell {id} is not in the plan")))?;
        loop {
            if let Some(r) = self.reused.get(&index) {
                return Ok(Some(r.clone()));
            }
            let finished = self
                .finished
                .lock()
                .map_err(|_| Error::Internal("results poisoned".into()))?;
            if let Some(r) = finished.get(&index) {
                return Ok(Some(r.clone()));
            }
            drop(finished);
            crate::interrupt::check()?;
            if self.stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn train(&self, index: usize) -> Result<()> {
        let cell = &self.cells[index];
        let id = cell.cell_id();
        let dataset = self.dataset_of(cell)?;
        let label = format!(
            "{} {} seed {} on {}",
            cell.method.name,
            cell.model,
            cell.seed,
            dataset.id()
        );
        let started = Instant::now();
        self.folder.log("start", &id, &label)?;
        let Some(baselines) = self.baselines(cell, dataset)? else {
            return Ok(());
        };
        let mut run = self.progress.start_run(&label, steps_of(cell, dataset));
        let trained = self
            .shared_search(cell, dataset, &baselines)
            .and_then(|()| {
                train_cell(
                    cell,
                    dataset,
                    self.env,
                    Some(self.folder.path()),
                    &baselines,
                    &mut || run.step(),
                )
            });
        let mut record = match trained {
            Ok(record) => record,
            Err(e) => {
                let event = if crate::interrupt::requested().is_some() {
                    "interrupted"
                } else {
                    "failed"
                };
                self.folder.log(event, &id, &e.to_string())?;
                return Err(e);
            }
        };
        record.stl_cells = self.plan.stl_cells(cell);
        if let Err(e) = write_record_atomic(self.folder.path(), &record) {
            // The journal may not be writable either (a full disk); the error is what matters.
            let _ = self.folder.log("failed", &id, &e.to_string());
            return Err(e.into());
        }
        crate::checkpoint::remove(&crate::checkpoint::path(self.folder.path(), cell))?;
        let status = match &record.status {
            RunStatus::Completed => "completed".to_owned(),
            RunStatus::Diverged { step, .. } => format!("diverged at step {step}"),
        };
        self.folder.log("done", &id, &status)?;
        tracing::info!(cell = %id, method = %cell.method.name, model = %cell.model, seed = cell.seed, "run finished");
        run.finish(
            &label,
            &format!("{status} in {:.1} s", started.elapsed().as_secs_f64()),
        );
        self.finished
            .lock()
            .map_err(|_| Error::Internal("results poisoned".into()))?
            .insert(index, record);
        Ok(())
    }
}

/// Validation metric of a single-task baseline's own task at its selected epoch.
fn selected_val_metric(record: &RunRecord, task: usize) -> Option<f64> {
    let epoch = record.selected_epoch.checked_sub(1)?;
    record
        .completed()
        .then(|| record.epochs.get(epoch)?.val_metric.get(task).copied())
        .flatten()
}

/// Runs every cell of `plan` (whose datasets, plan order, are `datasets`) into `dir`:
/// takes the folder's lock, refuses a folder made for another configuration (unless
/// allowed), reuses valid records, quarantines invalid ones, and trains the rest with
/// `options.workers` cells side by side. Results do not depend on the worker count.
pub fn run_sweep(
    plan: &SweepPlan,
    datasets: &[&dyn Dataset],
    dir: &Path,
    env: &RunEnv,
    options: &SweepOptions,
) -> Result<SweepOutcome> {
    let cells = plan.cells();
    let stamp = PlanStamp {
        plan_id: plan.id(),
        device: env.stamp.device.clone(),
        cells: cells.len(),
        origin: options.origin.clone(),
    };
    let folder = ResultsDir::open(
        dir,
        &stamp,
        &options.config_text,
        options.allow_config_change,
    )?;
    let scan = folder.scan(&cells)?;
    let steps: Vec<u64> = cells
        .iter()
        .map(|c| Ok(steps_of(c, dataset_of(plan, datasets, c)?)))
        .collect::<Result<_>>()?;
    let progress = SweepProgress::new(
        options.progress,
        cells.len(),
        steps.iter().sum(),
        scan.reused.len(),
        scan.reused.keys().map(|&i| steps[i]).sum(),
    );
    if let Some(pid) = folder.lock_taken_over() {
        progress.note(&format!(
            "note: took over the lock of {} left by pid {pid}, which is no longer running",
            dir.display()
        ));
    }
    for note in &scan.notes {
        // Quarantined records are worth a word even without progress output.
        eprintln!("warning: {note}");
    }
    let workers = options.workers.clamp(1, scan.to_train.len().max(1));
    progress.note(&format!(
        "sweep: {} runs, {} already recorded, {} to train ({} at a time) into {}",
        cells.len(),
        scan.reused.len(),
        scan.to_train.len(),
        workers,
        dir.display()
    ));
    let shared = Shared {
        plan,
        cells: &cells,
        datasets,
        folder: &folder,
        env,
        progress: &progress,
        queue: &scan.to_train,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        searches: Mutex::new(BTreeMap::new()),
        reused: &scan.reused,
        finished: Mutex::new(BTreeMap::new()),
    };
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| scope.spawn(|| shared.work()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Internal("a sweep worker panicked".into())))
            })
            .collect()
    });
    progress.finish();
    // An interruption wins over the errors it caused in other workers.
    crate::interrupt::check()?;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    let mut finished = shared
        .finished
        .into_inner()
        .map_err(|_| Error::Internal("results poisoned".into()))?;
    let trained = finished.len();
    let quarantined = scan.quarantined;
    let mut all = scan.reused;
    all.append(&mut finished);
    if all.len() != cells.len() {
        return Err(Error::Internal(format!(
            "{} of {} cells have records after the sweep",
            all.len(),
            cells.len()
        )));
    }
    Ok(SweepOutcome {
        dir: dir.to_owned(),
        records: all.into_values().collect(),
        trained,
        reused: cells.len() - trained,
        quarantined,
    })
}
