//! Datasets for mtlbench behind one contract.
//!
//! A [`Dataset`] has tasks, an input width and three splits, and hands out deterministic
//! [`Batch`]es for (split, epoch, seed). A batch is a list of [`InputGroup`]s: multi-task sets
//! give one group carrying every task's targets; multi-domain sets (Royer et al., 2023) give
//! one group per domain, each with the targets of its own tasks, all through the same encoder.
//! Datasets are listed once in [`registry::DATASETS`].

pub mod batch;
pub mod coulomb;
pub mod domains;
pub mod error;
pub mod formats;
pub mod hub;
pub mod image_sources;
pub mod image_split;
pub mod loaded;
pub mod mnist_fashion_domains;
pub mod multi_mnist;
pub mod params;
pub mod provenance;
pub mod qm9;
pub mod raw;
pub mod registry;
pub mod river;
pub mod source;
pub mod standardize;
pub mod subset;
pub mod synthetic_linear;
pub mod tabular;
pub mod task;

pub use batch::{Batch, InputGroup, Split, Targets};
pub use error::{Error, Result};
pub use provenance::DataFile;
pub use registry::{find, DatasetSpec, DATASETS};
pub use synthetic_linear::{SyntheticLinear, SyntheticLinearConfig};
pub use task::{LossKind, MetricKind, Task, TaskKind};

/// A dataset: tasks, splits and deterministic batches.
pub trait Dataset: Send + Sync {
    /// Stable id including every generator parameter, e.g. `synthetic-linear/k4-d16-σ0.5-s0`.
    fn id(&self) -> String;
    /// Data revision: a commit for hub data, a generator version for synthetic data.
    fn revision(&self) -> String;
    /// Tasks in order; task indices in batches refer to this order.
    fn tasks(&self) -> &[Task];
    /// Width of one flattened input row.
    fn input_dim(&self) -> usize;
    /// Shape of one input example: `[input_dim]` for feature vectors, `[channels, height,
    /// width]` for images (rows in batches are these, flattened row-major).
    fn input_shape(&self) -> Vec<usize> {
        vec![self.input_dim()]
    }
    /// Number of examples in a split (summed over domains).
    fn split_len(&self, split: Split) -> usize;
    /// The batches of one pass over `split`. Training batches are shuffled by (`seed`,
    /// `epoch`); validation and test batches come in a fixed order and ignore both.
    fn batches(&self, split: Split, batch_size: usize, epoch: usize, seed: u64) -> Vec<Batch>;
    /// The verified source files the dataset was built from (empty for generated data).
    fn files(&self) -> Vec<DataFile> {
        Vec::new()
    }
    /// Seed of a generated split or pairing (e.g. MultiFashion's partner draw), if any.
    fn split_seed(&self) -> Option<u64> {
        None
    }
}
