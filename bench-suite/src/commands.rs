//! The operations of the `mtlbench` command line as library calls: train one run, run or
//! resume a sweep, check a sweep file, load a report. The binary parses its arguments into
//! these requests and prints what they return; a Rust program calls them the same way.
//!
//! Threads: the binary sets `CANDLE_NUM_THREADS=1` (candle's element-wise pool, whose
//! spinning workers slow the matrix products on rayon's pool) and `RAYON_NUM_THREADS` from
//! `--threads`. A program gets the binary's speed by setting both before its first tensor
//! operation; results do not depend on them beyond float rounding.
//!
//! ```
//! use mtl_bench::commands::{run_one, sweep, SweepRequest, SweepSource};
//! use mtl_bench::config::Named;
//! use mtl_bench::{RunConfig, TrainConfig};
//!
//! # fn main() -> mtl_bench::Result<()> {
//! let out = tempfile::tempdir().expect("a temporary folder");
//! // One run: MGDA-UB on the synthetic linear tasks, one epoch.
//! let mut train = TrainConfig::default();
//! train.epochs = 1;
//! let dataset = Named { name: "synthetic-linear".into(), params: Default::default() };
//! let run = RunConfig::validated(dataset, "mlp-s", "mgda-ub", &Default::default(), train, 0)?;
//! let done = run_one(&run, "cpu", out.path())?;
//! assert!(done.path.exists() && done.record.completed());
//!
//! // A sweep file, trained into a results folder, with the comparison table.
//! let file = out.path().join("tiny.toml");
//! std::fs::write(&file, "seeds = [0]\nmodels = [\"linear-s\"]\n[dataset]\nname = \"synthetic-linear\"\n[train]\nepochs = 1\n[[methods]]\nname = \"uniform\"\n").unwrap();
//! let mut request = SweepRequest::new(SweepSource::File(file));
//! request.out = Some(out.path().join("tiny"));
//! let done = sweep(&request)?;
//! assert_eq!(done.outcome.trained, done.outcome.records.len());
//! assert!(done.table.to_string().contains("uniform"));
//! # Ok(())
//! # }
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use mtl_reports::RunRecord;

use crate::catalog::method_order;
use crate::plan::{SweepSpec, DEFAULT_SWEEP};
use crate::progress::ProgressMode;
use crate::results_dir::{PlanStamp, ResultsDir, Sharing, STATE_DIR};
use crate::sweep::{run_sweep, SweepOptions, SweepOutcome};
use crate::{checkpoint, train_cell, Error, Result, RunConfig, RunEnv};

/// A finished `run`: its record and where it was written.
#[derive(Debug)]
pub struct RunDone {
    pub record: RunRecord,
    pub path: PathBuf,
}

/// Trains `run` on `device` (`cpu`, `cuda`, `cuda:N`) and writes its record into `out`. A
/// checkpoint that an interrupted attempt left in `out` is resumed, then removed.
pub fn run_one(run: &RunConfig, device: &str, out: &Path) -> Result<RunDone> {
    let env = RunEnv::on(device, 1)?;
    let data = mtl_datasets::find(&run.dataset.name).and_then(|d| d.build(&run.dataset.params))?;
    let record = train_cell(run, data.as_ref(), &env, Some(out), &None, &mut || {})?;
    let path = mtl_reports::write_record_atomic(out, &record)?;
    checkpoint::remove(&checkpoint::path(out, run))?;
    checkpoint::remove(&crate::save_point::path(out, run))?;
    Ok(RunDone { record, path })
}

/// Where a sweep's configuration comes from.
#[derive(Debug, Clone)]
pub enum SweepSource {
    /// The embedded default sweep (README's first command).
    Default,
    /// A sweep file.
    File(PathBuf),
    /// The configuration stored in a results folder (resume): the folder and its device
    /// come with it.
    Stored(PathBuf),
}

/// A sweep's configuration text with what the messages and the folder's stamp call it.
struct SourceText {
    text: String,
    origin: String,
    /// Name of the default results folder (`results/<name>-<plan id>`).
    name: String,
    /// Folder and device fixed by the source (a stored sweep).
    out: Option<PathBuf>,
    device: Option<String>,
}

