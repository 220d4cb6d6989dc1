//! A results folder as a sweep uses it: the lock, the plan it was made for, the journal of
//! run events, and the scan that sorts the plan's cells into valid records (reused) and
//! cells to train (missing, or invalid records, which are moved to `quarantine/`): a valid
//! record reads, holds its cell's id and describes its cell's run.
//!
//! Layout: `<cell id>.json` records, `searches/` (shared weight searches), `quarantine/`
//! (invalid records, each with a `.reason.txt`), and `sweep-state/` holding `lock`,
//! `plan.json` (plan id, device, cell count), `config.toml` (the sweep file it was made
//! from) and `journal.log` (one line per event: `<unix time> <event> <cell id> <detail to the end of the
//! line>`).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use mtl_reports::store::{
    quarantine, read_record, record_file_name, remove_stale_temps, write_atomic,
};
use mtl_reports::RunRecord;
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::lock::DirLock;
use crate::{Error, Result};

/// Folder (inside a results folder) of the sweep's own files.
pub const STATE_DIR: &str = "sweep-state";

/// What a results folder was made for; a resume must match it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStamp {
    /// Hash of the plan's cell ids.
    pub plan_id: String,
    /// Device the records are trained on.
    pub device: String,
    /// Number of cells.
    pub cells: usize,
    /// Where the configuration came from (a file name, or `default sweep`).
    pub origin: String,
}

impl PlanStamp {
    fn describe(&self) -> String {
        format!(
            "plan {} ({} cells from {}, device {})",
            self.plan_id, self.cells, self.origin, self.device
        )
    }
}

/// How a process shares a results folder with others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// `mtlbench sweep`, `resume` and `study`: the folder's lock (one such process per
    /// folder), and a claim per cell, which lets tasks of a job array write the folder too.
    Lock,
    /// `mtlbench run-cell`: claims only, no lock, so many processes on many hosts share the
    /// folder. The folder must hold its plan already (`mtlbench sweep --plan-only`).
    Claims,
}

/// An open results folder: locked, or shared under per-cell claims.
#[derive(Debug)]
pub struct ResultsDir {
    dir: PathBuf,
    lock: Option<DirLock>,
    journal: Mutex<File>,
}

