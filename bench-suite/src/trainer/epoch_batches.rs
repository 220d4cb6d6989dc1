//! An epoch's training batches, built once and shared: a session reads them through a
//! cursor, and sessions that train in lock step on one seed ([`crate::population`]) read one
//! list instead of each building its own copy of the epoch.

use std::ops::Deref;
use std::sync::Arc;

use mtl_datasets::{Batch, Dataset, Split};

/// One epoch's batches and the position of the next one.
#[derive(Default)]
pub(crate) struct EpochBatches {
    batches: Arc<Vec<Batch>>,
    next: usize,
}

impl EpochBatches {
    /// `batches`, the next one being number `next` (a resumed epoch skips those taken).
    pub(crate) fn at(batches: Arc<Vec<Batch>>, next: usize) -> Self {
        Self { batches, next }
    }

    /// The next batch, if the epoch has one left.
    pub(crate) fn take(&mut self) -> Option<BatchRef> {
        (self.next < self.batches.len()).then(|| {
            self.next += 1;
            BatchRef {
                batches: Arc::clone(&self.batches),
                index: self.next - 1,
            }
        })
    }

    /// Whether every batch has been taken.
    pub(crate) fn is_done(&self) -> bool {
        self.next >= self.batches.len()
    }
}

/// A batch of a shared epoch.
pub(crate) struct BatchRef {
    batches: Arc<Vec<Batch>>,
    index: usize,
}

impl Deref for BatchRef {
    type Target = Batch;

    fn deref(&self) -> &Batch {
        &self.batches[self.index]
    }
}

/// The last epoch built, keyed by what determines it; sessions passing the same cache share
/// it.
#[derive(Default)]
pub(crate) struct EpochCache {
    built: Option<(EpochKey, Arc<Vec<Batch>>)>,
}

/// What determines an epoch's batches: the epoch, the batch size and the run seed.
type EpochKey = (usize, usize, u64);

impl EpochCache {
    /// The training batches of `epoch` at `batch_size` under `seed`: the cached ones if they
    /// are those, else built (and cached).
    pub(crate) fn get(
        &mut self,
        dataset: &dyn Dataset,
        batch_size: usize,
        epoch: usize,
        seed: u64,
    ) -> Arc<Vec<Batch>> {
        let key = (epoch, batch_size, seed);
        match &self.built {
            Some((k, batches)) if *k == key => Arc::clone(batches),
            _ => {
                let batches = Arc::new(dataset.batches(Split::Train, batch_size, epoch, seed));
                self.built = Some((key, Arc::clone(&batches)));
                batches
            }
        }
    }
}
