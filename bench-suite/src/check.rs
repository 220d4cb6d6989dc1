//! `mtlbench check`: a sweep file validated without training or writing anything — its
//! settings, method entries and grid points, every dataset opened (or what data it lacks),
//! and the number of runs.

use std::io::Write;

use mtl_datasets::Dataset;

use crate::plan::SweepSpec;
use crate::{Error, Result};

/// Checks the sweep file `text` (from `origin`; `name` names its default results folder)
/// and writes what it found to `out`, ending with the verdict once every check has passed. A
/// configuration mistake is an [`Error::Config`]; datasets whose data cannot be loaded are
/// listed with their own errors, then reported as [`Error::DataMissing`].
pub fn check(text: &str, origin: &str, name: &str, out: &mut dyn Write) -> Result<()> {
    let spec = SweepSpec::parse(text, origin)?;
    let io = |e| Error::io("writing the check report", "stdout")(e);
    writeln!(out, "{origin}:").map_err(io)?;
    let settings = &spec.settings;
    let device = settings.device.clone().unwrap_or_else(|| "cpu".into());
    // The device the sweep would open: one this build or machine lacks fails here too.
    crate::stamp::parse_device(&device).map_err(|e| e.at(format!("{origin}: device")))?;
    let workers = settings.workers.unwrap_or(1);
    let chosen_out = settings.out.clone();
    for line in spec.describe_methods() {
        writeln!(out, "  {line}").map_err(io)?;
    }
    let mut opened: Vec<Box<dyn Dataset>> = Vec::new();
    let mut missing = Vec::new();
    for (i, named) in spec.datasets.iter().enumerate() {
        match spec.open_dataset(i) {
            Ok(ds) => {
                let files = ds.files().len();
                let data = if files == 0 {
                    "generated, no data files needed".to_owned()
                } else {
                    format!("{files} data files present and verified")
                };
                writeln!(
                    out,
                    "  dataset {} ({}): {} tasks; {data}",
                    named.name,
                    ds.id(),
                    ds.tasks().len()
                )
                .map_err(io)?;
                opened.push(ds);
            }
            Err(e) if e.is_config() => return Err(e),
            Err(e) => {
                writeln!(out, "  dataset {}: needs data: {e}", named.name).map_err(io)?;
                missing.push(named.name.clone());
            }
        }
    }
    if !missing.is_empty() {
        return Err(Error::DataMissing {
            missing: missing.join(", "),
            total: spec.datasets.len(),
        });
    }
    let refs: Vec<&dyn Dataset> = opened.iter().map(|d| d.as_ref()).collect();
    let plan = spec.plan(&refs)?;
    let cells = plan.cells();
    let stl = cells
        .iter()
        .filter(|c| mtl_methods::is_single_task_baseline(&c.method.name))
        .count();
    writeln!(
        out,
        "  {} runs: {} datasets × {} methods × {} × {} seeds, plus {stl} single-task baselines; plan {}",
        cells.len(),
        plan.datasets.len(),
        plan.methods
            .iter()
            .filter(|m| !mtl_methods::is_single_task_baseline(&m.name))
            .count(),
        if plan.datasets.iter().all(|d| d.models.len() == plan.models.len()) {
            format!("{} models", plan.models.len())
        } else {
            "per-dataset models".to_owned()
        },
        plan.seeds.len(),
        plan.id()
    )
    .map_err(io)?;
    let results = chosen_out.map_or_else(
        || format!("results/{name}-{} (--out to choose)", plan.id()),
        |o| o.display().to_string(),
    );
    writeln!(
        out,
        "  device {device}, {workers} run(s) at a time, results in {results}"
    )
    .map_err(io)?;
    writeln!(out, "{origin}: the configuration is valid").map_err(io)?;
    Ok(())
}
