//! Studies: the comparisons of the literature as regenerable reports. A study
//! ([`spec::StudySpec`]) is a set of sweeps; [`run_study`] trains them (resuming whatever is
//! already recorded) and writes the study's generated files: `tables.md` (every table that
//! does not depend on the machine), `timing.md` (wall-clock tables), the SVG plots, and the
//! outputs of each part's extra analysis. The study's README beside them is written by people
//! and quotes those files.

mod linear_front;
pub mod spec;

use std::path::{Path, PathBuf};

use mtl_reports::html::{Block, Page, PageSection};
use mtl_reports::report::Plot;
use mtl_reports::{candidate_ranks, search_trace, Report, RunRecord};

use crate::progress::ProgressMode;
use crate::results_dir::ResultsDir;
use crate::sweep::{run_sweep, SweepOptions};
use crate::trainer::RunEnv;
use crate::{Error, Result, SweepSpec};
pub use spec::{PartAnalysis, PartSpec, StudySpec};

/// How a study runs.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    /// Folder holding one folder per study (`reports/studies`).
    pub studies: PathBuf,
    /// The CI-sized variant of every part.
    pub quick: bool,
    /// Where the generated files go (default: the study's `out` for the full study,
    /// `results/studies/<name>-quick/report` for the quick one).
    pub out: Option<PathBuf>,
    /// Where the runs' records go [default: `results/studies/<name>[-quick]/runs`].
    pub runs: Option<PathBuf>,
    /// Device of every run.
    pub device: String,
    /// Cells trained side by side.
    pub workers: usize,
    /// Progress output.
    pub progress: ProgressMode,
    /// Methods in table row order.
    pub method_order: Vec<&'static str>,
    /// Only these parts (by name); empty = every part. The generated files then cover only
    /// them.
    pub parts: Vec<String>,
    /// Run a part whose sweep file changed into its runs folder: the cells both
    /// configurations share are reused, and the tables hold the current plan's records only.
    pub allow_config_change: bool,
    /// Train nothing: table the records already in each part's folder (read without its
    /// lock, so another process may be training the part meanwhile).
    pub recorded_only: bool,
}

/// The records of one part.
#[derive(Debug)]
pub struct PartOutcome {
    /// The part.
    pub part: PartSpec,
    /// Its records, plan order.
    pub records: Vec<RunRecord>,
    /// Cells of its plan without a record (only with [`StudyOptions::recorded_only`]).
    pub missing: usize,
}

/// What a study run did.
#[derive(Debug)]
pub struct StudyOutcome {
    /// Every part's records.
    pub parts: Vec<PartOutcome>,
    /// Generated files, in writing order.
    pub written: Vec<PathBuf>,
    /// Folder of the generated files.
    pub out: PathBuf,
}

