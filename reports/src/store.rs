//! Reading and writing record files: one `<cell_id>.json` per run, written atomically.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result, RunRecord, SCHEMA_VERSION};

/// The file name of a record.
pub fn record_file_name(cell_id: &str) -> String {
    format!("{cell_id}.json")
}

/// Writes `bytes` to `path` atomically: temp file in the same folder, fsync, rename, fsync
/// of the folder. A crash leaves either the old state or the whole file, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(Error::io("creating folder", dir))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp_path = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp_path)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp_path);
        return Err(Error::io("writing", &tmp_path)(e));
    }
    fs::rename(&tmp_path, path).map_err(Error::io("renaming into place", path))?;
    // Persist the rename itself.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes `record` to `dir/<cell_id>.json` atomically (see [`write_atomic`]).
pub fn write_record_atomic(dir: &Path, record: &RunRecord) -> Result<PathBuf> {
    let path = dir.join(record_file_name(&record.cell_id));
    let mut bytes = serde_json::to_vec_pretty(record).expect("records serialise to JSON");
    bytes.push(b'\n');
    write_atomic(&path, &bytes)?;
    Ok(path)
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

/// Loads every `*.json` record in `dir` (not recursive, hidden files skipped), sorted by file
/// name so the order never depends on the file system.
pub fn load_records(dir: &Path) -> Result<Vec<RunRecord>> {
    let entries = fs::read_dir(dir).map_err(Error::io("reading folder", dir))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(Error::io("reading folder", dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.starts_with('.') && name.ends_with(".json") && path.is_file() {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(Error::NoRecords {
            path: dir.to_owned(),
        });
    }
    paths.sort();
    paths.iter().map(|p| read_record(p)).collect()
}
