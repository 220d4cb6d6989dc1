//! The `mtlbench` binary: parses the command line, calls the library (one call per
//! command, [`mtl_bench::commands`] and friends), prints what it returns, and maps the
//! error's kind to the exit code.

mod cli;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;
use cli::{
    CheckArgs, Cli, Command, DataArgs, DataCommand, ReportArgs, ResumeArgs, RunArgs, RunCellArgs,
    SlurmArgs, StatusArgs, StudyArgs,
};
use mtl_bench::catalog::method_order;
use mtl_bench::commands::{self, SweepRequest, SweepSource};
use mtl_bench::config::{params_from_pairs, Named};
use mtl_bench::progress::ProgressMode;
use mtl_bench::worker_pool;
use mtl_bench::{interrupt, ErrorKind, Result, RunConfig, TrainConfig, DEFAULT_SWEEP};
use mtl_datasets::hub::{commands as data_commands, HubOptions};

fn main() -> ExitCode {
    interrupt::default_sigpipe();
    let cli = Cli::parse();
    // candle sizes its thread pools from these on first use, which has not happened yet.
    // Matrix products and the fused CPU ops run on rayon's pool (`--threads`). candle's own
    // pool for element-wise ops spins between kernels beside it, which cost the MLP step a
    // quarter of its time on 2 cores (bench-suite/compare/results/speed-mlp-w512.md): it
    // gets one thread, the caller's, unless CANDLE_NUM_THREADS says otherwise. Records do
    // not change (element-wise results do not depend on the split).
    if let Some(n) = cli.threads {
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
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
    // The command runs on a rayon pool of its own (`worker_pool`): its parallel loops then
    // start from a pool thread, not by handing work over from this one.
    let threads = worker_pool::thread_setting();
    match worker_pool::run_in_own_pool("mtlbench", threads, || run(cli)).and_then(|r| r) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let err = err.or_interrupted();
            eprintln!("error: {}", error_chain(&err));
            ExitCode::from(exit_code(err.kind()))
        }
    }
}

/// The exit codes, documented in `mtlbench --help` and README.
fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Failure => 1,
        ErrorKind::Config => 2,
        ErrorKind::Data => 3,
        ErrorKind::Interrupted(signal) => interrupt::exit_code(signal),
    }
}

/// The error and its causes joined by `: `, leaving out a cause whose text the message before
/// it already shows (errors that print their source themselves).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = e.source();
    }
    out
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::List => {
            print!("{}", mtl_bench::catalog::listing());
            Ok(())
        }
        Command::Run(args) => {
            interrupt::install()?;
            run_one(args)
        }
        Command::Sweep(args) if args.print_default => {
            print!("{DEFAULT_SWEEP}");
            Ok(())
        }
        Command::Sweep(args) => {
            interrupt::install()?;
            let source = args.config.map_or(SweepSource::Default, SweepSource::File);
            let request = SweepRequest {
                source,
                out: args.out,
                device: args.device,
                workers: args.jobs.map(usize::from),
                progress: ProgressMode::auto(args.quiet),
                allow_config_change: args.allow_config_change,
            };
            if args.plan_only {
                let plan = commands::plan_only(&request)?;
                print_plan(&plan);
                return Ok(());
            }
            sweep(request)
        }
        Command::RunCell(args) => {
            interrupt::install()?;
            run_cell(args)
        }
        Command::Slurm(args) => slurm(args),
        Command::Resume(ResumeArgs {
            results,
            jobs,
            quiet,
        }) => {
            interrupt::install()?;
            sweep(SweepRequest {
                workers: jobs.map(usize::from),
                progress: ProgressMode::auto(quiet),
                ..SweepRequest::new(SweepSource::Stored(results))
            })
        }
        Command::Status(StatusArgs { results }) => {
            print!("{}", mtl_bench::status::folder_status(&results)?);
            Ok(())
        }
        Command::Check(CheckArgs { config }) => {
            let source = config.map_or(SweepSource::Default, SweepSource::File);
            commands::check(&source, &mut std::io::stdout())
        }
        Command::Report(args) => report(args),
        Command::Data(args) => data(args),
        Command::Study(args) => {
            interrupt::install()?;
            study(args)
        }
    }
}

