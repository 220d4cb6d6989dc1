//! One cell end to end: run the method's weight search if it has one (cached per method and
//! model in the results folder, shared by every seed), then train and stamp the record.

use std::path::{Path, PathBuf};

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mtl_datasets::{Dataset, Split};
use mtl_methods::search::SearchOutcome;
use mtl_methods::uniform::FixedWeights;
use mtl_methods::{Method, Weights};
use mtl_reports::record::{
    DataFileInfo, DatasetInfo, MethodInfo, ModelInfo, SearchBudget, SearchRecord, TaskInfo,
    TaskResult, Timing,
};
use mtl_reports::{RunRecord, SCHEMA_VERSION};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checkpoint;
use crate::config::RunConfig;
use crate::model::ModelSpec;
use crate::save_point::SavePoints;
use crate::search::SessionBackend;
use crate::trainer::{RunEnv, Session, TrainedRun};
use crate::trial_log::TrialLog;
use crate::{Error, Result};

/// Folder (inside a results folder) holding finished searches.
pub const SEARCH_DIR: &str = "searches";

#[derive(Serialize)]
struct SearchKey<'a> {
    dataset: &'a crate::config::Named,
    model: &'a str,
    method: &'a crate::config::Named,
    train: &'a crate::config::TrainConfig,
}

