//! The committed fixture records (see `tests/fixtures/README.md`) and their report.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mtl_reports::{load_records, Report, RunRecord};

/// Row order of the methods in the fixture reports.
pub const METHOD_ORDER: &[&str] = &["uniform", "fixed", "tuned", "autoscale", "mgda", "mgda-ub"];

/// The folder of fixture records.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/records")
}

/// The fixture records, freshly loaded.
pub fn fixtures() -> Vec<RunRecord> {
    load_records(&fixture_dir()).unwrap()
}

/// The fixture records with those of seed 0 re-stamped as record schema 0, which the report
/// must keep apart (R20).
pub fn mixed_schema_fixtures() -> Vec<RunRecord> {
    let mut records = fixtures();
    for r in records.iter_mut().filter(|r| r.seed == 0) {
        r.schema_version = 0;
    }
    records
}

/// The report of `records`.
pub fn report(records: &[RunRecord]) -> Report {
    Report::build(records, METHOD_ORDER).unwrap()
}
