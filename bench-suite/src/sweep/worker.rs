//! The workers of a sweep: each takes cells off a shared queue and trains them under their
//! claims — first what a cell needs (single-task baselines, a shared weight search), trained
//! here unless another process holds it — and puts a cell held elsewhere at the back of the
//! queue.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mtl_datasets::Dataset;
use mtl_reports::store::record_file_name;
use mtl_reports::{write_record_atomic, RunRecord};

use super::{dataset_of, steps_of};
use crate::cell::{search_for, search_id, search_path, shared_search, train_cell, Baselines};
use crate::claim::{acquire, Alive, Attempt, Holder, Rules};
use crate::config::RunConfig;
use crate::plan::SweepPlan;
use crate::progress::SweepProgress;
use crate::results_dir::ResultsDir;
use crate::selection::Objective;
use crate::trainer::RunEnv;
use crate::{Error, Result};

/// How often a claim's heartbeat is rewritten.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// Seconds without a heartbeat after which another host's claim counts as abandoned.
pub const CLAIM_TIMEOUT_S: f64 = 600.0;

/// How long a worker waits before looking again at a cell that another process holds.
const POLL: Duration = Duration::from_millis(500);

/// What became of one attempt at a cell.
enum Step {
    /// Its record exists (trained now, or found).
    Done,
    /// Another worker or process holds it, or something it needs: try again later.
    Busy,
}

/// Everything the workers share.
pub(super) struct Shared<'a> {
    pub(super) plan: &'a SweepPlan,
    pub(super) cells: &'a [RunConfig],
    pub(super) datasets: &'a [&'a dyn Dataset],
    pub(super) folder: &'a ResultsDir,
    pub(super) env: &'a RunEnv,
    pub(super) progress: &'a SweepProgress,
    pub(super) queue: Mutex<VecDeque<usize>>,
    pub(super) stop: AtomicBool,
    /// Valid records found before the workers started.
    pub(super) reused: &'a BTreeMap<usize, RunRecord>,
    /// Records trained by this process.
    pub(super) finished: Mutex<BTreeMap<usize, RunRecord>>,
    /// Records another process finished meanwhile.
    pub(super) elsewhere: Mutex<BTreeMap<usize, RunRecord>>,
    /// Cells and searches already reported as waiting for another holder.
    pub(super) waiting: Mutex<BTreeSet<String>>,
    /// The plan indices asked for (others are trained only when those need them).
    pub(super) chosen: BTreeSet<usize>,
    /// The cells' ids, plan order.
    pub(super) ids: Vec<String>,
}

pub(super) fn poisoned(what: &str) -> Error {
    Error::Internal(format!("{what} poisoned"))
}