/// Hash of what a search depends on: everything of the cell but its seed.
pub fn search_id(run: &RunConfig) -> String {
    let key = SearchKey {
        dataset: &run.dataset,
        model: &run.model,
        method: &run.method,
        train: &run.train,
    };
    let json = serde_json::to_string(&key).expect("search key serialises");
    Sha256::digest(json.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn search_record(id: String, outcome: SearchOutcome, backend: &SessionBackend<'_>) -> SearchRecord {
    SearchRecord {
        id,
        weights: outcome.weights,
        score: outcome.score.is_finite().then_some(outcome.score),
        rule: outcome.rule,
        budget: SearchBudget {
            trainings: outcome.budget.trainings,
            steps: outcome.budget.steps,
            schedule_steps: outcome.budget.schedule_steps,
            encoder_backward: backend.encoder_backward(),
            includes_run: outcome.member.is_some(),
        },
        history: outcome.history,
        wall_s: Some(backend.clock().spent().seconds),
    }
}

/// Single-task baselines' validation metrics, task order, for `selection = "dm"`.
pub type Baselines = Option<Vec<f64>>;

/// The weight search of `run`'s method (on `tasks` tasks) when one search serves every seed;
/// `None` for online methods and for searches whose result is their own member (those run
/// inside [`train_cell`], once per seed).
pub fn shared_search(
    run: &RunConfig,
    tasks: usize,
) -> Result<Option<Box<dyn mtl_methods::search::WeightSearch>>> {
    let spec = mtl_methods::find(&run.method.name)?;
    Ok(spec
        .search(&run.method.params, tasks)?
        .filter(|search| !search.keeps_member()))
}

/// How often a search whose result is its own member keeps a save point (at most).
const SAVE_POINT_EVERY: Duration = Duration::from_secs(120);

/// Where results folder `dir` keeps the shared search of `run`.
pub fn search_path(dir: &Path, run: &RunConfig) -> PathBuf {
    dir.join(SEARCH_DIR)
        .join(format!("{}.json", search_id(run)))
}

/// The trial log beside the search record at `path` (`<id>.trials`).
pub fn trial_log_path(path: &Path) -> PathBuf {
    path.with_extension(crate::trial_log::EXTENSION)
}

/// The search of `run`'s method, from `cache` if it holds it, else run now (and stored there).
/// `None` where [`shared_search`] has none.
pub fn search_for(
    run: &RunConfig,
    dataset: &dyn Dataset,
    env: &RunEnv,
    cache: Option<&Path>,
    baselines: &Baselines,
) -> Result<Option<SearchRecord>> {
    let Some(mut search) = shared_search(run, dataset.tasks().len())? else {
        return Ok(None);
    };
    let id = search_id(run);
    let path = cache.map(|dir| search_path(dir, run));
    if let Some(path) = &path {
        if let Ok(bytes) = std::fs::read(path) {
            match serde_json::from_slice::<SearchRecord>(&bytes) {
                Ok(found) if found.id == id && found.weights.len() == dataset.tasks().len() => {
                    // A trial log left by a process that died after writing the record.
                    TrialLog::remove_at(&trial_log_path(path))?;
                    return Ok(Some(found));
                }
                _ => {
                    tracing::warn!(path = %path.display(), "ignoring an unreadable search record; searching again")
                }
            }
        }
    }
    let model = ModelSpec::parse(&run.model)?;
    let mut backend = SessionBackend::new(dataset, model, run.train.clone(), env.device.clone(), 0)
        .with_baselines(baselines.clone());
    // Trials finished before an interruption are replayed, not trained again.
    if let (Some(path), true) = (&path, search.replays_trials()) {
        backend = backend.with_trial_log(TrialLog::open(&trial_log_path(path))?);
    }
    let outcome = search.run(&mut backend, 0)?;
    let found = search_record(id, outcome, &backend);
    if let Some(path) = &path {
        let bytes = serde_json::to_vec_pretty(&found).expect("search records serialise");
        mtl_reports::store::write_atomic(path, &bytes)?;
        if let Some(log) = backend.into_trial_log() {
            log.remove()?;
        }
    }
    Ok(Some(found))
}

/// A search whose result is its own trained member (PBT with `pbt_result = "member"`), run
/// for `run`'s seed: the member's finished training and the search record.
fn member_search(
    run: &RunConfig,
    dataset: &dyn Dataset,
    env: &RunEnv,
    cache: Option<&Path>,
    mut search: Box<dyn mtl_methods::search::WeightSearch>,
    baselines: &Baselines,
    clock: &mut RunClock,
) -> Result<(TrainedRun, SearchRecord)> {
    let model = ModelSpec::parse(&run.model)?;
    let mut backend = SessionBackend::new(
        dataset,
        model,
        run.train.clone(),
        env.device.clone(),
        run.seed,
    )
    .with_baselines(baselines.clone())
    .with_clock(*clock);
    // The population continues from its last save point, if it was cut before.
    if let Some(dir) = cache {
        let path = crate::save_point::path(dir, run);
        backend = backend.with_save_points(SavePoints::new(path, run, SAVE_POINT_EVERY)?);
    }
    let outcome = search.run(&mut backend, run.seed)?;
    // A population continued from a save point counts the time spent before it.
    *clock = backend.clock();
    let member = outcome.member.ok_or_else(|| {
        Error::Internal(format!("the search of {} kept no member", run.method.name))
    })?;
    let session = backend.take(member)?;
    let found = search_record(search_id(run), outcome, &backend);
    Ok((session.finish()?, found))
}

/// Trains `run` (after its search, if any) and returns its record. `cache` is the results
/// folder whose `searches/` holds shared searches; `baselines` are the single-task validation
/// metrics that `selection = "dm"` needs.
pub fn train_cell(
    run: &RunConfig,
    dataset: &dyn Dataset,
    env: &RunEnv,
    cache: Option<&Path>,
    baselines: &Baselines,
    on_step: &mut dyn FnMut(),
) -> Result<RunRecord> {
    let spec = mtl_methods::find(&run.method.name)?;
    let k = dataset.tasks().len();
    if let Some(search) = spec.search(&run.method.params, k)? {
        if search.keeps_member() {
            // The run is the search's member: its time is the whole population's.
            let mut clock = RunClock::start(env.workers);
            let (done, found) =
                member_search(run, dataset, env, cache, search, baselines, &mut clock)?;
            let model = ModelSpec::parse(&run.model)?;
            let found = SearchRecord {
                wall_s: None,
                ..found
            };
            return Ok(record(run, dataset, env, &model, done, Some(found), &clock));
        }
    }
    let search = search_for(run, dataset, env, cache, baselines)?;
    // The run's own time; a search it needed is charged in `timing.search_s`.
    let mut clock = RunClock::start(env.workers);
    let method: Box<dyn Method> = match &search {
        Some(s) => Box::new(FixedWeights::new(
            Weights::simplex(s.weights.clone()).map_err(Error::from)?,
        )),
        None => spec.build(&run.method.params, k)?,
    };
    let model = ModelSpec::parse(&run.model)?;
    let mut session = Session::new(dataset, &model, method, &run.train, run.seed, &env.device)?;
    if let Some(b) = baselines {
        session.set_baselines(b.clone())?;
    }
    if session.needs_baselines() {
        return Err(Error::Config {
            path: "train.selection".into(),
            message: "`dm` selects on validation Δm against the single-task baselines, which \
                      only a sweep with `stl = true` trains; use `metric` or `loss` for a single run"
                .into(),
        });
    }
    // A run without a search continues from its checkpoint, if it was interrupted before,
    // and leaves one if it is interrupted now (removed by the caller once the record is
    // written).
    let checkpoint = cache
        .filter(|_| search.is_none())
        .map(|dir| checkpoint::path(dir, run));
    if let Some(path) = &checkpoint {
        if let Some(earlier) = checkpoint::resume(path, run, &mut session)? {
            clock.continue_from(earlier);
        }
    }
    let remaining = session.total_steps() - session.steps_done();
    match session.train_steps(remaining, on_step) {
        Err(e @ Error::Interrupted { .. }) => {
            if let Some(path) = &checkpoint {
                checkpoint::save(path, run, &session, clock.spent())?;
            }
            return Err(e);
        }
        other => other?,
    }
    let done = session.finish()?;
    Ok(record(run, dataset, env, &model, done, search, &clock))
}

/// When a run started: wall-clock for the record, monotonic for its duration (plus the time
/// spent in earlier processes, for a run continued from a checkpoint); and whether the
/// peak-memory counter was reset for it.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    started_unix: f64,
    elapsed: Instant,
    earlier_s: f64,
    peak_rss_of_run: bool,
}

/// The time a run has spent so far, across the processes that trained it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spent {
    /// When the run's first process started it, seconds since the Unix epoch.
    pub started_unix: f64,
    /// Seconds spent training it, all processes together.
    pub seconds: f64,
}

