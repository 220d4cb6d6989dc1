//! The mtlbench harness: models from a size ladder, optimisers, the method-agnostic trainer
//! and the sweep runner that writes one verified record per run.

pub mod catalog;
pub mod cell;
pub mod check;
pub mod checkpoint;
pub mod claim;
pub mod commands;
pub mod config;
pub mod conv;
mod conv_ops;
mod cpu_ops;
pub mod dropout;
pub mod error;
pub mod interrupt;
mod linear_op;
pub mod lock;
pub mod loss;
mod method_params;
pub mod model;
pub mod optim;
pub mod plan;
pub mod population;
pub mod progress;
pub mod results_dir;
pub mod save_point;
pub mod search;
pub mod selection;
pub mod slurm;
pub mod stamp;
pub mod status;
pub mod step;
pub mod study;
pub mod sweep;
pub mod trainer;
pub mod trial_log;
pub mod worker_pool;

pub use cell::train_cell;
pub use config::{RunConfig, TrainConfig};
pub use error::{Error, ErrorKind, Result};
pub use model::{Arch, ModelSpec, SIZES};
pub use plan::{SweepPlan, SweepSpec, DEFAULT_SWEEP};
pub use sweep::{run_sweep, SweepOptions, SweepOutcome};
pub use trainer::{RunEnv, Session};
