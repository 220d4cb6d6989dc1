//! The `mtlbench` binary: parses the command line and calls the library.

mod cli;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use cli::{
    CheckArgs, Cli, Command, DataArgs, DataCommand, ReportArgs, ResumeArgs, RunArgs, StudyArgs,
    SweepArgs,
};
use mtl_bench::config::{params_from_pairs, Named};
use mtl_bench::progress::ProgressMode;
use mtl_bench::stamp::{parse_device, stamp};
use mtl_bench::{
    interrupt, run_sweep, train_cell, RunConfig, RunEnv, SweepOptions, SweepSpec, TrainConfig,
    DEFAULT_SWEEP,
};
use mtl_datasets::hub::{commands as data_commands, HubOptions};

fn main() -> ExitCode {
    interrupt::default_sigpipe();
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        // candle sizes its thread pools from these on first use, which has not happened yet.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
    }
    tracing_subscriber::fmt()
        // Without MTLBENCH_LOG only errors are logged, and not hf-hub's own retry errors: every
        // failed download reaches the user as our error, with the file and the fix.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MTLBENCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error,hf_hub=off")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A stop signal ends whatever was running with some error; report the signal.
            if let Some(signal) = interrupt::requested() {
                eprintln!("error: {}", mtl_bench::Error::Interrupted { signal });
                return ExitCode::from(interrupt::exit_code(signal));
            }
            eprintln!("error: {}", error_chain(&err));
            ExitCode::from(exit_code(&err))
        }
    }
}

/// The error and its causes joined by `: `, leaving out a cause whose text the message before
/// it already shows (errors that print their source themselves).
fn error_chain(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

/// 2 for configuration, 3 for data missing or failing verification, 1 otherwise.
fn exit_code(err: &anyhow::Error) -> u8 {
    let data_error = err.downcast_ref::<mtl_datasets::Error>().or_else(|| {
        match err.downcast_ref::<mtl_bench::Error>() {
            Some(mtl_bench::Error::Dataset(e)) => Some(e),
            _ => None,
        }
    });
    if let Some(mtl_bench::Error::DataMissing { .. }) = err.downcast_ref::<mtl_bench::Error>() {
        return 3;
    }
    match data_error.and_then(|e| e.hub()) {
        Some(hub) if hub.is_config() => 2,
        Some(hub) if hub.is_data() => 3,
        Some(_) => 1,
        None if err
            .downcast_ref::<mtl_bench::Error>()
            .is_some_and(|e| e.is_config()) =>
        {
            2
        }
        None => 1,
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::List => {
            print!("{}", mtl_bench::catalog::listing());
            Ok(())
        }
        Command::Run(args) => {
            interrupt::install()?;
            run_one(args)
        }
        Command::Sweep(args) => {
            interrupt::install()?;
            sweep(args)
        }
        Command::Resume(args) => {
            interrupt::install()?;
            resume(args)
        }
        Command::Check(args) => check(args),
        Command::Report(args) => report(args),
        Command::Data(args) => data(args),
        Command::Study(args) => {
            interrupt::install()?;
            study(args)
        }
    }
}

/// Progress bars on a terminal, one line per run otherwise, or none.
fn progress_mode(quiet: bool) -> ProgressMode {
    if quiet {
        ProgressMode::Quiet
    } else if std::io::stderr().is_terminal() {
        ProgressMode::Bars
    } else {
        ProgressMode::Lines
    }
}

fn study(args: StudyArgs) -> anyhow::Result<()> {
    let Some(name) = args.name.filter(|_| !args.list) else {
        for name in mtl_bench::study::list(&args.studies)? {
            println!("{name}");
        }
        return Ok(());
    };
    let options = mtl_bench::study::StudyOptions {
        studies: args.studies,
        quick: args.quick,
        out: args.out,
        runs: args.runs,
        device: args.device,
        workers: args.jobs.into(),
        progress: progress_mode(args.quiet),
        method_order: method_order(),
        parts: args.parts,
        allow_config_change: args.allow_config_change,
    };
    let outcome = mtl_bench::study::run_study(&name, &options)?;
    let runs: usize = outcome.parts.iter().map(|p| p.records.len()).sum();
    for path in &outcome.written {
        println!("wrote {}", path.display());
    }
    println!(
        "study {name}: {} parts, {runs} runs; tables in {}",
        outcome.parts.len(),
        outcome.out.join("tables.md").display()
    );
    Ok(())
}

fn env(device: &str, workers: usize) -> anyhow::Result<RunEnv> {
    let device = parse_device(device)?;
    Ok(RunEnv {
        stamp: stamp(&device),
        device,
        workers,
    })
}

fn method_order() -> Vec<&'static str> {
    mtl_methods::METHODS.iter().map(|m| m.name).collect()
}

fn run_one(args: RunArgs) -> anyhow::Result<()> {
    let dataset = Named {
        name: args.dataset,
        params: params_from_pairs(&args.dataset_params, "--data")?,
    };
    let train_config =
        TrainConfig::from_params(&params_from_pairs(&args.train, "--train")?, "--train")?;
    let method_params = params_from_pairs(&args.method_params, "--param")?;
    let run = RunConfig::validated(
        dataset,
        &args.model,
        &args.method,
        &method_params,
        train_config,
        args.seed,
    )?;
    let env = env(&args.device, 1)?;
    let data = mtl_datasets::find(&run.dataset.name)
        .and_then(|d| d.build(&run.dataset.params))
        .map_err(mtl_bench::Error::from)?;
    let record = train_cell(
        &run,
        data.as_ref(),
        &env,
        Some(&args.out),
        &None,
        &mut || {},
    )?;
    let path =
        mtl_reports::write_record_atomic(&args.out, &record).map_err(mtl_bench::Error::from)?;
    mtl_bench::checkpoint::remove(&mtl_bench::checkpoint::path(&args.out, &run))?;
    print!("{}", mtl_reports::table::run_summary(&record));
    println!("record: {}", path.display());
    Ok(())
}

