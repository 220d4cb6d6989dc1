//! Values computed from a verified snapshot (QM9's descriptors), kept beside it in the cache so
//! that later loads skip the computation.
//!
//! A stored file lives at
//! `<cache>/datasets--<owner>--<name>/mtlbench-derived/<commit>/<name>.f64`: a magic line, a
//! JSON header (name, repo, commit, count, sha256 of the payload), then the values as
//! little-endian `f64`. A file is used only when all of it checks out and the
//! caller's spot check (values recomputed by this build's code) agrees bit for bit; anything
//! else is recomputed and stored again, with a warning that names the file. Writes are
//! atomic, and a cache that cannot be written only costs the computation next time.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cache::write_atomic;
use super::manifest::hex;
use super::Snapshot;

/// First line of a stored file.
const MAGIC: &[u8] = b"mtlbench-derived v1\n";

/// What a stored file says of itself.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Header {
    name: String,
    repo: String,
    revision: String,
    count: usize,
    sha256: String,
}

/// Where the values `name` derived from `snapshot` are stored.
pub fn path(snapshot: &Snapshot, name: &str) -> PathBuf {
    let repo_folder = snapshot
        .dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(&snapshot.dir);
    repo_folder
        .join("mtlbench-derived")
        .join(&snapshot.revision)
        .join(format!("{name}.f64"))
}

/// The `count` values `name` derived from `snapshot`: read from the cache when stored intact
/// and `spot_check` accepts them, else `compute`d and stored.
pub fn load_or_compute(
    snapshot: &Snapshot,
    name: &str,
    count: usize,
    compute: impl FnOnce() -> Vec<f64>,
    spot_check: impl FnOnce(&[f64]) -> bool,
) -> Vec<f64> {
    let file = path(snapshot, name);
    match read(&file, &header(snapshot, name, count)) {
        Ok(Some(values)) if spot_check(&values) => return values,
        Ok(Some(_)) => tracing::warn!(
            "{}: stored values differ from what this build computes; recomputing them",
            file.display()
        ),
        Ok(None) => {}
        Err(why) => tracing::warn!("{}: {why}; recomputing it", file.display()),
    }
    let values = compute();
    if let Err(e) = write(&file, header(snapshot, name, values.len()), &values) {
        tracing::warn!("could not keep derived values for the next load: {e}");
    }
    values
}

/// The header of `count` values `name` of `snapshot`, its digest still empty.
fn header(snapshot: &Snapshot, name: &str, count: usize) -> Header {
    Header {
        name: name.into(),
        repo: snapshot.repo.clone(),
        revision: snapshot.revision.clone(),
        count,
        sha256: String::new(),
    }
}

/// The values of `file` if it exists and matches `expected` (its sha256 aside); `Err` says
/// what is wrong with a file that exists.
fn read(file: &Path, expected: &Header) -> Result<Option<Vec<f64>>, String> {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot be read ({e})")),
    };
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or("does not start with the derived-values magic line")?;
    let end = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("has no header line")?;
    let header: Header =
        serde_json::from_slice(&rest[..end]).map_err(|e| format!("has a bad header ({e})"))?;
    let payload = &rest[end + 1..];
    if header.name != expected.name
        || header.repo != expected.repo
        || header.revision != expected.revision
        || header.count != expected.count
    {
        return Err(format!(
            "holds {} values of {} for {}@{}, expected {} of {} for {}@{}",
            header.count,
            header.name,
            header.repo,
            header.revision,
            expected.count,
            expected.name,
            expected.repo,
            expected.revision
        ));
    }
    let digest = hex(&Sha256::digest(payload));
    if payload.len() != 8 * header.count || digest != header.sha256 {
        return Err(format!(
            "is damaged: {} payload bytes with sha256 {digest}, expected {} with {}",
            payload.len(),
            8 * header.count,
            header.sha256
        ));
    }
    Ok(Some(
        payload
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8-byte chunk")))
            .collect(),
    ))
}

