//! What a results folder holds, cell by cell, read without its lock (so it works while a
//! sweep or a job array writes it): done (a valid record), claimed (by whom, last heartbeat),
//! started (the journal's last word: training now, or interrupted), stopped at a step
//! boundary (a checkpoint), failed (the journal's message), or missing.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::claim::{claim_path, read_holder, Holder};
use crate::config::Named;
use crate::plan::SweepSpec;
use crate::results_dir::{ResultsDir, STATE_DIR};
use crate::{checkpoint, Result, RunConfig};

/// Where one cell stands.
#[derive(Debug, Clone, PartialEq)]
pub enum CellState {
    /// A valid record: its status (`completed`, `diverged at step N`).
    Done(String),
    /// A claim file: who holds it.
    Claimed(Holder),
    /// A checkpoint or a search's save point and no claim: stopped, resumes from it (the
    /// text says which).
    Stopped(&'static str),
    /// The journal's last event for the cell is a failure, with its message.
    Failed(String),
    /// The journal's last event for the cell is its start: training now, or interrupted
    /// (a local sweep claims no cells; its folder lock says whether one runs).
    Started,
    /// Nothing yet.
    Missing,
}

/// Every cell of a results folder's plan, plan order.
#[derive(Debug)]
pub struct FolderStatus {
    /// The results folder.
    pub dir: std::path::PathBuf,
    pub origin: String,
    pub cells: Vec<(RunConfig, CellState)>,
    /// Weight searches stopped part way: search id and trials finished (the next run
    /// replays them, see [`crate::trial_log`]).
    pub searches: Vec<(String, usize)>,
}

/// The trial logs of `dir`'s unfinished searches: (search id, trials logged), id order.
fn unfinished_searches(dir: &Path) -> Result<Vec<(String, usize)>> {
    let folder = dir.join(crate::cell::SEARCH_DIR);
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let (Some(id), Some(crate::trial_log::EXTENSION)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        if !folder.join(format!("{id}.json")).exists() {
            out.push((
                id.to_owned(),
                crate::trial_log::TrialLog::open(&path)?.len(),
            ));
        }
    }
    out.sort();
    Ok(out)
}

/// The journal's last event of each cell, with its detail.
fn last_events(dir: &Path) -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(dir.join(STATE_DIR).join("journal.log")).unwrap_or_default();
    let mut last = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(4, ' ').skip(1);
        if let (Some(event), Some(cell)) = (parts.next(), parts.next()) {
            let detail = parts.next().unwrap_or("").to_owned();
            last.insert(cell.to_owned(), (event.to_owned(), detail));
        }
    }
    last
}

/// Reads the state of every cell of the sweep stored in `dir` (its plan is rebuilt from the
/// stored sweep file without the data: a login node without the datasets can ask).
pub fn folder_status(dir: &Path) -> Result<FolderStatus> {
    let (stamp, config) = ResultsDir::stored(dir)?;
    let plan = SweepSpec::parse(&config, &stamp.origin)?.plan_without_data()?;
    let events = last_events(dir);
    let mut cells = Vec::new();
    for run in plan.cells() {
        let id = run.cell_id();
        let state = match ResultsDir::valid_record(dir, &run) {
            Some(r) => CellState::Done(r.status.summary()),
            None => match read_holder(&claim_path(dir, &id))? {
                Some(holder) => CellState::Claimed(holder),
                None if checkpoint::path(dir, &run).exists() => {
                    CellState::Stopped("stopped at a step boundary")
                }
                None if crate::save_point::path(dir, &run).exists() => CellState::Stopped(
                    "stopped in its PBT population (continues from its last save point)",
                ),
                None => match events.get(&id).map(|(e, d)| (e.as_str(), d)) {
                    Some(("failed", message)) => CellState::Failed(message.clone()),
                    Some(("start", _)) => CellState::Started,
                    _ => CellState::Missing,
                },
            },
        };
        cells.push((run, state));
    }
    Ok(FolderStatus {
        dir: dir.to_owned(),
        origin: stamp.origin,
        cells,
        searches: unfinished_searches(dir)?,
    })
}

