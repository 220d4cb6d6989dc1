//! A sweep file — datasets × methods (with hyper-parameter grids) × model sizes × seeds —
//! parsed into a [`SweepSpec`] (everything checked that can be without data), then opened into
//! a [`SweepPlan`] once its datasets are loaded. Both happen before any training starts and
//! before anything is written.
//!
//! `spec` reads and checks the file, `grid` expands method hyper-parameter grids, and this
//! module holds the plan: its cells, their single-task baselines and the plan's id.

mod grid;
mod spec;
#[cfg(test)]
mod tests;

use sha2::{Digest, Sha256};

use crate::config::{Named, RunConfig, TrainConfig};
use crate::Result;

pub use spec::{SweepSettings, SweepSpec};

/// The embedded default sweep (`mtlbench sweep` with no file).
pub const DEFAULT_SWEEP: &str = include_str!("default_sweep.toml");

/// Most cells a sweep may run side by side.
pub const MAX_WORKERS: usize = 64;

/// A dataset of a plan with its task count.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanDataset {
    /// Name and canonical parameters.
    pub named: Named,
    /// Number of tasks.
    pub num_tasks: usize,
    /// Models trained on it, ladder order as given.
    pub models: Vec<String>,
}

/// A validated sweep: datasets × methods × models × seeds, every dataset opened.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// The datasets, file order.
    pub datasets: Vec<PlanDataset>,
    /// Every model of the plan (each dataset's list, first-seen order).
    pub models: Vec<String>,
    /// Methods with canonical hyper-parameters, grids expanded.
    pub methods: Vec<Named>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Training settings.
    pub train: TrainConfig,
    /// Whether single-task baselines (`stl`, one per task, model and seed) run too.
    pub stl: bool,
    /// Device, results folder and worker count from the file.
    pub settings: SweepSettings,
}

impl SweepPlan {
    /// Parses a sweep file, opens its datasets and validates everything.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        Ok(SweepSpec::parse(text, origin)?.open()?.0)
    }

    /// Hash of every cell id: the same plan always gets the same id.
    pub fn id(&self) -> String {
        let ids: Vec<String> = self.cells().iter().map(RunConfig::cell_id).collect();
        let digest = Sha256::digest(ids.join(",").as_bytes());
        digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
    }

    /// Index (in [`SweepPlan::datasets`]) of the dataset `run` trains on.
    pub fn dataset_index(&self, run: &RunConfig) -> Option<usize> {
        self.datasets.iter().position(|d| d.named == run.dataset)
    }

    /// The single-task baselines for a dataset of `num_tasks` tasks, one `stl` entry per task
    /// (empty when `stl = false`).
    pub fn stl_methods(&self, num_tasks: usize) -> Vec<Named> {
        if !self.stl {
            return Vec::new();
        }
        (0..num_tasks)
            .map(|task| {
                let (name, params) =
                    mtl_methods::single_task_baseline(task).expect("a baseline is registered");
                Named {
                    name: name.into(),
                    params,
                }
            })
            .collect()
    }

    /// Cell ids of the single-task baselines of `run` (same dataset, model, seed, training),
    /// task order; empty when baselines are off or `run` is one itself.
    pub fn stl_cells(&self, run: &RunConfig) -> Vec<String> {
        if mtl_methods::is_single_task_baseline(&run.method.name) {
            return Vec::new();
        }
        let Some(i) = self.dataset_index(run) else {
            return Vec::new();
        };
        self.stl_methods(self.datasets[i].num_tasks)
            .into_iter()
            .map(|method| {
                RunConfig {
                    method,
                    ..run.clone()
                }
                .cell_id()
            })
            .collect()
    }

    /// Every cell, dataset by dataset: the single-task baselines first, then
    /// method × model × seed.
    pub fn cells(&self) -> Vec<RunConfig> {
        let mut cells = Vec::new();
        for ds in &self.datasets {
            let baselines = self.stl_methods(ds.num_tasks);
            let listed = self.methods.iter().filter(|m| !baselines.contains(m));
            for method in baselines.iter().chain(listed) {
                for model in &ds.models {
                    for &seed in &self.seeds {
                        cells.push(RunConfig {
                            dataset: ds.named.clone(),
                            model: model.clone(),
                            method: method.clone(),
                            train: self.train.clone(),
                            seed,
                        });
                    }
                }
            }
        }
        cells
    }
}
