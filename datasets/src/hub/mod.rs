//! Real data through the Hugging Face Hub cache layout: pinned manifests, verified files.
//!
//! INTERFACE SCAFFOLD (to be replaced by the hub work of issue 5): loaders call
//! [`open`] with a manifest name and get a directory whose files were verified against the
//! manifest (size and sha256), plus their digests for the run record.

use std::path::PathBuf;

use crate::{DataFile, Error, Result};

/// Where the cache is and whether the network may be used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubOptions {
    /// Cache root (the `hub` folder); `None` = from `HF_HUB_CACHE` / `HF_HOME` / default.
    pub cache_dir: Option<PathBuf>,
    /// Hub endpoint; `None` = `HF_ENDPOINT` or the public hub.
    pub endpoint: Option<String>,
    /// Never touch the network; fail fast when the cache lacks a file.
    pub offline: bool,
}

impl HubOptions {
    /// Options from the environment (`HF_HUB_CACHE`, `HF_HOME`, `HF_ENDPOINT`,
    /// `MTLBENCH_OFFLINE=1`).
    pub fn from_env() -> Self {
        Self {
            cache_dir: None,
            endpoint: None,
            offline: std::env::var("MTLBENCH_OFFLINE").is_ok_and(|v| v == "1"),
        }
    }
}

/// A verified snapshot of one manifest's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Repo id, e.g. `mtlbench/fashion-mnist-idx`.
    pub repo: String,
    /// Pinned 40-hex commit.
    pub revision: String,
    /// `<cache>/datasets--<owner>--<name>/snapshots/<commit>`; files are at their manifest paths.
    pub dir: PathBuf,
    /// Every file of the manifest, verified.
    pub files: Vec<DataFile>,
}

/// Opens the snapshot of manifest `name` (fetching when online), verifying every file.
pub fn open(name: &str, _opts: &HubOptions) -> Result<Snapshot> {
    Err(Error::InvalidConfig {
        dataset: name.to_owned(),
        message: "hub support is not built yet".into(),
    })
}
