//! The Hub cache layout on disk, and verification of the files in it.
//!
//! ```text
//! <cache>/datasets--<owner>--<name>/blobs/<sha256 or etag>
//! <cache>/datasets--<owner>--<name>/refs/<branch>              (a 40-hex commit, no newline)
//! <cache>/datasets--<owner>--<name>/snapshots/<commit>/<path>  -> ../../blobs/<digest> (relative)
//! <cache>/datasets--<owner>--<name>/mtlbench-locks/<name>.toml (mtlbench's first-fetch pins)
//! <cache>/datasets--<owner>--<name>/mtlbench-derived/<commit>/<name>.f64 (see super::derived)
//! ```
//! hf-hub and Python `huggingface_hub` read and write the first three; the last two folders
//! are mtlbench's own and both ignore them.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::BodyKind;
use super::manifest::{hex, repo_folder, Lock};
use super::HubError;
use crate::DataFile;

/// One repo's folder inside the cache.
#[derive(Debug, Clone)]
pub struct RepoCache {
    repo: String,
    folder: PathBuf,
}

impl RepoCache {
    /// The folder of `repo` (`owner/name`) under the cache root.
    pub fn new(root: &Path, repo: &str) -> Self {
        Self {
            repo: repo.to_owned(),
            folder: root.join(repo_folder(repo)),
        }
    }

    /// `<cache>/datasets--owner--name`.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The repo id.
    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// `blobs/<digest>`.
    pub fn blob(&self, digest: &str) -> PathBuf {
        self.folder.join("blobs").join(digest)
    }

    /// `snapshots/<commit>`.
    pub fn snapshot_dir(&self, commit: &str) -> PathBuf {
        self.folder.join("snapshots").join(commit)
    }

    /// `snapshots/<commit>/<path>`.
    pub fn snapshot_file(&self, commit: &str, path: &str) -> PathBuf {
        path.split('/')
            .fold(self.snapshot_dir(commit), |p, s| p.join(s))
    }

    /// `refs/<name>` (a branch name may contain `/`).
    pub fn ref_path(&self, name: &str) -> PathBuf {
        name.split('/')
            .fold(self.folder.join("refs"), |p, s| p.join(s))
    }

    /// The commit a ref holds, if the ref exists.
    pub fn read_ref(&self, name: &str) -> Result<Option<String>, HubError> {
        let path = self.ref_path(name);
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(HubError::io("reading ref", path)(e)),
        }
    }

    /// Writes a ref atomically (as hf-hub does: the bare commit, no newline).
    pub fn write_ref(&self, name: &str, commit: &str) -> Result<(), HubError> {
        write_atomic(&self.ref_path(name), commit.as_bytes())
    }

    /// Where the first-fetch lock of manifest `name` lives.
    pub fn lock_path(&self, name: &str) -> PathBuf {
        self.folder
            .join("mtlbench-locks")
            .join(format!("{name}.toml"))
    }

    /// The lock of manifest `name`, if written.
    pub fn read_lock(&self, name: &str) -> Result<Option<Lock>, HubError> {
        let path = self.lock_path(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(HubError::io("reading lock", path)(e)),
        };
        toml::from_str(&text)
            .map(Some)
            .map_err(|e| HubError::InvalidManifest {
                origin: path.display().to_string(),
                message: format!(
                    "{e}; delete the lock and run `mtlbench data fetch {name}` to pin again"
                ),
            })
    }

    /// Writes the lock of a manifest atomically.
    pub fn write_lock(&self, lock: &Lock) -> Result<PathBuf, HubError> {
        let path = self.lock_path(&lock.name);
        let body = toml::to_string_pretty(lock).map_err(|e| HubError::InvalidManifest {
            origin: path.display().to_string(),
            message: e.to_string(),
        })?;
        let text = format!(
            "# Written by `mtlbench data fetch {}`: the commit, sizes and sha256s recorded at the first\n\
             # fetch. Later runs verify against them. Delete this file to pin again.\n{body}",
            lock.name
        );
        write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Points `snapshots/<commit>/<path>` at `blobs/<digest>` with a relative link, as hf-hub does.
    pub fn link(&self, commit: &str, path: &str, digest: &str) -> Result<PathBuf, HubError> {
        let pointer = self.snapshot_file(commit, path);
        let parent = pointer.parent().unwrap_or(&self.folder).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(HubError::io("creating", &parent))?;
        // From snapshots/<commit>/<dirs…>/ back up to the repo folder.
        let ups = 2 + path.matches('/').count();
        let mut target = PathBuf::new();
        for _ in 0..ups {
            target.push("..");
        }
        target.push("blobs");
        target.push(digest);
        match std::fs::symlink_metadata(&pointer) {
            Ok(_) => std::fs::remove_file(&pointer).map_err(HubError::io("replacing", &pointer))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(HubError::io("inspecting", &pointer)(e)),
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, &pointer).map_err(HubError::io("linking", &pointer))?;
        #[cfg(not(unix))]
        std::fs::copy(self.blob(digest), &pointer)
            .map_err(HubError::io("copying blob to", &pointer))?;
        Ok(pointer)
    }
}

