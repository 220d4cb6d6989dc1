//! A dataset loaded from real sources into memory: what every real benchmark builder returns.

use crate::tabular::TabularData;
use crate::{Batch, DataFile, Dataset, Split, Task};

/// Decoded, split and preprocessed data with its provenance.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Stable id with every parameter that changes the data.
    pub id: String,
    /// Data revision (source revision plus generator version).
    pub revision: String,
    /// Tasks, in target order.
    pub tasks: Vec<Task>,
    /// Shape of one input example (`[features]` or `[channels, height, width]`).
    pub input_shape: Vec<usize>,
    /// The three splits.
    pub data: TabularData,
    /// Verified source files.
    pub files: Vec<DataFile>,
    /// Seed of the generated split or pairing.
    pub split_seed: Option<u64>,
}

impl Dataset for Loaded {
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
        self.data.split(split).rows()
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