impl Shared<'_> {
    fn dataset_of(&self, run: &RunConfig) -> Result<&dyn Dataset> {
        dataset_of(self.plan, self.datasets, run)
    }

    /// Takes cells off the queue until it is empty, a stop signal arrives or a cell fails. A
    /// cell held elsewhere goes to the back of the queue.
    pub(super) fn work(&self) -> Result<()> {
        loop {
            crate::interrupt::check()?;
            if self.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let next = self
                .queue
                .lock()
                .map_err(|_| poisoned("queue"))?
                .pop_front();
            let Some(index) = next else {
                return Ok(());
            };
            match self.attempt(index) {
                Ok(Step::Done) => {}
                Ok(Step::Busy) => {
                    self.queue
                        .lock()
                        .map_err(|_| poisoned("queue"))?
                        .push_back(index);
                    std::thread::sleep(POLL);
                }
                Err(e) => {
                    self.stop.store(true, Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
    }

    /// The valid record of cell `index`, if there is one: known to this process, or written
    /// into the folder by another.
    fn record_of(&self, index: usize) -> Result<Option<RunRecord>> {
        if let Some(r) = self.reused.get(&index) {
            return Ok(Some(r.clone()));
        }
        if let Some(r) = self
            .finished
            .lock()
            .map_err(|_| poisoned("results"))?
            .get(&index)
        {
            return Ok(Some(r.clone()));
        }
        let mut elsewhere = self.elsewhere.lock().map_err(|_| poisoned("results"))?;
        if let Some(r) = elsewhere.get(&index) {
            return Ok(Some(r.clone()));
        }
        // Missing, or invalid: whoever claims the cell quarantines it and trains again.
        let Some(record) = ResultsDir::valid_record(self.folder.path(), &self.cells[index]) else {
            return Ok(None);
        };
        elsewhere.insert(index, record.clone());
        if self.chosen.contains(&index) {
            let cell = &self.cells[index];
            self.progress
                .done_elsewhere(steps_of(cell, self.dataset_of(cell)?));
        }
        Ok(Some(record))
    }

    /// Claims `key` (a cell id, or `search-<id>`) for this process, or says who holds it
    /// (once per key on the progress output) and returns `None`.
    fn claim(&self, key: &str, label: &str) -> Result<Option<Alive>> {
        let ended = crate::slurm::job_ended;
        let rules = Rules {
            timeout_s: CLAIM_TIMEOUT_S,
            job_ended: Some(&ended),
        };
        match acquire(self.folder.path(), key, Holder::this_process(), &rules)? {
            Attempt::Claimed(claim, took) => {
                if let Some((old, why)) = took {
                    self.folder.log(
                        "takeover",
                        key,
                        &format!("from {} ({why})", old.describe()),
                    )?;
                    self.progress.note(&format!(
                        "note: took over {label} from {} ({why})",
                        old.describe()
                    ));
                }
                Ok(Some(claim.keep_alive(HEARTBEAT)))
            }
            Attempt::Held(holder) => {
                if self
                    .waiting
                    .lock()
                    .map_err(|_| poisoned("waiting set"))?
                    .insert(key.to_owned())
                    && holder.pid != std::process::id()
                {
                    self.progress.note(&format!(
                        "waiting for {label}: claimed by {}",
                        holder.describe()
                    ));
                }
                Ok(None)
            }
        }
    }

    /// Makes sure the weight search of `cell`'s method, if it has one shared by every seed,
    /// is in the folder: found, or run now under its claim. `false` while another holds it.
    fn search_ready(
        &self,
        cell: &RunConfig,
        dataset: &dyn Dataset,
        baselines: &Baselines,
    ) -> Result<bool> {
        if shared_search(cell, dataset.tasks().len())?.is_none() {
            return Ok(true);
        }
        let path = search_path(self.folder.path(), cell);
        if path.exists() {
            return Ok(true);
        }
        let key = format!("search-{}", search_id(cell));
        let label = format!("the {} weight search on {}", cell.method.name, dataset.id());
        let Some(claim) = self.claim(&key, &label)? else {
            return Ok(false);
        };
        if !path.exists() {
            self.folder.log("start", &key, &label)?;
            self.progress.note(&format!("searching: {label}"));
            if let Err(e) = search_for(cell, dataset, self.env, Some(self.folder.path()), baselines)
            {
                self.log_failure(&key, &e);
                claim.finish()?;
                return Err(e);
            }
            self.folder.log("done", &key, &label)?;
        }
        claim.finish()?;
        Ok(true)
    }

    /// Journals why `key` stopped: interrupted, or failed with `e`. The journal may not be
    /// writable either (a full disk); the error is what matters then.
    fn log_failure(&self, key: &str, e: &Error) {
        let event = if crate::interrupt::requested().is_some() {
            "interrupted"
        } else {
            "failed"
        };
        let _ = self.folder.log(event, key, &e.to_string());
    }

    /// The single-task validation metrics `selection = "dm"` scores `cell` against: its own
    /// seed's baselines, or for a search shared by every seed the mean over the sweep's seeds.
    /// A baseline not yet recorded is trained now unless another holds it. `Ok(None)` while
    /// one is held elsewhere; `Ok(Some(None))` when not needed; `Err` when a baseline has no
    /// validation result.
    fn baselines(&self, cell: &RunConfig, dataset: &dyn Dataset) -> Result<Option<Baselines>> {
        if cell.train.selection != Objective::Dm
            || mtl_methods::is_single_task_baseline(&cell.method.name)
        {
            return Ok(Some(None));
        }
        let seeds = if shared_search(cell, dataset.tasks().len())?.is_some() {
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
                let index = self.ids.iter().position(|i| i == id).ok_or_else(|| {
                    Error::Internal(format!("baseline cell {id} is not in the plan"))
                })?;
                if let Step::Busy = self.attempt(index)? {
                    return Ok(None);
                }
                let record = self.record_of(index)?.ok_or_else(|| {
                    Error::Internal(format!("baseline cell {id} finished without a record"))
                })?;
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

    /// Trains cell `index` unless its record exists: first what it needs (baselines, the
    /// shared search), then the cell itself under its claim.
    fn attempt(&self, index: usize) -> Result<Step> {
        if self.record_of(index)?.is_some() {
            return Ok(Step::Done);
        }
        let cell = &self.cells[index];
        let id = &self.ids[index];
        let dataset = self.dataset_of(cell)?;
        let Some(baselines) = self.baselines(cell, dataset)? else {
            return Ok(Step::Busy);
        };
        if !self.search_ready(cell, dataset, &baselines)? {
            return Ok(Step::Busy);
        }
        let label = format!(
            "{} {} seed {} on {}",
            cell.method.name,
            cell.model,
            cell.seed,
            dataset.id()
        );
        let Some(claim) = self.claim(id, &label)? else {
            return Ok(Step::Busy);
        };
        // Finished by its previous holder between our look and our claim.
        if self.record_of(index)?.is_some() {
            claim.finish()?;
            return Ok(Step::Done);
        }
        let result = self.train(index, &label, dataset, &baselines);
        claim.finish()?;
        result.map(|()| Step::Done)
    }

    /// Trains cell `index` (claimed by this process) and writes its record.
    fn train(
        &self,
        index: usize,
        label: &str,
        dataset: &dyn Dataset,
        baselines: &Baselines,
    ) -> Result<()> {
        let cell = &self.cells[index];
        let id = &self.ids[index];
        // An invalid record (the valid ones were found above) is ours to replace.
        if self.folder.path().join(record_file_name(id)).exists() {
            if let Err(problem) = ResultsDir::check_record(self.folder.path(), cell) {
                let note = self.folder.set_aside(id, &problem)?;
                self.progress.note(&format!("warning: {note}"));
            }
        }
        let started = Instant::now();
        self.folder.log(
            "start",
            id,
            &format!("{label} by {}", Holder::this_process().describe()),
        )?;
        let steps = steps_of(cell, dataset);
        if !self.chosen.contains(&index) {
            self.progress.add_run(steps);
        }
        let mut run = self.progress.start_run(label, steps);
        let trained = train_cell(
            cell,
            dataset,
            self.env,
            Some(self.folder.path()),
            baselines,
            &mut || run.step(),
        );
        let mut record = match trained {
            Ok(record) => record,
            Err(e) => {
                self.log_failure(id, &e);
                return Err(e);
            }
        };
        record.stl_cells = self.plan.stl_cells(cell);
        if let Err(e) = write_record_atomic(self.folder.path(), &record) {
            let _ = self.folder.log("failed", id, &e.to_string());
            return Err(e.into());
        }
        crate::checkpoint::remove(&crate::checkpoint::path(self.folder.path(), cell))?;
        crate::checkpoint::remove(&crate::save_point::path(self.folder.path(), cell))?;
        let status = record.status.summary();
        self.folder.log("done", id, &status)?;
        tracing::info!(cell = %id, method = %cell.method.name, model = %cell.model, seed = cell.seed, "run finished");
        run.finish(
            label,
            &format!("{status} in {:.1} s", started.elapsed().as_secs_f64()),
        );
        self.finished
            .lock()
            .map_err(|_| poisoned("results"))?
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
