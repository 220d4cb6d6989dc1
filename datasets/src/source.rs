//! Where a real benchmark's bytes come from: the subset shipped in the repository, the full
//! data imported into (or fetched to) the Hub cache, or the Hub's own parquet conversion.

use serde::{Deserialize, Serialize};

use crate::hub::{self, HubOptions, Snapshot};
use crate::Result;

/// The source of a real benchmark's data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The small real subset embedded in the binary (see [`crate::subset`]).
    #[default]
    Subset,
    /// The full data from the verified Hub-cache snapshot of the dataset's manifest (filled by
    /// `mtlbench data fetch` or `mtlbench data import`).
    Cache,
    /// The full data from the Hub's parquet files (manifests `fashion-mnist`, `mnist`; Image
    /// struct + ClassLabel), fetched and pinned by `mtlbench data fetch`, verified from the
    /// same cache before every use.
    Hub,
}

impl Source {
    /// Name in ids and configs.
    pub fn name(self) -> &'static str {
        match self {
            Source::Subset => "subset",
            Source::Cache => "cache",
            Source::Hub => "hub",
        }
    }
}

/// The verified snapshot of manifest `manifest`, with cache options from the environment.
pub fn snapshot(manifest: &str) -> Result<Snapshot> {
    hub::open(manifest, &HubOptions::from_env())
}

/// The record revision of a snapshot: `<repo>@<commit>`.
pub fn revision(snapshot: &Snapshot) -> String {
    format!("{}@{}", snapshot.repo, snapshot.revision)
}