/// The cells of a plan sorted by what their folder holds.
#[derive(Debug, Default)]
pub struct Scan {
    /// Valid records by plan index.
    pub reused: BTreeMap<usize, RunRecord>,
    /// Plan indices to train, plan order.
    pub to_train: Vec<usize>,
    /// Human-readable notes: quarantined records, removed temp files.
    pub notes: Vec<String>,
    /// Invalid records moved to quarantine.
    pub quarantined: usize,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl ResultsDir {
    /// Creates `dir` if needed, takes its lock (with [`Sharing::Lock`]), and checks that it
    /// was made for `stamp` (or is new). A folder made for another plan or device is refused
    /// with [`Error::PlanChanged`] unless `allow_change`, which re-stamps it. `config` (the
    /// sweep file's text) is kept beside the stamp. With [`Sharing::Claims`] the folder must
    /// already be stamped with this plan, and nothing of the stamp is rewritten.
    pub fn open(
        dir: &Path,
        stamp: &PlanStamp,
        config: &str,
        allow_change: bool,
        sharing: Sharing,
    ) -> Result<Self> {
        let state = dir.join(STATE_DIR);
        let plan_path = state.join("plan.json");
        let found: Option<PlanStamp> = std::fs::read(&plan_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        if sharing == Sharing::Claims {
            match &found {
                Some(found) if found.plan_id == stamp.plan_id && found.device == stamp.device => {}
                Some(found) => {
                    return Err(Error::PlanChanged {
                        folder: dir.to_owned(),
                        found: found.describe(),
                        expected: stamp.describe(),
                    })
                }
                None => {
                    return Err(Error::Config {
                        path: dir.display().to_string(),
                        message: format!(
                            "holds no sweep plan; write it first with `mtlbench sweep FILE --plan-only --out {}`",
                            dir.display()
                        ),
                    })
                }
            }
        }
        std::fs::create_dir_all(&state).map_err(Error::io("creating results folder", &state))?;
        let lock = match sharing {
            Sharing::Lock => Some(DirLock::acquire(&state.join("lock"), dir)?),
            Sharing::Claims => None,
        };
        let journal_path = state.join("journal.log");
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_path)
            .map_err(Error::io("opening journal", &journal_path))?;
        let opened = Self {
            dir: dir.to_owned(),
            lock,
            journal: Mutex::new(journal),
        };
        // Temp files of writes a crash cut short (records are handled by `scan`, which
        // reports them).
        for folder in [state.clone(), dir.join(crate::cell::SEARCH_DIR)] {
            if folder.is_dir() {
                remove_stale_temps(&folder)?;
            }
        }
        if let Some(pid) = opened.lock_taken_over() {
            opened.log(
                "lock-taken-over",
                "-",
                &format!("pid {pid} is no longer running"),
            )?;
        }
        match found {
            Some(found) if found == *stamp => {}
            Some(found) if found.plan_id == stamp.plan_id && found.device == stamp.device => {}
            Some(found) if !allow_change => {
                return Err(Error::PlanChanged {
                    folder: dir.to_owned(),
                    found: found.describe(),
                    expected: stamp.describe(),
                })
            }
            found => {
                if let Some(found) = found {
                    opened.log("config-changed", "-", &found.describe())?;
                }
                let bytes = serde_json::to_vec_pretty(stamp).expect("plan stamp serialises");
                write_atomic(&plan_path, &bytes)?;
                write_atomic(&state.join("config.toml"), config.as_bytes())?;
            }
        }
        Ok(opened)
    }

    /// The plan stamp and sweep file a results folder was made with (read without the lock),
    /// for `mtlbench resume`.
    pub fn stored(dir: &Path) -> Result<(PlanStamp, String)> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::Config {
                path: dir.display().to_string(),
                message: "is a file, not a sweep results folder; give the folder `mtlbench \
                          sweep` wrote (its --out)"
                    .into(),
            });
        }
        let state = dir.join(STATE_DIR);
        let not_a_sweep = |what: &str| {
            Error::Config {
            path: dir.display().to_string(),
            message: format!(
                "not a sweep results folder ({what}); resume a folder that `mtlbench sweep` wrote, or start one with `mtlbench sweep FILE --out {}`",
                dir.display()
            ),
        }
        };
        let plan = std::fs::read(state.join("plan.json"))
            .map_err(|e| not_a_sweep(&format!("cannot read {STATE_DIR}/plan.json: {e}")))?;
        let stamp: PlanStamp = serde_json::from_slice(&plan)
            .map_err(|e| not_a_sweep(&format!("{STATE_DIR}/plan.json is damaged: {e}")))?;
        let config = std::fs::read_to_string(state.join("config.toml"))
            .map_err(|e| not_a_sweep(&format!("cannot read {STATE_DIR}/config.toml: {e}")))?;
        Ok((stamp, config))
    }

    /// The record file of `cell` in `dir` if it is a valid record of that cell; otherwise
    /// why not (it cannot be read, it belongs to another cell, or it describes another run
    /// than the cell: an edited seed, method setting or training setting).
    pub fn check_record(dir: &Path, cell: &RunConfig) -> std::result::Result<RunRecord, String> {
        let id = cell.cell_id();
        let record = read_record(&dir.join(record_file_name(&id))).map_err(|e| e.to_string())?;
        if record.cell_id != id {
            return Err(format!(
                "the file holds the record of cell {}, not of cell {id}",
                record.cell_id
            ));
        }
        match differing_field(&record, cell) {
            Some((field, recorded, planned)) => Err(format!(
                "its {field} is {recorded}, but cell {id} has {planned}: the record was edited or \
                 describes another run"
            )),
            None => Ok(record),
        }
    }

    /// The valid record of `cell` in `dir`, if there is one (read without the lock).
    pub fn valid_record(dir: &Path, cell: &RunConfig) -> Option<RunRecord> {
        Self::check_record(dir, cell).ok()
    }

    /// Moves cell `id`'s invalid record file to `quarantine/` beside the reason `problem`
    /// and journals it; returns the note that tells the user.
    pub fn set_aside(&self, id: &str, problem: &str) -> Result<String> {
        let path = self.dir.join(record_file_name(id));
        let moved = quarantine(&self.dir, &path, problem)?;
        self.log("quarantined", id, problem)?;
        Ok(format!(
            "invalid record {} ({problem}); moved to {}; the run is trained again",
            path.display(),
            moved.display()
        ))
    }

    /// The pid of an earlier holder of the lock that had died, if the lock was taken over.
    pub fn lock_taken_over(&self) -> Option<u32> {
        self.lock.as_ref().and_then(|l| l.taken_over)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Appends `<unix time> <event> <cell> <detail>` to the journal (`detail` on one line).
    pub fn log(&self, event: &str, cell: &str, detail: &str) -> Result<()> {
        let line = format!(
            "{} {event} {cell} {}\n",
            unix_now(),
            detail.replace('\n', " ")
        );
        let mut file = self
            .journal
            .lock()
            .map_err(|_| Error::Internal("journal lock poisoned".into()))?;
        file.write_all(line.as_bytes())
            .map_err(Error::io("writing journal", self.dir.join(STATE_DIR)))
    }

    /// Sorts the `chosen` plan indices of `cells` into reused records and cells to train.
    /// Leftover temp files of a crashed writer are removed; a record that cannot be read or
    /// belongs to another cell is moved to `quarantine/` with the reason, and its cell is
    /// trained again. Records the journal does not list as done (their writer died between
    /// rename and journal line) are noted there as `recovered`.
    pub fn scan(&self, cells: &[RunConfig], chosen: &[usize]) -> Result<Scan> {
        let mut scan = Scan::default();
        for path in remove_stale_temps(&self.dir)? {
            scan.notes.push(format!(
                "removed {}, left by an interrupted write",
                path.display()
            ));
        }
        let done = self.journaled_done();
        for &i in chosen {
            let id = cells[i].cell_id();
            let path = self.dir.join(record_file_name(&id));
            if !path.exists() {
                scan.to_train.push(i);
                continue;
            }
            let problem = match Self::check_record(&self.dir, &cells[i]) {
                Ok(record) => {
                    if !done.contains(&id) {
                        self.log("recovered", &id, "record present, journal line missing")?;
                    }
                    scan.reused.insert(i, record);
                    continue;
                }
                Err(problem) => problem,
            };
            if self.lock.is_none() {
                // Another process may hold the cell: whoever claims it quarantines the file.
                scan.to_train.push(i);
                continue;
            }
            scan.notes.push(self.set_aside(&id, &problem)?);
            scan.quarantined += 1;
            scan.to_train.push(i);
        }
        Ok(scan)
    }

    /// Cell ids with a `done` or `recovered` line in the journal.
    fn journaled_done(&self) -> std::collections::BTreeSet<String> {
        let text = std::fs::read_to_string(self.dir.join(STATE_DIR).join("journal.log"))
            .unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut parts = l.split_whitespace().skip(1);
                match (parts.next(), parts.next()) {
                    (Some("done" | "recovered"), Some(id)) => Some(id.to_owned()),
                    _ => None,
                }
            })
            .collect()
    }
}