impl SweepSource {
    fn read(&self) -> Result<SourceText> {
        let text = |text: String, origin: String, name: &str| SourceText {
            text,
            origin,
            name: name.into(),
            out: None,
            device: None,
        };
        Ok(match self {
            SweepSource::Default => text(DEFAULT_SWEEP.into(), "default sweep".into(), "default"),
            SweepSource::File(path) => text(
                std::fs::read_to_string(path).map_err(Error::input("reading sweep file", path))?,
                path.display().to_string(),
                &path
                    .file_stem()
                    .map_or("sweep".into(), |s| s.to_string_lossy()),
            ),
            SweepSource::Stored(dir) => {
                let (stamp, stored) = ResultsDir::stored(dir)?;
                let file = dir.join(STATE_DIR).join("config.toml");
                SourceText {
                    origin: format!("{} (stored in {})", stamp.origin, file.display()),
                    out: Some(dir.clone()),
                    device: Some(stamp.device),
                    ..text(stored, String::new(), "resumed")
                }
            }
        })
    }
}

/// What to sweep and how; `None` fields fall back to the sweep file's settings, then to
/// the defaults (CPU, one worker, `results/<name>-<plan id>`).
#[derive(Debug, Clone)]
pub struct SweepRequest {
    pub source: SweepSource,
    /// Results folder.
    pub out: Option<PathBuf>,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: Option<String>,
    /// Cells trained side by side.
    pub workers: Option<usize>,
    pub progress: ProgressMode,
    /// Run into a folder made for another configuration (see [`ResultsDir::open`]).
    pub allow_config_change: bool,
}

impl SweepRequest {
    /// A request with every setting from the source or the defaults, and no progress output.
    pub fn new(source: SweepSource) -> Self {
        Self {
            source,
            out: None,
            device: None,
            workers: None,
            progress: ProgressMode::Quiet,
            allow_config_change: false,
        }
    }
}

/// A finished sweep and its comparison table.
#[derive(Debug)]
pub struct SweepDone {
    pub outcome: SweepOutcome,
    /// The comparison table of every record (`Display`: Markdown).
    pub table: mtl_reports::ComparisonTable,
}

/// A sweep ready to run: its plan, datasets opened, folder, device and options.
struct Prepared {
    plan: crate::SweepPlan,
    datasets: Vec<Box<dyn mtl_datasets::Dataset>>,
    dir: PathBuf,
    env: RunEnv,
    options: SweepOptions,
    settings: crate::plan::SweepSettings,
}

impl Prepared {
    /// Reads the request's configuration, validates it and opens every dataset; nothing is
    /// written.
    fn new(request: &SweepRequest) -> Result<Self> {
        let source = request.source.read()?;
        let spec = SweepSpec::parse(&source.text, &source.origin)?;
        let settings = spec.settings.clone();
        // The device, and where it was set (for an error about it).
        let (device, set_in) = match (&source.device, &request.device, &settings.device) {
            (Some(d), _, _) | (None, None, Some(d)) => {
                (d.clone(), format!("{}: device", source.origin))
            }
            (None, Some(d), _) => (d.clone(), "--device".to_owned()),
            (None, None, None) => ("cpu".to_owned(), "--device".to_owned()),
        };
        let workers = request.workers.or(settings.workers).unwrap_or(1);
        let env = RunEnv::on(&device, workers).map_err(|e| e.at(set_in))?;
        let (plan, datasets) = spec.open()?;
        let dir = (source.out.clone())
            .or(request.out.clone())
            .or(settings.out.clone())
            .unwrap_or_else(|| {
                PathBuf::from("results").join(format!("{}-{}", source.name, plan.id()))
            });
        let options = SweepOptions {
            workers,
            progress: request.progress,
            allow_config_change: request.allow_config_change,
            ..SweepOptions::new(source.origin, source.text)
        };
        Ok(Self {
            plan,
            datasets,
            dir,
            env,
            options,
            settings,
        })
    }

    fn run(&self) -> Result<SweepOutcome> {
        let refs: Vec<&dyn mtl_datasets::Dataset> =
            self.datasets.iter().map(|d| d.as_ref()).collect();
        run_sweep(&self.plan, &refs, &self.dir, &self.env, &self.options).map_err(|e| match e {
            e @ (Error::Locked { .. } | Error::PlanChanged { .. } | Error::Interrupted { .. }) => e,
            e => Error::SweepStopped {
                dir: self.dir.clone(),
                source: Box::new(e),
            },
        })
    }