/// What a snapshot entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// No entry at that path.
    Missing,
    /// Present with the pinned size and sha256.
    Verified,
}

/// Checks the snapshot entry `path` of `file` (size first, then sha256).
///
/// `Ok(Missing)` when there is no entry; `Ok(Verified)` when it matches; otherwise a typed
/// error: dangling link, empty file, HTML/JSON error body, size or hash mismatch, each ending
/// with `remedy`.
pub fn verify_file(
    repo: &str,
    file: &DataFile,
    path: &Path,
    remedy: &str,
) -> Result<FileState, HubError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(e) => return Err(HubError::io("inspecting", path)(e)),
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_err(HubError::io("reading link", path))?;
        let resolved = path.parent().map_or(target.clone(), |p| p.join(&target));
        if std::fs::metadata(&resolved).is_err() {
            return Err(HubError::DanglingSymlink {
                repo: repo.to_owned(),
                file: file.path.clone(),
                link: path.to_path_buf(),
                target: normalize(&resolved),
                remedy: remedy.to_owned(),
            });
        }
    }
    let actual = std::fs::metadata(path)
        .map_err(HubError::io("inspecting", path))?
        .len();
    if actual == 0 && file.size != 0 {
        return Err(HubError::ZeroLength {
            repo: repo.to_owned(),
            file: file.path.clone(),
            path: path.to_path_buf(),
            expected: file.size,
            remedy: remedy.to_owned(),
        });
    }
    if actual != file.size {
        return Err(
            error_body(repo, file, path, actual, remedy)?.unwrap_or_else(|| {
                HubError::SizeMismatch {
                    repo: repo.to_owned(),
                    file: file.path.clone(),
                    path: path.to_path_buf(),
                    expected: file.size,
                    actual,
                    remedy: remedy.to_owned(),
                }
            }),
        );
    }
    let digest = sha256_file(path)?;
    if digest != file.sha256 {
        return Err(
            error_body(repo, file, path, actual, remedy)?.unwrap_or_else(|| {
                HubError::HashMismatch {
                    repo: repo.to_owned(),
                    file: file.path.clone(),
                    path: path.to_path_buf(),
                    expected: file.sha256.clone(),
                    actual: digest,
                    remedy: remedy.to_owned(),
                }
            }),
        );
    }
    Ok(FileState::Verified)
}

/// An [`HubError::ErrorBody`] when a file that failed verification holds an HTTP error body.
fn error_body(
    repo: &str,
    file: &DataFile,
    path: &Path,
    actual: u64,
    remedy: &str,
) -> Result<Option<HubError>, HubError> {
    Ok(
        sniff_error_body(path)?.map(|(kind, snippet)| HubError::ErrorBody {
            repo: repo.to_owned(),
            file: file.path.clone(),
            path: path.to_path_buf(),
            kind,
            snippet,
            expected: file.size,
            actual,
            remedy: remedy.to_owned(),
        }),
    )
}

