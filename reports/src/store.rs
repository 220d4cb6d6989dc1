//! Reading and writing record files: one `<cell_id>.json` per run, written atomically.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{failpoint, Error, Result, RunRecord, SCHEMA_VERSION};

/// The file name of a record.
pub fn record_file_name(cell_id: &str) -> String {
    format!("{cell_id}.json")
}

/// Writes `bytes` to `path` atomically: temp file in the same folder, fsync, rename, fsync
/// of the folder. A crash leaves either the old state or the whole file, never half of one
/// (at worst a hidden `.<name>.tmp-<pid>@<host>` file, which [`remove_stale_temps`] clears).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_inner(path, bytes, false)
}

fn write_atomic_inner(path: &Path, bytes: &[u8], record: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(Error::io("creating folder", dir))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp_path = dir.join(format!(
        ".{name}{TEMP_MARK}{}@{}",
        std::process::id(),
        crate::host::name()
    ));
    let nth = if record {
        RECORD_WRITES.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        0
    };
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp_path)?;
        if record && failpoint::hit("record-enospc", nth) {
            file.write_all(&bytes[..bytes.len() / 2])?;
            return Err(std::io::Error::from_raw_os_error(ENOSPC));
        }
        file.write_all(bytes)?;
        file.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp_path);
        return Err(Error::io("writing", &tmp_path)(e));
    }
    if record && failpoint::hit("crash-before-rename", nth) {
        // A crash after the temp file is complete but before it is renamed into place.
        std::process::abort();
    }
    fs::rename(&tmp_path, path).map_err(Error::io("renaming into place", path))?;
    // Persist the rename itself. File systems that cannot sync a folder say EINVAL; there the
    // rename is as durable as they make it.
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if e.raw_os_error() != Some(EINVAL) => Err(Error::io("syncing folder", dir)(e)),
        _ => Ok(()),
    }
}

/// `ENOSPC` on Linux and the BSDs: no space left on the device.
const ENOSPC: i32 = 28;

/// `EINVAL` on Linux and the BSDs: the file system cannot sync that kind of file.
const EINVAL: i32 = 22;

/// Record writes so far in this process (failpoints count them).
static RECORD_WRITES: AtomicUsize = AtomicUsize::new(0);

/// What a temp file's name carries between the target's name and the writer's pid.
const TEMP_MARK: &str = ".tmp-";

/// Writes `record` to `dir/<cell_id>.json` atomically (see [`write_atomic`]).
pub fn write_record_atomic(dir: &Path, record: &RunRecord) -> Result<PathBuf> {
    let path = dir.join(record_file_name(&record.cell_id));
    let mut bytes = serde_json::to_vec_pretty(record).expect("records serialise to JSON");
    bytes.push(b'\n');
    write_atomic_inner(&path, &bytes, true)?;
    Ok(path)
}

/// A temp file of another host is left alone for this long (its writer may be alive there).
const FOREIGN_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Whether the writer of a temp file named `name` may still be writing it: a live process of
/// this host, or a process of another host (whose temp files count as abandoned an hour
/// after their last change). Older names without a host are this host's.
fn writer_may_be_alive(name: &str, path: &Path) -> bool {
    let Some(owner) = name.rsplit(TEMP_MARK).next() else {
        return false;
    };
    let (pid, host) = owner.split_once('@').unwrap_or((owner, ""));
    if host.is_empty() || host == crate::host::name() {
        return pid
            .parse::<u32>()
            .is_ok_and(|p| p != std::process::id() && crate::host::alive(p));
    }
    fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().map_or(true, |age| age < FOREIGN_TEMP_AGE))
}

/// Removes the temp files that interrupted [`write_atomic`] calls left in `dir`; returns
/// them. A temp file whose writer may still be at work (a live process of this host, or another host's within the hour) is
/// kept, so processes of several hosts can share `dir`.
pub fn remove_stale_temps(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir).map_err(Error::io("reading folder", dir))? {
        let path = entry.map_err(Error::io("reading folder", dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.')
            && name.contains(TEMP_MARK)
            && path.is_file()
            && !writer_may_be_alive(name, &path)
        {
            match fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                // Renamed into place or cleared by another process meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("removing stale temp file", &path)(e)),
            }
        }
    }
    removed.sort();
    Ok(removed)
}

/// Folder (inside a results folder) where invalid records are moved.
pub const QUARANTINE_DIR: &str = "quarantine";

/// Moves the invalid file `path` into `<dir>/quarantine/` (never overwriting an earlier
/// one) and writes `<name>.reason.txt` beside it; returns the new path.
pub fn quarantine(dir: &Path, path: &Path, reason: &str) -> Result<PathBuf> {
    let qdir = dir.join(QUARANTINE_DIR);
    fs::create_dir_all(&qdir).map_err(Error::io("creating folder", &qdir))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("record")
        .to_owned();
    let mut dest = qdir.join(&name);
    let mut n = 1;
    while dest.exists() {
        dest = qdir.join(format!("{name}.{n}"));
        n += 1;
    }
    fs::rename(path, &dest).map_err(Error::io("moving into quarantine", path))?;
    let note = dest.with_file_name(format!(
        "{}.reason.txt",
        dest.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("record")
    ));
    write_atomic(&note, format!("{reason}\n").as_bytes())?;
    Ok(dest)
}

/// Reads and checks one record file.
pub fn read_record(path: &Path) -> Result<RunRecord> {
    let bytes = fs::read(path).map_err(Error::io("reading record", path))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidRecord {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    let found = value.get("schema_version").and_then(|v| v.as_u64());
    match found {
        Some(v) if v == SCHEMA_VERSION as u64 => {}
        Some(v) => {
            return Err(Error::SchemaVersion {
                path: path.to_owned(),
                found: v,
                expected: SCHEMA_VERSION,
            })
        }
        None => {
            return Err(Error::InvalidRecord {
                path: path.to_owned(),
                message: "missing field `schema_version`".into(),
            })
        }
    }
    let record: RunRecord =
        serde_path_to_error::deserialize(value).map_err(|e| Error::InvalidRecord {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    record
        .check_shape()
        .map_err(|message| Error::InvalidRecord {
            path: path.to_owned(),
            message,
        })?;
    Ok(record)
}

/// Whether `path` is a record file as [`load_records`] reads them: a `*.json` file whose name
/// does not start with a dot.
fn is_record_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.starts_with('.') && name.ends_with(".json") && path.is_file()
}

/// The folders directly under `dir` (hidden ones skipped) that hold a record file, sorted by
/// name.
fn folders_with_records(dir: &Path) -> Vec<String> {
    let holds_records = |d: &Path| {
        fs::read_dir(d)
            .is_ok_and(|mut entries| entries.any(|e| e.is_ok_and(|e| is_record_file(&e.path()))))
    };
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| e.path().is_dir() && holds_records(&e.path()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Loads every `*.json` record in `dir` (not recursive, hidden files skipped), sorted by file
/// name so the order never depends on the file system.
pub fn load_records(dir: &Path) -> Result<Vec<RunRecord>> {
    let entries = fs::read_dir(dir).map_err(Error::io("reading folder", dir))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(Error::io("reading folder", dir))?.path();
        if is_record_file(&path) {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(Error::NoRecords {
            path: dir.to_owned(),
            parts: folders_with_records(dir),
        });
    }
    paths.sort();
    paths.iter().map(|p| read_record(p)).collect()
}