fn write(file: &Path, mut header: Header, values: &[f64]) -> Result<(), super::HubError> {
    let payload: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    header.sha256 = hex(&Sha256::digest(&payload));
    let mut bytes = MAGIC.to_vec();
    bytes.extend(serde_json::to_vec(&header).expect("header serialises"));
    bytes.push(b'\n');
    bytes.extend(payload);
    write_atomic(file, &bytes)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn snapshot(root: &Path) -> Snapshot {
        Snapshot {
            repo: "mtlbench/fixture".into(),
            revision: "0123456789abcdef0123456789abcdef01234567".into(),
            dir: root.join(
                "datasets--mtlbench--fixture/snapshots/0123456789abcdef0123456789abcdef01234567",
            ),
            files: Vec::new(),
        }
    }

    /// Loads `name` (4 values) counting the computations.
    fn load(snap: &Snapshot, computed: &Cell<u32>, value: f64) -> Vec<f64> {
        load_or_compute(
            snap,
            "squares-v1",
            4,
            || {
                computed.set(computed.get() + 1);
                (0..4).map(|i| value * f64::from(i * i)).collect()
            },
            |stored| stored[1].to_bits() == value.to_bits(),
        )
    }

    #[test]
    fn values_are_stored_beside_the_snapshot_and_read_back_bit_for_bit() {
        let tmp = tempfile::tempdir().unwrap();
        let snap = snapshot(tmp.path());
        let computed = Cell::new(0);
        let first = load(&snap, &computed, 0.1);
        let file = path(&snap, "squares-v1");
        assert!(file.starts_with(
            tmp.path()
                .join("datasets--mtlbench--fixture/mtlbench-derived")
        ));
        assert!(file.is_file());
        let again = load(&snap, &computed, 0.1);
        assert_eq!(computed.get(), 1, "the second load reads the file");
        assert_eq!(
            first.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            again.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn damaged_foreign_or_outdated_files_are_recomputed_and_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let snap = snapshot(tmp.path());
        let computed = Cell::new(0);
        let file = path(&snap, "squares-v1");
        load(&snap, &computed, 0.1);
        let good = std::fs::read(&file).unwrap();

        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let truncated = good[..good.len() - 3].to_vec();
        let elsewhere = tmp.path().join("elsewhere.f64");
        let other = Snapshot {
            revision: "f".repeat(40),
            ..snapshot(tmp.path())
        };
        write(
            &elsewhere,
            header(&other, "squares-v1", 4),
            &[0.0, 0.1, 0.4, 0.9],
        )
        .unwrap();
        let foreign = std::fs::read(&elsewhere).unwrap();
        for (case, bytes) in [
            ("payload bit flipped", flipped),
            ("truncated", truncated),
            ("no magic", b"garbage".to_vec()),
            ("empty", Vec::new()),
            ("another commit's", foreign),
        ] {
            std::fs::write(&file, &bytes).unwrap();
            let before = computed.get();
            let values = load(&snap, &computed, 0.1);
            assert_eq!(computed.get(), before + 1, "{case}: recomputed");
            assert_eq!(values[3], 0.1 * 9.0, "{case}");
            assert_eq!(std::fs::read(&file).unwrap(), good, "{case}: stored again");
        }
        // Intact, but this build computes other values: the spot check sends it back.
        let values = load(&snap, &computed, 0.2);
        assert_eq!(values[1], 0.2);
        let before = computed.get();
        assert_eq!(load(&snap, &computed, 0.2)[1], 0.2);
        assert_eq!(computed.get(), before, "the replacement is read back");

        // A count other than the caller's is not used.
        let err = read(&file, &header(&snap, "squares-v1", 5)).unwrap_err();
        assert!(err.contains("expected 5"), "{err}");
    }

    #[test]
    fn an_unwritable_cache_still_gives_the_values() {
        let tmp = tempfile::tempdir().unwrap();
        let snap = snapshot(tmp.path());
        let repo = tmp.path().join("datasets--mtlbench--fixture");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(
            repo.join("mtlbench-derived"),
            "a file where the folder would go",
        )
        .unwrap();
        let computed = Cell::new(0);
        assert_eq!(load(&snap, &computed, 0.5)[2], 2.0);
        assert_eq!(load(&snap, &computed, 0.5)[2], 2.0);
        assert_eq!(computed.get(), 2, "nothing could be stored");
    }
}