/// Trains every part of study `name` (resuming recorded runs) and writes its generated files.
pub fn run_study(name: &str, options: &StudyOptions) -> Result<StudyOutcome> {
    let mut study = StudySpec::load(&options.studies, name)?;
    if let Some(unknown) = options
        .parts
        .iter()
        .find(|p| !study.parts.iter().any(|s| &s.name == *p))
    {
        return Err(Error::Config {
            path: "--part".into(),
            message: format!(
                "study {name} has no part `{unknown}`; its parts: {}",
                study
                    .parts
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    if !options.parts.is_empty() {
        study.parts.retain(|p| options.parts.contains(&p.name));
    }
    let suffix = if options.quick { "-quick" } else { "" };
    let base = PathBuf::from("results")
        .join("studies")
        .join(format!("{name}{suffix}"));
    let runs = options.runs.clone().unwrap_or_else(|| base.join("runs"));
    let out = options.out.clone().unwrap_or_else(|| {
        if options.quick {
            base.join("report")
        } else {
            study.out.clone()
        }
    });
    // Every sweep file is validated and every dataset opened before anything trains; only
    // reading the records needs no data.
    let mut opened = Vec::new();
    for part in &study.parts {
        let file = study.sweep_file(part, options.quick);
        let text =
            std::fs::read_to_string(&file).map_err(Error::input("reading sweep file", &file))?;
        let origin = file.display().to_string();
        let spec = SweepSpec::parse(&text, &origin)?;
        let opened_spec = if options.recorded_only {
            (spec.plan_without_data()?, Vec::new())
        } else {
            spec.open()?
        };
        opened.push((part, opened_spec, text, origin));
    }
    let env = RunEnv::on(&options.device, options.workers)?;
    let mut parts = Vec::new();
    for (part, (plan, datasets), text, origin) in opened {
        let folder = runs.join(&part.name);
        if options.recorded_only {
            // Read without the folder's lock; an unreadable record counts as missing.
            let cells = plan.cells();
            let records: Vec<RunRecord> = cells
                .iter()
                .filter_map(|c| ResultsDir::valid_record(&folder, c))
                .collect();
            if records.is_empty() {
                return Err(Error::Config {
                    path: folder.display().to_string(),
                    message: format!(
                        "part {} has no records there yet; run the study without \
                         --recorded-only to train it",
                        part.name
                    ),
                });
            }
            parts.push(PartOutcome {
                part: part.clone(),
                missing: cells.len() - records.len(),
                records,
            });
            continue;
        }
        let refs: Vec<&dyn mtl_datasets::Dataset> = datasets.iter().map(|d| d.as_ref()).collect();
        let sweep = SweepOptions {
            workers: options.workers,
            progress: options.progress,
            allow_config_change: options.allow_config_change,
            ..SweepOptions::new(origin, text)
        };
        let outcome = run_sweep(&plan, &refs, &folder, &env, &sweep)?;
        parts.push(PartOutcome {
            part: part.clone(),
            records: outcome.records,
            missing: 0,
        });
    }
    let readme = std::fs::read_to_string(out.join("README.md")).ok();
    let files = render(&study, &parts, options, readme.as_deref())?;
    let mut written = Vec::new();
    for (file, contents) in files {
        let path = out.join(file);
        mtl_reports::store::write_atomic(&path, contents.as_bytes())?;
        written.push(path);
    }
    Ok(StudyOutcome {
        parts,
        written,
        out,
    })
}

/// The generated files of a study (name → contents), byte-identical for the same records:
/// `tables.md` and `index.html` (the study's README, if its output folder has one, then every
/// part's tables and plots and the records' provenance), `timing.md` and the SVG plots.
pub fn render(
    study: &StudySpec,
    parts: &[PartOutcome],
    options: &StudyOptions,
    readme: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let command = format!(
        "mtlbench study {}{}",
        study_name(study),
        if options.quick { " --quick" } else { "" }
    );
    let variant = if options.quick {
        " (quick variant)"
    } else {
        ""
    };
    let mut tables = format!(
        "# {}{variant}: tables\n\nGenerated by `{command}` from the run records; regenerating \
         gives the same bytes. Wall-clock tables are in `timing.md`; every table and plot with \
         the provenance of the records is also in `index.html`.\n",
        study.title
    );
    let mut timing = format!(
        "# {}{variant}: wall-clock cost\n\nMachine-dependent.\n",
        study.title
    );
    let mut files = Vec::new();
    let mut sections = Vec::new();
    let mut provenance = Vec::new();
    for p in parts {
        let report = Report::build(&p.records, &options.method_order)?;
        tables.push_str(&format!("\n## {}\n\n", p.part.title));
        timing.push_str(&format!("\n## {}\n\n", p.part.title));
        let first = sections.len();
        let extra = analysis_blocks(p, options.quick)?;
        for mut section in report.page().sections {
            if section.heading == "Provenance" {
                section.heading = format!("Provenance: {}", p.part.title);
                provenance.push(section);
                continue;
            }
            section.heading = format!("{}: {}", p.part.title, section.heading);
            section.blocks.retain(|b| match b {
                Block::Table(sheet) if sheet.kind == "timing" => {
                    timing.push_str(&sheet.markdown());
                    timing.push('\n');
                    false
                }
                _ => true,
            });
            sections.push(section);
        }
        if !extra.is_empty() {
            sections.push(PageSection {
                heading: format!("{}: {}", p.part.title, "searches and analysis"),
                blocks: extra,
            });
        }
        for section in &mut sections[first..] {
            for block in &mut section.blocks {
                match block {
                    Block::Table(sheet) => {
                        tables.push_str(&sheet.markdown());
                        tables.push('\n');
                    }
                    Block::Plot(plot) => {
                        plot.file_name = format!("{}-{}", p.part.name, plot.file_name);
                        tables.push_str(&format!("![{}]({})\n\n", plot.title, plot.file_name));
                        files.push((plot.file_name.clone(), plot.svg.clone()));
                    }
                    Block::Prose(text) => {
                        tables.push_str(text);
                        tables.push_str("\n\n");
                    }
                }
            }
        }
    }
    sections.append(&mut provenance);
    let page = Page {
        title: format!("{}{variant}", study.title),
        intro: format!("Regenerated by `{command}`."),
        sections,
    };
    let page = match readme {
        Some(text) => page.with_readme(text),
        None => page,
    };
    let mut out = vec![
        ("tables.md".to_owned(), tables),
        ("timing.md".to_owned(), timing),
        ("index.html".to_owned(), page.render()?),
    ];
    out.append(&mut files);
    Ok(out)
}

/// The tables and plots of a part's extra analysis.
fn analysis_blocks(p: &PartOutcome, quick: bool) -> Result<Vec<Block>> {
    let mut blocks = Vec::new();
    match p.part.analysis {
        Some(PartAnalysis::SearchTrace) => {
            blocks.extend(
                search_trace::chosen_weights_sheet(&p.records)
                    .into_iter()
                    .chain(candidate_ranks::candidate_rank_sheets(&p.records))
                    .chain(search_trace::window_sheets(&p.records))
                    .map(Block::Table),
            );
            for plot in search_trace::window_plots(&p.records)? {
                blocks.push(Block::Plot(Plot {
                    file_name: format!("autoscale-windows-{}.svg", plot.slug),
                    title: format!("AutoScale windows, {}", plot.name),
                    svg: plot.svg,
                }));
            }
        }
        Some(PartAnalysis::LinearFront) => blocks = linear_front::blocks(&p.records, quick)?,
        None => {}
    }
    Ok(blocks)
}

fn study_name(study: &StudySpec) -> String {
    study
        .dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// Names of the studies in `studies`.
pub fn list(studies: &Path) -> Result<Vec<String>> {
    spec::list(studies)
}
