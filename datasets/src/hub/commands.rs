//! What `mtlbench data list|fetch|import|verify` do and print; the binary only prints a
//! [`Report`] and turns its error into an exit code.

use std::fmt::Write as _;
use std::path::Path;

use super::cache::RepoCache;
use super::manifest::{Manifest, Origin};
use super::{fetch, import, open_manifest, HubError, HubOptions, Snapshot};

/// A command's printed text, and the first error if one failed (after printing what it did).
#[derive(Debug)]
pub struct Report {
    /// Lines for stdout.
    pub text: String,
    /// The first failure, for the exit code.
    pub error: Option<HubError>,
}

impl Report {
    /// `Err` with the first failure, if any.
    pub fn finish(self) -> Result<(), HubError> {
        self.error.map_or(Ok(()), Err)
    }
}

/// `mtlbench data list`: every manifest, its origin, and whether the cache holds it verified.
/// Never touches the network.
pub fn list(opts: &HubOptions) -> Result<Report, HubError> {
    let registry = opts.registry()?;
    let offline = HubOptions {
        offline: true,
        ..opts.clone()
    };
    let mut rows = vec![[
        "name".to_owned(),
        "origin".to_owned(),
        "repo".to_owned(),
        "revision".to_owned(),
        "files".to_owned(),
        "cache".to_owned(),
    ]];
    for m in registry.all() {
        let revision = match &m.revision {
            Some(r) if m.pins().is_some() => r[..12].to_owned(),
            Some(r) => format!("{} (digests at first fetch)", &r[..12]),
            None => format!("{} (resolved at first fetch)", m.branch),
        };
        let files = if m.include.is_empty() {
            let bytes: Option<u64> = m.files.iter().map(|f| f.size).sum();
            match bytes {
                Some(b) => format!("{} ({})", m.files.len(), human_bytes(b)),
                None => m.files.len().to_string(),
            }
        } else {
            m.include.join(" ")
        };
        rows.push([
            m.name.clone(),
            match &m.origin {
                Origin::Hub => "hub".to_owned(),
                Origin::Import { package, .. } => format!("import: {package}"),
            },
            m.repo.clone(),
            revision,
            files,
            cache_status(m, &offline),
        ]);
    }
    let mut text = table(&rows);
    let _ = writeln!(text, "\ncache: {}", opts.cache_root().display());
    Ok(Report { text, error: None })
}

/// One word or phrase about the cache's copy of `m`.
fn cache_status(m: &Manifest, offline: &HubOptions) -> String {
    match open_manifest(m, offline) {
        Ok(s) => format!(
            "verified ({} file{})",
            s.files.len(),
            if s.files.len() == 1 { "" } else { "s" }
        ),
        Err(HubError::NotInCache { .. }) => "not in cache".into(),
        Err(HubError::NotPinned { .. }) => "not fetched".into(),
        Err(e) => format!("INVALID: {}", short(&e)),
    }
}

fn short(e: &HubError) -> &'static str {
    match e {
        HubError::SizeMismatch { .. } => "size mismatch",
        HubError::HashMismatch { .. } => "sha256 mismatch",
        HubError::ErrorBody { .. } => "HTTP error body stored as data",
        HubError::ZeroLength { .. } => "empty file",
        HubError::DanglingSymlink { .. } => "dangling link",
        HubError::MissingRef { .. } => "missing ref",
        HubError::RefMismatch { .. } => "ref names another revision",
        _ => "see `mtlbench data verify`",
    }
}

