//! Running a sweep: every cell of a [`SweepPlan`], one record file each.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mtl_datasets::Split;
use mtl_reports::store::{read_record, record_file_name};
use mtl_reports::{write_record_atomic, RunRecord};

use crate::cell::{search_id, train_cell, SEARCH_DIR};
use crate::config::SweepPlan;
use crate::trainer::RunEnv;
use crate::{Error, Result};

/// What a finished sweep did.
#[derive(Debug)]
pub struct SweepOutcome {
    /// Folder holding the records.
    pub dir: PathBuf,
    /// Every cell's record, plan order.
    pub records: Vec<RunRecord>,
    /// Cells trained by this invocation.
    pub trained: usize,
    /// Cells whose valid record was already in the folder.
    pub reused: usize,
}

/// Runs every cell of `plan`, writing `<cell_id>.json` into `dir`. A cell whose record is
/// already there and valid is not trained again. `progress` shows a bar on a terminal.
pub fn run_sweep(
    plan: &SweepPlan,
    dir: &Path,
    env: &RunEnv,
    progress: bool,
) -> Result<SweepOutcome> {
    let dataset = mtl_datasets::find(&plan.dataset.name)?.build(&plan.dataset.params)?;
    let cells = plan.cells();
    std::fs::create_dir_all(dir).map_err(Error::io("creating results folder", dir))?;
    let steps_per_run = plan.train.epochs
        * dataset
            .split_len(Split::Train)
            .div_ceil(plan.train.batch_size) as usize;
    let bar = if progress {
        ProgressBar::with_draw_target(
            Some((cells.len() * steps_per_run) as u64),
            ProgressDrawTarget::stderr(),
        )
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} steps, eta {eta} {msg}",
        )
        .expect("static progress template"),
    );
    let mut records = Vec::with_capacity(cells.len());
    let (mut trained, mut reused) = (0, 0);
    for (i, cell) in cells.iter().enumerate() {
        let id = cell.cell_id();
        let path = dir.join(record_file_name(&id));
        if let Ok(existing) = read_record(&path) {
            if existing.cell_id == id {
                tracing::info!(cell = %id, "record exists; not training again");
                bar.inc(steps_per_run as u64);
                records.push(existing);
                reused += 1;
                continue;
            }
        }
        let searching = !dir
            .join(SEARCH_DIR)
            .join(format!("{}.json", search_id(cell)))
            .exists()
            && mtl_methods::find(&cell.method.name)?
                .search(&cell.method.params, plan.num_tasks)?
                .is_some();
        bar.set_message(format!(
            "[{}/{}] {} {} seed {}{}",
            i + 1,
            cells.len(),
            cell.method.name,
            cell.model,
            cell.seed,
            if searching {
                " (searching weights, once per method and model)"
            } else {
                ""
            }
        ));
        let start = bar.position();
        let mut record = train_cell(cell, dataset.as_ref(), env, Some(dir), &mut || bar.inc(1))?;
        record.stl_cells = plan.stl_cells(cell);
        bar.set_position(start + steps_per_run as u64);
        write_record_atomic(dir, &record)?;
        tracing::info!(cell = %id, method = %cell.method.name, model = %cell.model, seed = cell.seed, "run finished");
        records.push(record);
        trained += 1;
    }
    bar.finish_and_clear();
    Ok(SweepOutcome {
        dir: dir.to_owned(),
        records,
        trained,
        reused,
    })
}
