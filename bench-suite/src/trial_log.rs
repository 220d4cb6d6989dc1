//! The trial log of a weight search made of independent trials (grid, random: see
//! [`mtl_methods::search::WeightSearch::replays_trials`]): one JSON line per finished trial,
//! appended as each one ends, so that a search cut short (a stopped session, a Slurm task
//! past its time) continues where it was instead of training every candidate again.
//!
//! A trial is keyed by its weights and initialisation; it holds what the search reads of it
//! (its best validation score) and what it cost, plus the reference the members' scores are
//! normalised by. Replayed, it gives the search the same answers and the budget the same
//! counts as training it again would: trainings on CPU are deterministic. A line cut short by
//! a crash does not parse and is ignored. The file is named by the search id, which hashes the
//! configuration, so only trials of this very search are replayed; trials written by an earlier
//! build are replayed as they are, as an earlier build's records are kept by a resumed sweep.
//! Weights and scores round-trip exactly (serde_json's `float_roundtrip`). Each line also keeps
//! the search's time when the trial finished, so the continued search's wall time counts the
//! earlier processes up to their last finished trial.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cell::Spent;
use crate::{Error, Result};

/// The extension of a trial log beside its search's record (`<search id>.trials`).
pub const EXTENSION: &str = "trials";

/// One finished trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The candidate's weights λ.
    pub weights: Vec<f64>,
    /// Its initialisation offset (`SearchBackend::spawn`'s `init`).
    pub init: u64,
    /// Steps it trained.
    pub steps: u64,
    /// Its best validation score (`None`: +∞, every epoch diverged).
    pub best_score: Option<f64>,
    /// Backward passes through the shared encoder it spent.
    pub encoder_backward: u64,
    /// The validation losses and metrics of the initial model that scores are relative to.
    pub reference: (Vec<f64>, Vec<f64>),
    /// The search's time when the trial finished (absent in logs written before it was kept).
    #[serde(default)]
    pub spent: Option<Spent>,
}

/// The finished trials of one search, and the file they are appended to.
#[derive(Debug)]
pub struct TrialLog {
    path: PathBuf,
    trials: Vec<Trial>,
}

impl TrialLog {
    /// The log at `path`, with the trials it already holds (none if it does not exist).
    pub fn open(path: &Path) -> Result<Self> {
        let trials = match std::fs::read_to_string(path) {
            Ok(text) => text
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("reading a search's trial log", path)(e)),
        };
        Ok(Self {
            path: path.to_owned(),
            trials,
        })
    }

    /// The logged trial of these weights and initialisation, if any.
    pub fn find(&self, weights: &[f64], init: u64) -> Option<&Trial> {
        self.trials
            .iter()
            .find(|t| t.init == init && t.weights == weights)
    }

    /// The search's time when its last logged trial finished, if the log says.
    pub fn last_spent(&self) -> Option<Spent> {
        self.trials.iter().rev().find_map(|t| t.spent)
    }

    /// The reference of the logged trials, if any were logged.
    pub fn reference(&self) -> Option<&(Vec<f64>, Vec<f64>)> {
        self.trials.first().map(|t| &t.reference)
    }

    /// Trials logged so far.
    pub fn len(&self) -> usize {
        self.trials.len()
    }

    /// Whether no trial is logged.
    pub fn is_empty(&self) -> bool {
        self.trials.is_empty()
    }

    /// Appends `trial` as one line, flushed to disk before returning.
    pub fn append(&mut self, trial: Trial) -> Result<()> {
        let mut line = serde_json::to_string(&trial).expect("trials serialise");
        line.push('\n');
        let write = || -> std::io::Result<()> {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            file.write_all(line.as_bytes())?;
            file.sync_data()
        };
        write().map_err(Error::io("appending to a search's trial log", &self.path))?;
        self.trials.push(trial);
        Ok(())
    }

    /// Removes the file (the search finished and its record is written).
    pub fn remove(self) -> Result<()> {
        Self::remove_at(&self.path)
    }

    /// Removes the log at `path`, if there is one.
    pub fn remove_at(path: &Path) -> Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("removing a finished search's trial log", path)(e))
            }
            _ => Ok(()),
        }
    }
}
