//! Reading and writing record files: atomic writes, and bad files reported with their path.

use std::path::Path;

use mtl_reports::store::read_record;
use mtl_reports::{load_records, write_record_atomic, Error, RunRecord};

fn fixture() -> RunRecord {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/records");
    load_records(&dir).unwrap().remove(0)
}

#[test]
fn a_written_record_reads_back_identically_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let record = fixture();
    let path = write_record_atomic(dir.path(), &record).unwrap();
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        format!("{}.json", record.cell_id)
    );
    assert_eq!(read_record(&path).unwrap(), record);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn bad_record_files_are_reported_with_their_path_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let good = serde_json::to_string_pretty(&fixture()).unwrap();
    let mut short = fixture();
    short.test.pop();
    let k = short.dataset.tasks.len();
    let shape = format!("field `test` has {} entries for {k} tasks", k - 1);
    let mut late = fixture();
    late.selected_epoch = 9999;
    let mut renumbered = fixture();
    renumbered.epochs[0].epoch = 7;
    let cases = [
        ("empty.json", String::new(), "not a valid run record"),
        ("truncated.json", good[..good.len() / 2].to_owned(), "EOF"),
        (
            "html.json",
            "<html><body>502 Bad Gateway</body></html>".into(),
            "not a valid run record",
        ),
        (
            "schema.json",
            good.replacen("\"schema_version\": 2", "\"schema_version\": 99", 1),
            "schema version 99",
        ),
        (
            "type.json",
            good.replacen("\"seed\": ", "\"seed\": \"zero\", \"x\": ", 1),
            "seed",
        ),
        (
            "shape.json",
            serde_json::to_string(&short).unwrap(),
            shape.as_str(),
        ),
        (
            "late.json",
            serde_json::to_string(&late).unwrap(),
            "`selected_epoch` is 9999",
        ),
        (
            "renumbered.json",
            serde_json::to_string(&renumbered).unwrap(),
            "`epochs[0].epoch` is 7",
        ),
    ];
    for (name, text, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let err = read_record(&path).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(name) && msg.contains(needle), "{name}: {msg}");
        assert!(
            matches!(
                err,
                Error::InvalidRecord { .. } | Error::SchemaVersion { .. }
            ),
            "{name}"
        );
    }
}

#[test]
fn quarantine_moves_the_file_beside_its_reason_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("abc.json");
    for round in 0..2 {
        std::fs::write(&bad, format!("broken {round}")).unwrap();
        let moved =
            mtl_reports::store::quarantine(dir.path(), &bad, &format!("reason {round}")).unwrap();
        assert!(!bad.exists());
        let want = if round == 0 { "abc.json" } else { "abc.json.1" };
        assert_eq!(moved, dir.path().join("quarantine").join(want));
        assert_eq!(
            std::fs::read_to_string(&moved).unwrap(),
            format!("broken {round}")
        );
        let reason = moved.with_file_name(format!("{want}.reason.txt"));
        assert_eq!(
            std::fs::read_to_string(reason).unwrap(),
            format!("reason {round}\n")
        );
    }
    // A quarantined file is out of the folder's records.
    write_record_atomic(dir.path(), &fixture()).unwrap();
    assert_eq!(load_records(dir.path()).unwrap().len(), 1);
}

#[test]
fn stale_temp_files_are_removed_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let record = fixture();
    write_record_atomic(dir.path(), &record).unwrap();
    let temp = |owner: &str| {
        dir.path()
            .join(format!(".{}.json.tmp-{owner}", record.cell_id))
    };
    let host = mtl_reports::host::name();
    // Writers that died: an old-style name and this host's (pids above the kernel's 2^22
    // never run), and another host's temp file untouched for two hours.
    let dead = [
        temp("99999999"),
        temp(&format!("99999998@{host}")),
        temp("12@elsewhere-old"),
    ];
    // Writers that may be at work: a live process here, and another host's fresh file.
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let alive = [
        temp(&format!("{}@{host}", child.id())),
        temp("12@elsewhere-new"),
    ];
    for path in dead.iter().chain(&alive) {
        std::fs::write(path, "half a reco").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&dead[2])
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    std::fs::write(dir.path().join(".hidden"), "kept").unwrap();
    let removed = mtl_reports::store::remove_stale_temps(dir.path()).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut expected = dead.to_vec();
    expected.sort();
    assert_eq!(removed, expected);
    assert!(alive.iter().all(|p| p.exists()));
    assert!(dir.path().join(".hidden").exists());
    assert_eq!(load_records(dir.path()).unwrap(), vec![record]);
}