/// `mtlbench data fetch NAME… [--revision COMMIT]`.
pub fn fetch(
    names: &[String],
    revision: Option<&str>,
    opts: &HubOptions,
) -> Result<Report, HubError> {
    let registry = opts.registry()?;
    let manifests = names
        .iter()
        .map(|n| registry.find(n))
        .collect::<Result<Vec<_>, _>>()?;
    let mut text = String::new();
    for m in manifests {
        match fetch::fetch(m, opts, revision) {
            Ok(out) => {
                let cache = RepoCache::new(&opts.cache_root(), &m.repo);
                let _ = writeln!(text, "{} ({}@{})", m.name, m.repo, out.pins.revision);
                let width = out
                    .pins
                    .files
                    .iter()
                    .map(|f| f.path.len())
                    .max()
                    .unwrap_or(0);
                for (f, action) in out.pins.files.iter().zip(&out.actions) {
                    let _ = writeln!(
                        text,
                        "  {action:<10}  {:<width$}  {:>10} bytes  sha256 {}",
                        f.path, f.size, f.sha256
                    );
                }
                if let Some(lock) = &out.lock_written {
                    let _ = writeln!(
                        text,
                        "  pinned at first fetch: {} (copy revision and digests into the manifest to pin them for everyone)",
                        lock.display()
                    );
                }
                let _ = writeln!(
                    text,
                    "  snapshot: {}",
                    cache.snapshot_dir(&out.pins.revision).display()
                );
            }
            Err(e) => {
                return Ok(Report {
                    text,
                    error: Some(e),
                })
            }
        }
    }
    Ok(Report { text, error: None })
}

/// `mtlbench data import NAME PATH`.
pub fn import(name: &str, path: &Path, opts: &HubOptions) -> Result<Report, HubError> {
    let registry = opts.registry()?;
    let m = registry.find(name)?;
    let out = import::import(m, path, &opts.cache_root())?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} ({}@{}) from {}",
        m.name,
        m.repo,
        out.snapshot.revision,
        path.display()
    );
    let width = out
        .snapshot
        .files
        .iter()
        .map(|f| f.path.len())
        .max()
        .unwrap_or(0);
    for (f, action) in out.snapshot.files.iter().zip(&out.actions) {
        let _ = writeln!(
            text,
            "  {action:<16}  {:<width$}  {:>10} bytes  sha256 {}",
            f.path, f.size, f.sha256
        );
    }
    let _ = writeln!(text, "  snapshot: {}", out.snapshot.dir.display());
    Ok(Report { text, error: None })
}

/// `mtlbench data verify [NAME…]`: size and sha256 of every file; without names, every
/// manifest the cache has a folder for. Never touches the network.
pub fn verify(names: &[String], opts: &HubOptions) -> Result<Report, HubError> {
    let registry = opts.registry()?;
    let root = opts.cache_root();
    let manifests: Vec<&Manifest> = if names.is_empty() {
        registry
            .all()
            .iter()
            .filter(|m| RepoCache::new(&root, &m.repo).folder().exists())
            .collect()
    } else {
        names
            .iter()
            .map(|n| registry.find(n))
            .collect::<Result<_, _>>()?
    };
    let offline = HubOptions {
        offline: true,
        ..opts.clone()
    };
    let mut text = String::new();
    let mut error = None;
    if manifests.is_empty() {
        let _ = writeln!(
            text,
            "nothing to verify: the cache {} holds none of the manifests",
            root.display()
        );
    }
    for m in manifests {
        match open_manifest(m, &offline) {
            Ok(Snapshot {
                revision, files, ..
            }) => {
                let bytes: u64 = files.iter().map(|f| f.size).sum();
                let _ = writeln!(
                    text,
                    "ok    {} ({}@{}): {} file{}, {} verified",
                    m.name,
                    m.repo,
                    revision,
                    files.len(),
                    if files.len() == 1 { "" } else { "s" },
                    human_bytes(bytes)
                );
            }
            Err(e) => {
                let _ = writeln!(text, "FAIL  {}: {e}", m.name);
                error.get_or_insert(e);
            }
        }
    }
    Ok(Report { text, error })
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// Left-aligned columns separated by two spaces.
fn table(rows: &[[String; 6]]) -> String {
    let mut widths = [0usize; 6];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
