//! The `mtlbench` binary: parses the command line and calls the library.

mod cli;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use cli::{Cli, Command, DataArgs, DataCommand, ReportArgs, RunArgs, SweepArgs};
use mtl_bench::config::{params_from_pairs, Named};
use mtl_bench::stamp::{parse_device, stamp};
use mtl_bench::{run_sweep, train_cell, RunConfig, RunEnv, SweepPlan, TrainConfig, DEFAULT_SWEEP};
use mtl_datasets::hub::{commands as data_commands, HubOptions};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        // candle sizes its thread pools from these on first use, which has not happened yet.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("MTLBENCH_LOG"))
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

/// 2 for configuration, 3 for data missing or failing verification, 1 otherwise.
fn exit_code(err: &anyhow::Error) -> u8 {
    let data_error = err.downcast_ref::<mtl_datasets::Error>().or_else(|| {
        match err.downcast_ref::<mtl_bench::Error>() {
            Some(mtl_bench::Error::Dataset(e)) => Some(e),
            _ => None,
        }
    });
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
        Command::Run(args) => run_one(args),
        Command::Sweep(args) => sweep(args),
        Command::Report(args) => report(args),
        Command::Data(args) => data(args),
    }
}

fn env(device: &str) -> anyhow::Result<RunEnv> {
    let device = parse_device(device)?;
    Ok(RunEnv {
        stamp: stamp(&device),
        device,
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
    let env = env(&args.device)?;
    let data = mtl_datasets::find(&run.dataset.name)
        .and_then(|d| d.build(&run.dataset.params))
        .map_err(mtl_bench::Error::from)?;
    let record = train_cell(&run, data.as_ref(), &env, Some(&args.out), &mut || {})?;
    let path =
        mtl_reports::write_record_atomic(&args.out, &record).map_err(mtl_bench::Error::from)?;
    print!("{}", mtl_reports::table::run_summary(&record));
    println!("record: {}", path.display());
    Ok(())
}

fn sweep(args: SweepArgs) -> anyhow::Result<()> {
    if args.print_default {
        print!("{DEFAULT_SWEEP}");
        return Ok(());
    }
    let (text, origin, name) = match &args.config {
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
    };
    let plan = SweepPlan::from_toml(&text, &origin)?;
    let env = env(&args.device)?;
    let dir = args
        .out
        .unwrap_or_else(|| PathBuf::from("results").join(format!("{name}-{}", plan.id())));
    let progress = !args.quiet && std::io::stderr().is_terminal();
    let outcome = run_sweep(&plan, &dir, &env, progress)?;
    let table = mtl_reports::comparison_table(&outcome.records, &method_order())
        .context("building the comparison table")?;
    println!("{table}");
    println!();
    println!(
        "{} runs ({} trained, {} already recorded); records in {}",
        outcome.records.len(),
        outcome.trained,
        outcome.reused,
        outcome.dir.display()
    );
    println!(
        "regenerate this table with: mtlbench report {}",
        outcome.dir.display()
    );
    Ok(())
}

fn report(args: ReportArgs) -> anyhow::Result<()> {
    let records = mtl_reports::load_records(&args.results).map_err(mtl_bench::Error::from)?;
    let table =
        mtl_reports::comparison_table(&records, &method_order()).map_err(mtl_bench::Error::from)?;
    println!("{table}");
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