    /// Stamps the folder with the plan (taking its lock for the moment) and lists the
    /// plan's cells in `sweep-state/cells.tsv`: index, cell id, method, model, seed, dataset.
    fn write_plan(&self) -> Result<PlanWritten> {
        let cells = self.plan.cells();
        let stamp = PlanStamp {
            plan_id: self.plan.id(),
            device: self.env.stamp.device.clone(),
            cells: cells.len(),
            origin: self.options.origin.clone(),
        };
        drop(ResultsDir::open(
            &self.dir,
            &stamp,
            &self.options.config_text,
            self.options.allow_config_change,
            Sharing::Lock,
        )?);
        let ids: Vec<String> = cells.iter().map(RunConfig::cell_id).collect();
        let mut tsv = String::from("index\tcell\tmethod\tmodel\tseed\tdataset\n");
        for (i, (c, id)) in cells.iter().zip(&ids).enumerate() {
            tsv.push_str(&format!(
                "{i}\t{id}\t{}\t{}\t{}\t{}\n",
                c.method.name, c.model, c.seed, c.dataset.name
            ));
        }
        mtl_reports::store::write_atomic(
            &self.dir.join(STATE_DIR).join("cells.tsv"),
            tsv.as_bytes(),
        )?;
        let done = cells
            .iter()
            .map(|c| ResultsDir::valid_record(&self.dir, c).is_some())
            .collect();
        Ok(PlanWritten {
            dir: self.dir.clone(),
            plan_id: stamp.plan_id,
            cells,
            done,
        })
    }
}

/// Runs (or resumes) a sweep: everything is validated and every dataset opened before
/// anything is written; finished records are kept across interruptions.
pub fn sweep(request: &SweepRequest) -> Result<SweepDone> {
    let outcome = Prepared::new(request)?.run()?;
    let table = mtl_reports::comparison_table(&outcome.records, &method_order())?;
    Ok(SweepDone { outcome, table })
}

/// A results folder stamped with its plan, ready for `run-cell` tasks.
#[derive(Debug)]
pub struct PlanWritten {
    pub dir: PathBuf,
    pub plan_id: String,
    /// The plan's cells, plan order (their index is what `run-cell --task` counts in).
    pub cells: Vec<RunConfig>,
    /// Whether each cell has a valid record already.
    pub done: Vec<bool>,
}

/// Writes a sweep's plan and cell list into its results folder without training
/// (`mtlbench sweep --plan-only`).
pub fn plan_only(request: &SweepRequest) -> Result<PlanWritten> {
    Prepared::new(request)?.write_plan()
}

/// Which cells of a stamped results folder `run-cell` trains.
#[derive(Debug, Clone)]
pub enum CellChoice {
    /// These cell ids.
    Ids(Vec<String>),
    /// Array task `task` of chunks of `chunk` cells, plan order.
    Task { task: usize, chunk: usize },
}

/// Trains some cells of the sweep stored in `dir` under per-cell claims, without the
/// folder's lock: one task of a job array (`mtlbench run-cell`). Cells already recorded are
/// skipped; cells another process holds are waited for.
pub fn run_cells(
    dir: &Path,
    choice: &CellChoice,
    workers: Option<usize>,
    progress: ProgressMode,
) -> Result<SweepOutcome> {
    let mut prepared = Prepared::new(&SweepRequest {
        workers,
        progress,
        ..SweepRequest::new(SweepSource::Stored(dir.to_owned()))
    })?;
    let cells = prepared.plan.cells();
    let only: Vec<usize> = match choice {
        CellChoice::Ids(ids) => ids
            .iter()
            .map(|id| {
                cells
                    .iter()
                    .position(|c| c.cell_id() == *id)
                    .ok_or_else(|| Error::Config {
                        path: id.clone(),
                        message: format!(
                        "no cell of the sweep in {} has this id; `mtlbench status {}` lists them",
                        dir.display(),
                        dir.display()
                    ),
                    })
            })
            .collect::<Result<_>>()?,
        CellChoice::Task { task, chunk } => {
            let range = crate::slurm::task_cells(*task, *chunk, cells.len());
            if range.is_empty() {
                return Err(Error::Config {
                    path: "--task".into(),
                    message: format!(
                        "task {task} with --chunk {chunk} has no cells: the plan has {} cells, \
                         so tasks 0..{}",
                        cells.len(),
                        crate::slurm::task_count(*chunk, cells.len())
                    ),
                });
            }
            range.collect()
        }
    };
    prepared.options.sharing = Sharing::Claims;
    prepared.options.only = Some(only);
    prepared.run()
}

