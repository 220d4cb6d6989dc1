//! Running a sweep: cells of a [`SweepPlan`] into a results folder, one record file each,
//! resuming whatever an earlier invocation left, with a bounded number of cells training
//! side by side. Each cell (and each weight search shared by cells) is trained under a
//! per-cell claim ([`crate::claim`]), so several processes — the tasks of a Slurm job
//! array, on several hosts — can share one folder: a cell held by another process waits
//! at the back of the queue until its record appears or its claim is abandoned.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use mtl_datasets::{Dataset, Split};
use mtl_reports::RunRecord;

use crate::config::RunConfig;
use crate::plan::SweepPlan;
use crate::progress::{ProgressMode, SweepProgress};
use crate::results_dir::{PlanStamp, ResultsDir, Sharing};
use crate::trainer::RunEnv;
use crate::worker_pool::{run_in_own_pool, thread_setting};
use crate::{Error, Result};

mod worker;

use worker::{poisoned, Shared};
pub use worker::{CLAIM_TIMEOUT_S, HEARTBEAT};

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
    /// How this process shares the folder with others.
    pub sharing: Sharing,
    /// Plan indices of the cells to run (`None`: all). Cells they need (single-task
    /// baselines for `selection = "dm"`) are trained too when nobody else does.
    pub only: Option<Vec<usize>>,
}

impl SweepOptions {
    /// Options for the whole plan under the folder's lock, one worker, no progress output.
    pub fn new(origin: impl Into<String>, config_text: impl Into<String>) -> Self {
        Self {
            workers: 1,
            progress: ProgressMode::Quiet,
            allow_config_change: false,
            origin: origin.into(),
            config_text: config_text.into(),
            sharing: Sharing::Lock,
            only: None,
        }
    }
}

/// What a finished sweep did.
#[derive(Debug)]
pub struct SweepOutcome {
    /// Folder holding the records.
    pub dir: PathBuf,
    /// The record of every cell run (all cells, or those asked for), plan order.
    pub records: Vec<RunRecord>,
    /// Cells trained by this invocation.
    pub trained: usize,
    /// Cells whose valid record was already in the folder, or written by another process.
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

/// Runs the cells of `plan` (whose datasets, plan order, are `datasets`) into `dir`: opens
/// the folder as `options.sharing` says, refuses a folder made for another configuration
/// (unless allowed), reuses valid records, quarantines invalid ones, and trains the rest with
/// `options.workers` cells side by side. Results do not depend on the worker count, nor on
/// how many processes share the folder.
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
        options.sharing,
    )?;
    let chosen: Vec<usize> = match &options.only {
        Some(only) => only.clone(),
        None => (0..cells.len()).collect(),
    };
    if let Some(&bad) = chosen.iter().find(|&&i| i >= cells.len()) {
        return Err(Error::Internal(format!(
            "cell {bad} of a plan of {}",
            cells.len()
        )));
    }
    let scan = folder.scan(&cells, &chosen)?;
    let steps: Vec<u64> = cells
        .iter()
        .map(|c| Ok(steps_of(c, dataset_of(plan, datasets, c)?)))
        .collect::<Result<_>>()?;
    let progress = SweepProgress::new(
        options.progress,
        chosen.len(),
        chosen.iter().map(|&i| steps[i]).sum(),
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
        chosen.len(),
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
        queue: Mutex::new(scan.to_train.iter().copied().collect()),
        stop: AtomicBool::new(false),
        reused: &scan.reused,
        finished: Mutex::new(BTreeMap::new()),
        elsewhere: Mutex::new(BTreeMap::new()),
        waiting: Mutex::new(BTreeSet::new()),
        chosen: chosen.iter().copied().collect(),
        ids: cells.iter().map(RunConfig::cell_id).collect(),
    };
    // Each worker trains on a rayon pool of its own, of the command's thread setting
    // (`worker_pool`): workers sharing one pool would take turns on its threads.
    let threads = thread_setting();
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let shared = &shared;
                scope.spawn(move || {
                    run_in_own_pool(&format!("sweep-worker{w}"), threads, || shared.work())?
                })
            })
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
    let Shared {
        finished,
        elsewhere,
        ..
    } = shared;
    let finished = finished.into_inner().map_err(|_| poisoned("results"))?;
    let trained = chosen.iter().filter(|i| finished.contains_key(i)).count();
    let mut all = scan.reused;
    all.extend(finished);
    all.extend(elsewhere.into_inner().map_err(|_| poisoned("results"))?);
    let records: Vec<RunRecord> = chosen.iter().filter_map(|i| all.remove(i)).collect();
    if records.len() != chosen.len() {
        return Err(Error::Internal(format!(
            "{} of {} cells have records after the sweep",
            records.len(),
            chosen.len()
        )));
    }
    Ok(SweepOutcome {
        dir: dir.to_owned(),
        trained,
        reused: records.len() - trained,
        records,
        quarantined: scan.quarantined,
    })
}