/// A sweep file's text, where it came from, and the name of its default results folder.
fn sweep_source(config: Option<&PathBuf>) -> anyhow::Result<(String, String, String)> {
    Ok(match config {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(mtl_bench::Error::io("reading sweep file", path))?,
            path.display().to_string(),
            path.file_stem()
                .map_or("sweep".into(), |s| s.to_string_lossy().into_owned()),
        ),
        None => (
            DEFAULT_SWEEP.to_owned(),
            "default sweep".to_owned(),
            "default".to_owned(),
        ),
    })
}

fn sweep(args: SweepArgs) -> anyhow::Result<()> {
    if args.print_default {
        print!("{DEFAULT_SWEEP}");
        return Ok(());
    }
    let (text, origin, name) = sweep_source(args.config.as_ref())?;
    sweep_text(text, origin, &name, args)
}

fn resume(args: ResumeArgs) -> anyhow::Result<()> {
    let (stamp, text) = mtl_bench::results_dir::ResultsDir::stored(&args.results)?;
    let origin = format!(
        "{} (stored in {})",
        stamp.origin,
        args.results
            .join(mtl_bench::results_dir::STATE_DIR)
            .join("config.toml")
            .display()
    );
    let sweep = SweepArgs {
        config: None,
        out: Some(args.results),
        device: Some(stamp.device),
        jobs: args.jobs,
        allow_config_change: false,
        print_default: false,
        quiet: args.quiet,
    };
    sweep_text(text, origin, "resumed", sweep)
}

/// Runs the sweep file `text` (from `origin`; `name` names its default results folder).
fn sweep_text(text: String, origin: String, name: &str, args: SweepArgs) -> anyhow::Result<()> {
    // Everything is validated and every dataset opened before anything is written.
    let spec = SweepSpec::parse(&text, &origin)?;
    let settings = spec.settings.clone();
    let device = args
        .device
        .or(settings.device)
        .unwrap_or_else(|| "cpu".into());
    let workers = args.jobs.map(usize::from).or(settings.workers).unwrap_or(1);
    let env = env(&device, workers)?;
    let (plan, datasets) = spec.open()?;
    let dir = args
        .out
        .or(settings.out)
        .unwrap_or_else(|| PathBuf::from("results").join(format!("{name}-{}", plan.id())));
    let progress = progress_mode(args.quiet);
    let options = SweepOptions {
        workers,
        progress,
        allow_config_change: args.allow_config_change,
        origin,
        config_text: text,
    };
    let refs: Vec<&dyn mtl_datasets::Dataset> = datasets.iter().map(|d| d.as_ref()).collect();
    let outcome = run_sweep(&plan, &refs, &dir, &env, &options).map_err(|e| match e {
        e @ (mtl_bench::Error::Locked { .. }
        | mtl_bench::Error::PlanChanged { .. }
        | mtl_bench::Error::Interrupted { .. }) => anyhow::Error::from(e),
        e => anyhow::Error::from(e).context(format!(
            "the sweep into {} stopped; the records written so far are kept, and running the same command again resumes it",
            dir.display()
        )),
    })?;
    let table = mtl_reports::comparison_table(&outcome.records, &method_order())
        .context("building the comparison table")?;
    println!("{table}");
    println!(
        "{} runs ({} trained, {} already recorded{}); records in {}",
        outcome.records.len(),
        outcome.trained,
        outcome.reused,
        if outcome.quarantined > 0 {
            format!(", {} invalid records quarantined", outcome.quarantined)
        } else {
            String::new()
        },
        outcome.dir.display()
    );
    println!(
        "regenerate this table with: mtlbench report {}",
        outcome.dir.display()
    );
    Ok(())
}

fn check(args: CheckArgs) -> anyhow::Result<()> {
    let (text, origin, _) = sweep_source(args.config.as_ref())?;
    mtl_bench::check::check(&text, &origin, &mut std::io::stdout())?;
    Ok(())
}

fn report(args: ReportArgs) -> anyhow::Result<()> {
    let records = mtl_reports::load_records(&args.results).map_err(mtl_bench::Error::from)?;
    let report =
        mtl_reports::Report::build(&records, &method_order()).map_err(mtl_bench::Error::from)?;
    match &args.out {
        Some(dir) => {
            println!("{}", report.comparison);
            for path in report
                .write(dir, args.format.into())
                .map_err(mtl_bench::Error::from)?
            {
                println!("wrote {}", path.display());
            }
        }
        None => print!(
            "{}",
            report
                .to_text(args.format.into())
                .map_err(mtl_bench::Error::from)?
        ),
    }
    Ok(())
}

fn data(args: DataArgs) -> anyhow::Result<()> {
    let mut opts = HubOptions::from_env();
    opts.cache_dir = args.cache_dir.or(opts.cache_dir);
    opts.endpoint = args.endpoint.or(opts.endpoint);
    opts.offline |= args.offline;
    opts.manifests = args.manifests.or(opts.manifests);
    let report = match args.command {
        DataCommand::List => data_commands::list(&opts),
        DataCommand::Fetch { names, revision } => {
            data_commands::fetch(&names, revision.as_deref(), &opts)
        }
        DataCommand::Import { name, path } => data_commands::import(&name, &path, &opts),
        DataCommand::Verify { names } => data_commands::verify(&names, &opts),
    }
    .map_err(mtl_datasets::Error::from)?;
    print!("{}", report.text);
    Ok(report.finish().map_err(mtl_datasets::Error::from)?)
}
