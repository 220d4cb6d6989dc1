//! A dataset loaded from real sources into memory: what every real benchmark builder returns.

use crate::tabular::TabularData;
use crate::{Batch, DataFile, Dataset, Split, Task};

/// Split data held in memory that hands out deterministic batches: [`TabularData`] (one input
/// group feeding every task) or [`crate::domains::DomainData`] (one group per domain).
pub trait SplitData: std::fmt::Debug + Clone + Send + Sync {
    /// Number of rows of a split (summed over domains).
    fn split_len(&self, split: Split) -> usize;
    /// The batches of one pass over `split`, as [`Dataset::batches`].
    fn batches(&self, split: Split, batch_size: usize, epoch: usize, seed: u64) -> Vec<Batch>;
}

/// Decoded, split and preprocessed data with its provenance.
#[derive(Debug, Clone)]
pub struct Loaded<D: SplitData = TabularData> {
    /// Stable id with every parameter that changes the data.
    pub id: String,
    /// Data revision (source revision plus generator version).
    pub revision: String,
    /// Tasks, in target order.
    pub tasks: Vec<Task>,
    /// Shape of one input example (`[features]` or `[channels, height, width]`).
    pub input_shape: Vec<usize>,
    /// The three splits.
    pub data: D,
    /// Verified source files.
    pub files: Vec<DataFile>,
    /// Seed of the generated split or pairing.
    pub split_seed: Option<u64>,
}

impl<D: SplitData> Dataset for Loaded<D> {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn revision(&self) -> String {
        self.revision.clone()
    }

    fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    fn input_dim(&self) -> usize {
        self.input_shape.iter().product()
    }

    fn input_shape(&self) -> Vec<usize> {
        self.input_shape.clone()
    }

    fn split_len(&self, split: Split) -> usize {
        self.data.split_len(split)
    }

    fn batches(&self, split: Split, batch_size: usize, epoch: usize, seed: u64) -> Vec<Batch> {
        self.data.batches(split, batch_size, epoch, seed)
    }

    fn files(&self) -> Vec<DataFile> {
        self.files.clone()
    }

    fn split_seed(&self) -> Option<u64> {
        self.split_seed
    }
}