/// Whether a file looks like an HTTP error body: an HTML/XML page, or a small JSON object with
/// an `error`/`errors` key (the Hub's error shape). Only asked of files that already failed
/// verification, so a legitimate JSON data file is never misread.
pub fn sniff_error_body(path: &Path) -> Result<Option<(BodyKind, String)>, HubError> {
    const JSON_LIMIT: u64 = 1 << 20;
    let mut head = Vec::with_capacity(4096);
    File::open(path)
        .map_err(HubError::io("opening", path))?
        .take(4096)
        .read_to_end(&mut head)
        .map_err(HubError::io("reading", path))?;
    let text = String::from_utf8_lossy(&head);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let snippet: String = trimmed
        .chars()
        .take(80)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let lower = trimmed
        .get(..trimmed.len().min(16))
        .unwrap_or("")
        .to_ascii_lowercase();
    if [
        "<!doctype html",
        "<html",
        "<head",
        "<body",
        "<?xml",
        "<title",
        "<error",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
    {
        return Ok(Some((BodyKind::Html, snippet)));
    }
    if trimmed.starts_with('{') {
        let len = std::fs::metadata(path)
            .map_err(HubError::io("inspecting", path))?
            .len();
        if len <= JSON_LIMIT {
            let bytes = std::fs::read(path).map_err(HubError::io("reading", path))?;
            if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&bytes) {
                if map.contains_key("error") || map.contains_key("errors") {
                    return Ok(Some((BodyKind::Json, snippet)));
                }
            }
        }
    }
    Ok(None)
}

/// Lower-case hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, HubError> {
    hash_file(Sha256::new(), path)
}

/// Git's blob id of a file: sha1 of `"blob <len>\0"` + bytes (the ETag of a non-LFS Hub file).
pub fn git_blob_sha1_file(path: &Path) -> Result<String, HubError> {
    let len = std::fs::metadata(path)
        .map_err(HubError::io("inspecting", path))?
        .len();
    let mut hasher = sha1::Sha1::new();
    hasher.update(format!("blob {len}\0").as_bytes());
    hash_file(hasher, path)
}

/// Feeds a file to `hasher` in 1 MiB chunks; lower-case hex of the digest.
fn hash_file<D: Digest>(mut hasher: D, path: &Path) -> Result<String, HubError> {
    let mut file = File::open(path).map_err(HubError::io("opening", path))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(HubError::io("reading", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Writes bytes to `path` atomically: temp file in the same folder → fsync → rename → fsync folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HubError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(HubError::io("creating", parent))?;
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(parent);
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        HubError::io("writing", path)(e)
    })
}