/// What `mtlbench slurm` should do.
#[derive(Debug, Clone)]
pub struct SlurmRequest {
    /// The sweep (a file), folder, device.
    pub sweep: SweepRequest,
    /// Cells per array task (overrides `[slurm] chunk`).
    pub chunk: Option<usize>,
    /// `sbatch` options added after the file's.
    pub sbatch_args: Vec<String>,
    /// The `mtlbench` binary the tasks run.
    pub binary: PathBuf,
    /// Submit the script with `sbatch`.
    pub submit: bool,
}

/// A written (and perhaps submitted) job array.
#[derive(Debug)]
pub struct SlurmDone {
    pub plan: PlanWritten,
    /// Where the script was written, and its text.
    pub script_path: PathBuf,
    pub script: String,
    /// Array task indices in the script (those with cells left); empty when all are done.
    pub tasks: Vec<usize>,
    pub chunk: usize,
    /// The job id, when submitted.
    pub job: Option<String>,
    /// What looks wrong in the request but does not stop it (e.g. GPUs asked for a CPU plan).
    pub warnings: Vec<String>,
}

/// Writes the sweep's plan into its folder and an `sbatch --array` script beside it
/// (`<results>/slurm/sweep.sbatch`) whose tasks cover the cells not yet recorded; with
/// `submit`, submits it. Nothing is submitted when every cell is recorded.
pub fn slurm(request: &SlurmRequest) -> Result<SlurmDone> {
    for arg in &request.sbatch_args {
        crate::slurm::check_sbatch_arg(arg).map_err(|message| Error::Config {
            path: "--sbatch-arg".into(),
            message,
        })?;
    }
    if request.submit {
        // Before anything is written: a refused --submit creates nothing.
        crate::slurm::check_sbatch()?;
    }
    let prepared = Prepared::new(&request.sweep)?;
    let settings = &prepared.settings.slurm;
    let chunk = request.chunk.or(settings.chunk).unwrap_or(1).max(1);
    let plan = prepared.write_plan()?;
    let n = plan.cells.len();
    let tasks: Vec<usize> = (0..crate::slurm::task_count(chunk, n))
        .filter(|&t| crate::slurm::task_cells(t, chunk, n).any(|i| !plan.done[i]))
        .collect();
    let dir = std::path::absolute(&plan.dir).map_err(Error::io("resolving", &plan.dir))?;
    let binary =
        std::path::absolute(&request.binary).map_err(Error::io("resolving", &request.binary))?;
    let script = crate::slurm::ArrayJob {
        binary: &binary,
        dir: &dir,
        plan_id: &plan.plan_id,
        cells: n,
        chunk,
        tasks: &tasks,
        settings,
        extra_args: &request.sbatch_args,
    }
    .script();
    let script_path = plan.dir.join("slurm").join("sweep.sbatch");
    mtl_reports::store::write_atomic(&script_path, script.as_bytes())?;
    let device = &prepared.env.stamp.device;
    let gpus = settings.gpus.unwrap_or(0);
    let mut warnings = Vec::new();
    if device.starts_with("cuda") && gpus == 0 {
        warnings.push(format!(
            "the plan trains on {device} but the tasks ask for no GPU: add `gpus = 1` to the \
             sweep file's [slurm] table (or --sbatch-arg=--gres=gpu:1)"
        ));
    }
    if device == "cpu" && gpus > 0 {
        warnings.push(format!(
            "the tasks ask for {gpus} GPU(s) but the plan trains on cpu: set `device = \"cuda\"` \
             in the sweep file or pass --device cuda"
        ));
    }
    let job = if request.submit && !tasks.is_empty() {
        Some(crate::slurm::submit(&script_path)?)
    } else {
        None
    };
    Ok(SlurmDone {
        plan,
        script_path,
        script,
        tasks,
        chunk,
        job,
        warnings,
    })
}

/// Validates a sweep's configuration without training and writes what it found to `out`.
pub fn check(source: &SweepSource, out: &mut dyn Write) -> Result<()> {
    let source = source.read()?;
    crate::check::check(&source.text, &source.origin, &source.name, out)
}

/// The report of the records in `results`, methods in registry order.
pub fn report(results: &Path) -> Result<mtl_reports::Report> {
    let records = mtl_reports::load_records(results)?;
    Ok(mtl_reports::Report::build(&records, &method_order())?)
}
