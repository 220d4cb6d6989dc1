//! Checkpoints of a run interrupted at a step boundary (SIGINT or SIGTERM), so that resuming
//! the sweep continues the run where it stopped and writes the record an uninterrupted run
//! would have written (timing aside: the record's time counts every process that trained the
//! run, from the first one's start).
//!
//! One JSON file per cell, `<results>/checkpoints/<cell id>.json`, written atomically when
//! the run stops and removed once its record is written. It holds the session's whole state
//! ([`SessionState`]: parameters, optimiser moments, the method's state and own parameters,
//! counters and epoch logs) and the cell's canonical configuration, which must match for it
//! to be used. A checkpoint that does not parse or does not match is set aside with a
//! warning and the run starts over: it is a shortcut, never the only copy of a result.
//! Runs that train through a weight search (`tuned`, `autoscale` full) are not checkpointed;
//! their searches keep their own: trial logs (grid, random: [`crate::trial_log`]) and save
//! points (PBT keeping its member: [`crate::save_point`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cell::Spent;
use crate::config::RunConfig;
use crate::trainer::{Session, SessionState};
use crate::{Error, Result};

/// Version of the checkpoint format.
const FORMAT: u32 = 1;

/// A checkpoint file's contents.
#[derive(Serialize, Deserialize)]
struct Checkpoint {
    format: u32,
    /// The cell's canonical configuration, as records store it.
    run: serde_json::Value,
    session: SessionState,
    /// The time the run had spent when it stopped (absent in checkpoints written before it
    /// was kept).
    #[serde(default)]
    spent: Option<Spent>,
}

/// `run` as a checkpoint stores it and compares it.
fn canonical(run: &RunConfig) -> Result<serde_json::Value> {
    serde_json::to_value(run).map_err(|e| Error::Internal(e.to_string()))
}

/// Where the checkpoint of `run` lives inside the results folder `results`.
pub fn path(results: &Path, run: &RunConfig) -> PathBuf {
    results
        .join("checkpoints")
        .join(format!("{}.json", run.cell_id()))
}

/// Writes the checkpoint of `run` at `path`, atomically: `session`'s state and the time
/// `spent` so far.
pub fn save(path: &Path, run: &RunConfig, session: &Session<'_>, spent: Spent) -> Result<()> {
    let checkpoint = Checkpoint {
        format: FORMAT,
        run: canonical(run)?,
        session: session.state()?,
        spent: Some(spent),
    };
    let bytes = serde_json::to_vec(&checkpoint).map_err(|e| Error::Internal(e.to_string()))?;
    mtl_reports::store::write_atomic(path, &bytes)?;
    Ok(())
}

/// Continues `session` from the checkpoint of `run` at `path`, if one is there and fits, and
/// returns the time the run had spent if the checkpoint says (older ones do not). A
/// checkpoint that does not fit is renamed `*.unused` with a warning.
pub fn resume(path: &Path, run: &RunConfig, session: &mut Session<'_>) -> Result<Option<Spent>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Internal(format!(
                "cannot read checkpoint {}: {e}",
                path.display()
            )))
        }
    };
    let expected = canonical(run)?;
    let why = match serde_json::from_slice::<Checkpoint>(&bytes) {
        Err(e) => format!("it does not parse ({e})"),
        Ok(c) if c.format != FORMAT => {
            format!("it has format {}, this build reads {FORMAT}", c.format)
        }
        Ok(c) if c.run != expected => "it belongs to another configuration".to_owned(),
        Ok(c) => {
            session.resume_from(c.session)?;
            return Ok(c.spent);
        }
    };
    let unused = path.with_extension("json.unused");
    tracing::warn!(
        "checkpoint {} not used: {why}; the run starts over (kept as {})",
        path.display(),
        unused.display()
    );
    std::fs::rename(path, &unused)
        .map_err(|e| Error::Internal(format!("cannot set aside {}: {e}", path.display())))?;
    Ok(None)
}

/// Removes the checkpoint at `path` once the run's record is written; absent is fine.
pub fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Internal(format!(
            "cannot remove checkpoint {}: {e}",
            path.display()
        ))),
    }
}