/// A temp name beside `path`, unique per process and call.
pub(crate) fn temp_name(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map_or("tmp".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.{n}.incomplete", std::process::id()))
}

/// fsync a folder so a rename in it is durable (best effort: not all file systems allow it).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Lexically removes `.`/`..` components (for messages; the path need not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A writer into a new blob: hashes and counts what passes, keeps the first bytes, and lands
/// the blob under its sha256 name only after fsync and a check against the pins.
pub struct BlobWriter {
    blobs: PathBuf,
    tmp: PathBuf,
    file: File,
    hasher: Sha256,
    len: u64,
    head: Vec<u8>,
}

impl BlobWriter {
    /// Starts a blob in `cache`'s blobs folder.
    pub fn new(cache: &RepoCache) -> Result<Self, HubError> {
        let blobs = cache.folder().join("blobs");
        std::fs::create_dir_all(&blobs).map_err(HubError::io("creating", &blobs))?;
        let tmp = temp_name(&blobs.join("import"));
        let file = File::create(&tmp).map_err(HubError::io("creating", &tmp))?;
        Ok(Self {
            blobs,
            tmp,
            file,
            hasher: Sha256::new(),
            len: 0,
            head: Vec::with_capacity(16),
        })
    }

    /// The first bytes written (up to 16).
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Size and sha256 of what was written so far.
    pub fn digest(&self) -> (u64, String) {
        (self.len, hex(&self.hasher.clone().finalize()))
    }

    /// Syncs and renames the blob to `blobs/<sha256>` if it matches `expected`; otherwise
    /// deletes it and returns what it was.
    pub fn finish(self, expected: &DataFile) -> Result<Result<PathBuf, (u64, String)>, HubError> {
        let (len, sha) = self.digest();
        if len != expected.size || sha != expected.sha256 {
            drop(self.file);
            let _ = std::fs::remove_file(&self.tmp);
            return Ok(Err((len, sha)));
        }
        self.file
            .sync_all()
            .map_err(HubError::io("syncing", &self.tmp))?;
        drop(self.file);
        let dest = self.blobs.join(&sha);
        std::fs::rename(&self.tmp, &dest).map_err(HubError::io("renaming blob to", &dest))?;
        sync_dir(&self.blobs);
        Ok(Ok(dest))
    }

    /// Deletes the unfinished blob.
    pub fn abandon(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.tmp);
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        let room = 16usize.saturating_sub(self.head.len()).min(n);
        self.head.extend_from_slice(&buf[..room]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_file(bytes: &[u8]) -> DataFile {
        DataFile {
            path: "dir/f.bin".into(),
            size: bytes.len() as u64,
            sha256: hex(&Sha256::digest(bytes)),
        }
    }

    #[test]
    fn link_is_relative_and_resolves_to_the_blob() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = RepoCache::new(tmp.path(), "o/n");
        let f = data_file(b"hello");
        std::fs::create_dir_all(cache.folder().join("blobs")).unwrap();
        std::fs::write(cache.blob(&f.sha256), b"hello").unwrap();
        let link = cache
            .link("c".repeat(40).as_str(), &f.path, &f.sha256)
            .unwrap();
        let target = std::fs::read_link(&link).unwrap();
        assert!(target.is_relative());
        assert_eq!(target, Path::new("../../../blobs").join(&f.sha256));
        assert_eq!(
            verify_file("o/n", &f, &link, "fix").unwrap(),
            FileState::Verified
        );
    }

    #[test]
    fn each_damage_has_its_own_error() {
        let tmp = tempfile::tempdir().unwrap();
        let good = b"0123456789abcdef".repeat(8);
        let f = data_file(&good);
        let path = tmp.path().join("f");
        let check = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            verify_file("o/n", &f, &path, "run the fix").unwrap_err()
        };
        assert!(matches!(
            check(&good[..50]),
            HubError::SizeMismatch {
                expected: 128,
                actual: 50,
                ..
            }
        ));
        let mut flipped = good.clone();
        flipped[7] ^= 1;
        assert!(matches!(check(&flipped), HubError::HashMismatch { .. }));
        assert!(matches!(check(b""), HubError::ZeroLength { .. }));
        let html = check(b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>");
        assert!(
            matches!(
                html,
                HubError::ErrorBody {
                    kind: BodyKind::Html,
                    ..
                }
            ),
            "{html}"
        );
        let json = check(br#"{"error":"Entry not found"}"#);
        assert!(
            matches!(
                json,
                HubError::ErrorBody {
                    kind: BodyKind::Json,
                    ..
                }
            ),
            "{json}"
        );
        assert!(json.to_string().ends_with("run the fix"), "{json}");
        let missing = tmp.path().join("absent");
        assert_eq!(
            verify_file("o/n", &f, &missing, "x").unwrap(),
            FileState::Missing
        );
    }

    #[cfg(unix)]
    #[test]
    fn dangling_link_is_reported_with_its_target() {
        let tmp = tempfile::tempdir().unwrap();
        let link = tmp.path().join("f");
        std::os::unix::fs::symlink("../blobs/gone", &link).unwrap();
        let err = verify_file("o/n", &data_file(b"x"), &link, "fix").unwrap_err();
        assert!(matches!(err, HubError::DanglingSymlink { .. }), "{err}");
        assert!(err.to_string().contains("blobs/gone"), "{err}");
    }

    #[test]
    fn git_blob_id_matches_git() {
        // `printf hello | git hash-object --stdin`
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("h");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(
            git_blob_sha1_file(&p).unwrap(),
            "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0"
        );
    }
}