/// The first field in which `record` differs from what `cell` defines, as (field, recorded,
/// planned). The training settings are compared key by key as the cell serialises them, so
/// a record written before a setting existed is not refused for lacking it.
fn differing_field(record: &RunRecord, cell: &RunConfig) -> Option<(String, String, String)> {
    fn differs<T: PartialEq + std::fmt::Display>(
        field: &str,
        recorded: &T,
        planned: &T,
    ) -> Option<(String, String, String)> {
        (recorded != planned).then(|| (field.to_owned(), recorded.to_string(), planned.to_string()))
    }
    let train = serde_json::to_value(&cell.train).unwrap_or_default();
    let mut train_fields = train.as_object().into_iter().flatten();
    differs("seed", &record.seed, &cell.seed)
        .or_else(|| differs("model", &record.model.name, &cell.model))
        .or_else(|| differs("method", &record.method.name, &cell.method.name))
        .or_else(|| differs("method config", &record.method.config, &cell.method.params))
        .or_else(|| {
            differs(
                "dataset config",
                &record.dataset.config,
                &cell.dataset.params,
            )
        })
        .or_else(|| {
            train_fields.find_map(|(key, planned)| {
                differs(&format!("train.{key}"), record.train.get(key)?, planned)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(plan_id: &str, origin: &str) -> PlanStamp {
        PlanStamp {
            plan_id: plan_id.into(),
            device: "cpu".into(),
            cells: 3,
            origin: origin.into(),
        }
    }

    #[test]
    fn a_folder_keeps_its_plan_and_refuses_another_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let res = dir.path().join("res");
        drop(
            ResultsDir::open(
                &res,
                &stamp("aaaa", "a.toml"),
                "seeds = [0]",
                false,
                Sharing::Lock,
            )
            .unwrap(),
        );
        // The same plan from a copy of the file under another name is the same sweep.
        drop(
            ResultsDir::open(
                &res,
                &stamp("aaaa", "copy.toml"),
                "seeds = [0]",
                false,
                Sharing::Lock,
            )
            .unwrap(),
        );
        match ResultsDir::open(
            &res,
            &stamp("bbbb", "b.toml"),
            "seeds = [1]",
            false,
            Sharing::Lock,
        ) {
            Err(Error::PlanChanged {
                found, expected, ..
            }) => {
                assert!(
                    found.contains("plan aaaa") && found.contains("a.toml"),
                    "{found}"
                );
                assert!(expected.contains("plan bbbb"), "{expected}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let (kept, config) = ResultsDir::stored(&res).unwrap();
        assert_eq!(
            (kept.plan_id.as_str(), config.as_str()),
            ("aaaa", "seeds = [0]")
        );
        drop(
            ResultsDir::open(
                &res,
                &stamp("bbbb", "b.toml"),
                "seeds = [1]",
                true,
                Sharing::Lock,
            )
            .unwrap(),
        );
        let (now, config) = ResultsDir::stored(&res).unwrap();
        assert_eq!(
            (now.plan_id.as_str(), config.as_str()),
            ("bbbb", "seeds = [1]")
        );
        let journal = std::fs::read_to_string(res.join(STATE_DIR).join("journal.log")).unwrap();
        assert!(journal.contains(" config-changed - plan aaaa"), "{journal}");
    }

    #[test]
    fn a_device_change_is_a_changed_plan() {
        let dir = tempfile::tempdir().unwrap();
        drop(
            ResultsDir::open(
                dir.path(),
                &stamp("aaaa", "a.toml"),
                "",
                false,
                Sharing::Lock,
            )
            .unwrap(),
        );
        let gpu = PlanStamp {
            device: "cuda:0".into(),
            ..stamp("aaaa", "a.toml")
        };
        assert!(matches!(
            ResultsDir::open(dir.path(), &gpu, "", false, Sharing::Lock),
            Err(Error::PlanChanged { .. })
        ));
    }
}
