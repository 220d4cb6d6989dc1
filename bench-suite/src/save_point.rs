//! Save points of a weight search whose members train over many rounds (PBT): the search's
//! own state and every live member's training, kept at a round boundary so that a search cut
//! short (a stopped session, a killed process, a Slurm task past its time) continues from
//! there instead of training the whole population again.
//!
//! One JSON file per cell, `<results>/checkpoints/<cell id>.population.json`, written
//! atomically at most once per [`SavePoints::new`]'s interval and removed once the cell's
//! record is written. It holds the cell's canonical configuration, which must match for it
//! to be used; one that does not parse or does not match is set aside with a warning and the
//! search starts over. Training continues exactly as it would have: the members' states are
//! whole ([`SessionState`]), and the search's own state includes its rng's position.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cell::Spent;
use crate::config::RunConfig;
use crate::trainer::SessionState;
use crate::{Error, Result};

/// Version of the save-point format.
const FORMAT: u32 = 1;

/// What a save point holds.
#[derive(Serialize, Deserialize)]
pub(crate) struct SavePoint {
    format: u32,
    /// The cell's canonical configuration.
    run: serde_json::Value,
    /// The search's own state ([`mtl_methods::search::SearchBackend::save_point`]).
    pub(crate) search: serde_json::Value,
    /// Encoder backward passes charged to the search so far.
    pub(crate) encoder_backward: u64,
    /// Each member's weights λ.
    pub(crate) weights: Vec<Vec<f64>>,
    /// Each member's training, `None` for a released one.
    pub(crate) members: Vec<Option<SessionState>>,
    /// The time the search had spent (absent in save points written before it was kept).
    #[serde(default)]
    pub(crate) spent: Option<Spent>,
}

/// Where and how often a search's save points are written.
pub struct SavePoints {
    path: PathBuf,
    run: serde_json::Value,
    every: Duration,
    last: Option<Instant>,
}

impl SavePoints {
    /// Save points at `path` of the search of `run` (a cell's [`RunConfig`], or any key that
    /// identifies the search), written at most once per `every`.
    pub fn new(path: PathBuf, run: &impl Serialize, every: Duration) -> Result<Self> {
        Ok(Self {
            path,
            run: serde_json::to_value(run).map_err(|e| Error::Internal(e.to_string()))?,
            every,
            last: None,
        })
    }

    /// Whether a save point offered now is written (none was written within the interval).
    pub(crate) fn due(&self) -> bool {
        self.last.is_none_or(|t| t.elapsed() >= self.every)
    }

    /// Writes a save point atomically; `spent` is the search's time so far.
    pub(crate) fn write(
        &mut self,
        search: &serde_json::Value,
        encoder_backward: u64,
        weights: Vec<Vec<f64>>,
        members: Vec<Option<SessionState>>,
        spent: Spent,
    ) -> Result<()> {
        let point = SavePoint {
            format: FORMAT,
            run: self.run.clone(),
            search: search.clone(),
            encoder_backward,
            weights,
            members,
            spent: Some(spent),
        };
        let bytes = serde_json::to_vec(&point).map_err(|e| Error::Internal(e.to_string()))?;
        mtl_reports::store::write_atomic(&self.path, &bytes)?;
        self.last = Some(Instant::now());
        Ok(())
    }

    /// The save point, if one is there and fits a search of `members` members; one that does
    /// not is renamed `*.unused` with a warning.
    pub(crate) fn read(&self, members: usize) -> Result<Option<SavePoint>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading a search's save point", &self.path)(e)),
        };
        let why = match serde_json::from_slice::<SavePoint>(&bytes) {
            Err(e) => format!("it does not parse ({e})"),
            Ok(p) if p.format != FORMAT => {
                format!("it has format {}, this build reads {FORMAT}", p.format)
            }
            Ok(p) if p.run != self.run => "it belongs to another configuration".to_owned(),
            Ok(p) if p.members.len() != members || p.weights.len() != members => format!(
                "it holds {} members, the search has {members}",
                p.members.len()
            ),
            Ok(p) => return Ok(Some(p)),
        };
        let unused = self.path.with_extension("json.unused");
        tracing::warn!(
            "search save point {} not used: {why}; the search starts over (kept as {})",
            self.path.display(),
            unused.display()
        );
        std::fs::rename(&self.path, &unused)
            .map_err(|e| Error::io("setting aside a search's save point", &self.path)(e))?;
        Ok(None)
    }
}

/// Where the save points of `run`'s search live inside the results folder `results`.
pub fn path(results: &Path, run: &RunConfig) -> PathBuf {
    results
        .join("checkpoints")
        .join(format!("{}.population.json", run.cell_id()))
}
