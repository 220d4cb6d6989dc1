//! Snapshot of the comparison table over committed fixture records (a tiny real sweep plus
//! one record marked diverged), and byte-identical regeneration.

use std::path::Path;

use mtl_reports::{comparison_table, load_records};

const METHOD_ORDER: &[&str] = &["uniform", "fixed", "mgda", "mgda-ub"];

fn fixtures() -> Vec<mtl_reports::RunRecord> {
    load_records(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/records")).unwrap()
}

#[test]
fn comparison_table_snapshot() {
    let table = comparison_table(&fixtures(), METHOD_ORDER).unwrap();
    insta::assert_snapshot!(table.to_string());
}

#[test]
fn regenerating_the_table_is_byte_identical_whatever_the_record_order() {
    let records = fixtures();
    let a = comparison_table(&records, METHOD_ORDER)
        .unwrap()
        .to_string();
    let mut reversed = records.clone();
    reversed.reverse();
    let b = comparison_table(&reversed, METHOD_ORDER)
        .unwrap()
        .to_string();
    assert_eq!(a, b);
}

#[test]
fn records_of_different_datasets_are_refused() {
    let mut records = fixtures();
    records[0].dataset.id = "synthetic-linear/other".into();
    let err = comparison_table(&records, METHOD_ORDER)
        .unwrap_err()
        .to_string();
    assert!(err.contains("records disagree on dataset"), "{err}");
}