impl RunClock {
    /// Starts the clock now. With one run at a time (`workers` ≤ 1) the process's peak-memory
    /// counter is reset too, so the record's peak is this run's.
    pub fn start(workers: usize) -> Self {
        Self {
            peak_rss_of_run: workers <= 1 && crate::stamp::reset_peak_rss(),
            ..Self::now()
        }
    }

    /// A clock started now that leaves the peak-memory counter alone (a part of a run).
    pub fn now() -> Self {
        Self {
            started_unix: unix_now(),
            elapsed: Instant::now(),
            earlier_s: 0.0,
            peak_rss_of_run: false,
        }
    }

    /// Counts `earlier` (what a checkpoint says the run spent before) as part of this run.
    pub fn continue_from(&mut self, earlier: Spent) {
        self.started_unix = earlier.started_unix;
        self.earlier_s = earlier.seconds;
    }

    /// The run's time so far.
    pub fn spent(&self) -> Spent {
        Spent {
            started_unix: self.started_unix,
            seconds: self.earlier_s + self.elapsed.elapsed().as_secs_f64(),
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
            files: dataset
                .files()
                .into_iter()
                .map(|f| DataFileInfo {
                    path: f.path,
                    size: f.size,
                    sha256: f.sha256,
                })
                .collect(),
            split_seed: dataset.split_seed(),
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
        selection: done.selection,
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
        timing: timing(&done.step_ms, clock, env.workers, &search),
        search: search.map(|s| SearchRecord { wall_s: None, ..s }),
    }
}

fn timing(
    step_ms: &[f64],
    clock: &RunClock,
    workers: usize,
    search: &Option<SearchRecord>,
) -> Timing {
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
        total_s: clock.spent().seconds,
        started_unix: clock.started_unix,
        finished_unix: unix_now(),
        peak_rss_bytes: crate::stamp::peak_rss_bytes(),
        peak_rss_scope: if clock.peak_rss_of_run {
            "run"
        } else {
            "process"
        }
        .into(),
        workers,
        search_s: search.as_ref().and_then(|s| s.wall_s).unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Named, TrainConfig};
    use candle_core::Device;
    use mtl_datasets::{SyntheticLinear, SyntheticLinearConfig};

    fn pbt_record(result: &str, seed: u64) -> RunRecord {
        let ds = SyntheticLinear::new(SyntheticLinearConfig {
            tasks: 2,
            dim: 8,
            train: 256,
            val: 128,
            test: 64,
            task_scales: vec![1.0, 3.0],
            ..Default::default()
        })
        .unwrap();
        let run = RunConfig::validated(
            Named {
                name: "synthetic-linear".into(),
                params: serde_json::json!({"tasks": 2, "dim": 8, "train": 256, "val": 128, "test": 64, "task_scales": [1.0, 3.0]}),
            },
            "mlp-xs",
            "tuned",
            &serde_json::json!({"strategy": "pbt", "population": 4, "ready": 8, "pbt_result": result}),
            TrainConfig {
                epochs: 3,
                batch_size: 32,
                lr: 0.02,
                ..Default::default()
            },
            seed,
        )
        .unwrap();
        let env = RunEnv {
            device: Device::Cpu,
            stamp: crate::stamp::stamp(&Device::Cpu),
            workers: 1,
        };
        train_cell(&run, &ds, &env, None, &None, &mut || {}).unwrap()
    }

    #[test]
    fn pbt_keeps_its_winning_member_with_the_population_as_its_budget() {
        let r = pbt_record("member", 0);
        let search = r.search.as_ref().unwrap();
        let schedule = 3 * 8;
        assert!(search.budget.includes_run);
        assert_eq!(search.budget.trainings, 4);
        assert_eq!(search.budget.steps, 4 * schedule);
        assert_eq!(search.budget.encoder_backward, 4 * schedule);
        assert_eq!(
            r.cost.steps, schedule,
            "the record is one member's training"
        );
        assert_eq!(r.epochs.len(), 3, "its lineage's epoch logs");
        assert!(r.selected_epoch >= 1);
        assert!(search.wall_s.is_none() && r.timing.search_s == 0.0 && r.timing.total_s > 0.0);
        assert!(search.history["schedule"].as_array().is_some());
        // PBT runs per seed: another seed, another population.
        let other = pbt_record("member", 1);
        assert_ne!(other.search.as_ref().unwrap().history, search.history);
    }

    #[test]
    fn pbt_retrain_retrains_the_final_weights_on_top_of_the_search() {
        let r = pbt_record("retrain", 0);
        let search = r.search.as_ref().unwrap();
        assert!(!search.budget.includes_run);
        assert_eq!(search.budget.trainings, 4);
        for (used, chosen) in r.weights.last.iter().zip(&search.weights) {
            assert_eq!(used, chosen, "trained with the chosen weights");
        }
    }
}