impl FolderStatus {
    /// Cells per state: done, claimed, started, stopped, failed, missing.
    pub fn counts(&self) -> [usize; 6] {
        let mut n = [0; 6];
        for (_, state) in &self.cells {
            n[match state {
                CellState::Done(_) => 0,
                CellState::Claimed(_) => 1,
                CellState::Started => 2,
                CellState::Stopped(_) => 3,
                CellState::Failed(_) => 4,
                CellState::Missing => 5,
            }] += 1;
        }
        n
    }
}

impl fmt::Display for FolderStatus {
    /// The counts, then one line per cell that is not done.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [done, claimed, started, stopped, failed, missing] = self.counts();
        writeln!(
            f,
            "{} cells of {}: {done} done, {claimed} claimed, {started} started, {stopped} stopped (resume from checkpoints), {failed} failed, {missing} missing",
            self.cells.len(),
            self.origin
        )?;
        // The plan's distinct datasets, once: each line's label compares against them.
        let mut datasets: Vec<&Named> = Vec::new();
        for (run, _) in &self.cells {
            if !datasets.contains(&&run.dataset) {
                datasets.push(&run.dataset);
            }
        }
        for (run, state) in &self.cells {
            let what = match state {
                CellState::Done(_) => continue,
                CellState::Claimed(h) => format!(
                    "claimed by {}, heartbeat {:.0} s ago",
                    h.describe(),
                    h.heartbeat_age_s()
                ),
                CellState::Started => {
                    "started: training, or interrupted without a checkpoint".into()
                }
                CellState::Stopped(how) => (*how).into(),
                CellState::Failed(message) => format!("failed: {message}"),
                CellState::Missing => "missing".into(),
            };
            writeln!(
                f,
                "  {}  {} {} seed {} on {}: {what}",
                run.cell_id(),
                run.method.name,
                run.model,
                run.seed,
                dataset_label(&run.dataset, &datasets)
            )?;
        }
        for (id, trials) in &self.searches {
            writeln!(
                f,
                "  search {id}: stopped after {trials} finished trials (continues from them)"
            )?;
        }
        if done < self.cells.len() {
            writeln!(
                f,
                "finish with: mtlbench resume {} (it waits for cells that live tasks hold), or resubmit the array with mtlbench slurm",
                self.dir.display()
            )?;
        }
        Ok(())
    }
}

/// The dataset's name, with the parameters that tell it from the plan's other datasets of that
/// name (`multi-fashion (pair_seed=1)` where a study draws the pairs three ways).
fn dataset_label(dataset: &Named, plan: &[&Named]) -> String {
    let serde_json::Value::Object(params) = &dataset.params else {
        return dataset.name.clone();
    };
    let differing: Vec<String> = params
        .iter()
        .filter(|(key, value)| {
            plan.iter()
                .filter(|other| other.name == dataset.name)
                .any(|other| other.params.get(key.as_str()) != Some(*value))
        })
        .map(|(key, value)| format!("{key}={}", value.to_string().trim_matches('"')))
        .collect();
    if differing.is_empty() {
        dataset.name.clone()
    } else {
        format!("{} ({})", dataset.name, differing.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str, params: serde_json::Value) -> Named {
        Named {
            name: name.into(),
            params,
        }
    }

    #[test]
    fn a_dataset_is_named_with_what_tells_it_from_its_namesakes() {
        let draws: Vec<Named> = (0..3)
            .map(|d| {
                named(
                    "multi-fashion",
                    serde_json::json!({ "pair_seed": d, "source": "cache" }),
                )
            })
            .collect();
        let qm9 = named("qm9-11", serde_json::json!({ "source": "cache" }));
        let plan: Vec<&Named> = draws.iter().chain([&qm9]).collect();
        assert_eq!(
            dataset_label(&draws[1], &plan),
            "multi-fashion (pair_seed=1)"
        );
        assert_eq!(dataset_label(&qm9, &plan), "qm9-11");
        // Alone under its name, a dataset keeps the bare name.
        assert_eq!(dataset_label(&draws[0], &plan[..1]), "multi-fashion");
    }
}