fn run_one(args: RunArgs) -> Result<()> {
    let dataset = Named {
        name: args.dataset,
        params: params_from_pairs(&args.dataset_params, "--data")?,
    };
    let train = TrainConfig::from_params(&params_from_pairs(&args.train, "--train")?, "--train")?;
    let method_params = params_from_pairs(&args.method_params, "--param")?;
    let run = RunConfig::validated(
        dataset,
        &args.model,
        &args.method,
        &method_params,
        train,
        args.seed,
    )?;
    let done = commands::run_one(&run, &args.device, &args.out)?;
    print!("{}", mtl_reports::table::run_summary(&done.record));
    println!("record: {}", done.path.display());
    Ok(())
}

fn sweep(request: SweepRequest) -> Result<()> {
    let done = commands::sweep(&request)?;
    let outcome = &done.outcome;
    println!("{}", done.table);
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

fn print_plan(plan: &commands::PlanWritten) {
    let done = plan.done.iter().filter(|&&d| d).count();
    println!(
        "plan {}: {} cells ({done} already recorded) in {}; cell list in {}",
        plan.plan_id,
        plan.cells.len(),
        plan.dir.display(),
        plan.dir
            .join(mtl_bench::results_dir::STATE_DIR)
            .join("cells.tsv")
            .display()
    );
}

fn run_cell(args: RunCellArgs) -> Result<()> {
    let choice = match args.task {
        Some(task) => commands::CellChoice::Task {
            task,
            chunk: args.chunk as usize,
        },
        None => commands::CellChoice::Ids(args.cells),
    };
    let outcome = commands::run_cells(
        &args.results,
        &choice,
        args.jobs.map(usize::from),
        ProgressMode::auto(args.quiet),
    )?;
    println!(
        "{} cells ({} trained here, {} recorded already or by another task) in {}",
        outcome.records.len(),
        outcome.trained,
        outcome.reused,
        outcome.dir.display()
    );
    Ok(())
}

fn slurm(args: SlurmArgs) -> Result<()> {
    let binary = std::env::current_exe()
        .map_err(|e| mtl_bench::Error::Internal(format!("cannot find this binary: {e}")))?;
    let done = commands::slurm(&commands::SlurmRequest {
        sweep: SweepRequest {
            out: args.out,
            device: args.device,
            allow_config_change: args.allow_config_change,
            ..SweepRequest::new(SweepSource::File(args.config))
        },
        chunk: args.chunk.map(|c| c as usize),
        sbatch_args: args.sbatch_args,
        binary,
        submit: args.submit,
    })?;
    print_plan(&done.plan);
    for warning in &done.warnings {
        eprintln!("warning: {warning}");
    }
    if done.tasks.is_empty() {
        println!("every cell is recorded: nothing to submit");
        return Ok(());
    }
    println!(
        "wrote {} ({} array tasks, {} cells each):\n",
        done.script_path.display(),
        done.tasks.len(),
        done.chunk
    );
    print!("{}", done.script);
    match &done.job {
        Some(job) => println!(
            "\nsubmitted job {job}; follow it with: mtlbench status {}",
            done.plan.dir.display()
        ),
        None => println!("\nsubmit it with: sbatch {}", done.script_path.display()),
    }
    Ok(())
}

fn study(args: StudyArgs) -> Result<()> {
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
        progress: ProgressMode::auto(args.quiet),
        method_order: method_order(),
        parts: args.parts,
        allow_config_change: args.allow_config_change,
        recorded_only: args.recorded_only,
    };
    let outcome = mtl_bench::study::run_study(&name, &options)?;
    for part in outcome.parts.iter().filter(|p| p.missing > 0) {
        eprintln!(
            "note: part {}: {} of {} cells have no record yet and are left out of the tables",
            part.part.name,
            part.missing,
            part.missing + part.records.len()
        );
    }
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

fn report(args: ReportArgs) -> Result<()> {
    let report = commands::report(&args.results)?;
    let format = args.format.into();
    match &args.out {
        Some(dir) => {
            println!("{}", report.comparison);
            for path in report.write(dir, format)? {
                println!("wrote {}", path.display());
            }
        }
        None => print!("{}", report.to_text(format)?),
    }
    Ok(())
}

fn data(args: DataArgs) -> Result<()> {
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
