//! The operations of the `mtlbench` command line as library calls: train one run, run or
//! resume a sweep, check a sweep file, load a report. The binary parses its arguments into
//! these requests and prints what they return; a Rust program calls them the same way.
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
use crate::results_dir::{ResultsDir, STATE_DIR};
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
                std::fs::read_to_string(path).map_err(Error::io("reading sweep file", path))?,
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

/// Runs (or resumes) a sweep: everything is validated and every dataset opened before
/// anything is written; finished records are kept across interruptions.
pub fn sweep(request: &SweepRequest) -> Result<SweepDone> {
    let source = request.source.read()?;
    let spec = SweepSpec::parse(&source.text, &source.origin)?;
    let settings = spec.settings.clone();
    let device = (source.device.clone())
        .or(request.device.clone())
        .or(settings.device)
        .unwrap_or_else(|| "cpu".into());
    let workers = request.workers.or(settings.workers).unwrap_or(1);
    let env = RunEnv::on(&device, workers)?;
    let (plan, datasets) = spec.open()?;
    let dir = (source.out.clone())
        .or(request.out.clone())
        .or(settings.out)
        .unwrap_or_else(|| PathBuf::from("results").join(format!("{}-{}", source.name, plan.id())));
    let options = SweepOptions {
        workers,
        progress: request.progress,
        allow_config_change: request.allow_config_change,
        origin: source.origin,
        config_text: source.text,
    };
    let refs: Vec<&dyn mtl_datasets::Dataset> = datasets.iter().map(|d| d.as_ref()).collect();
    let outcome = run_sweep(&plan, &refs, &dir, &env, &options).map_err(|e| match e {
        e @ (Error::Locked { .. } | Error::PlanChanged { .. } | Error::Interrupted { .. }) => e,
        e => Error::SweepStopped {
            dir: dir.clone(),
            source: Box::new(e),
        },
    })?;
    let table = mtl_reports::comparison_table(&outcome.records, &method_order())?;
    Ok(SweepDone { outcome, table })
}

/// Validates a sweep's configuration without training and writes what it found to `out`.
pub fn check(source: &SweepSource, out: &mut dyn Write) -> Result<()> {
    let source = source.read()?;
    crate::check::check(&source.text, &source.origin, out)
}

/// The report of the records in `results`, methods in registry order.
pub fn report(results: &Path) -> Result<mtl_reports::Report> {
    let records = mtl_reports::load_records(results)?;
    Ok(mtl_reports::Report::build(&records, &method_order())?)
}
