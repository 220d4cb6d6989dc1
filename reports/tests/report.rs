//! The report over committed fixture records (two small real sweeps, see
//! `tests/fixtures/README.md`): snapshots of every format (the HTML page: `tests/html.rs`),
//! byte-identical regeneration (R21), separation of records of other schema or data versions
//! (R20), and SVG plots that parse.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{fixture_dir, fixtures, mixed_schema_fixtures, report, METHOD_ORDER};
use mtl_reports::plot::{FRONT_LABEL, IDEAL_LABEL, STL_LEVEL_LABEL};
use mtl_reports::record::DataFileInfo;
use mtl_reports::{comparison_table, load_records, Error, Format, Report};

#[test]
fn terminal_comparison_table_snapshot() {
    let table = comparison_table(&fixtures(), METHOD_ORDER).unwrap();
    insta::assert_snapshot!(table.to_string());
}

#[test]
fn markdown_report_snapshot() {
    let docs = report(&fixtures()).render(Format::Markdown).unwrap();
    assert_eq!(docs.len(), 1);
    insta::assert_snapshot!(docs[0].contents);
}

#[test]
fn csv_report_snapshot() {
    insta::assert_snapshot!(report(&fixtures()).to_text(Format::Csv).unwrap());
}

#[test]
fn latex_report_snapshot() {
    insta::assert_snapshot!(report(&fixtures()).to_text(Format::Latex).unwrap());
}

#[test]
fn the_terminal_table_fits_in_100_columns() {
    let table = comparison_table(&fixtures(), METHOD_ORDER)
        .unwrap()
        .to_string();
    for line in table.lines() {
        assert!(
            line.chars().count() <= 100,
            "{} columns: {line}",
            line.chars().count()
        );
    }
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn regenerating_every_format_is_byte_identical_whatever_the_record_order() {
    let records = fixtures();
    let mut reversed = records.clone();
    reversed.reverse();
    for format in [Format::Markdown, Format::Csv, Format::Latex, Format::Html] {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        report(&records).write(a.path(), format).unwrap();
        // A fresh load from disk and the reverse order give the same bytes.
        report(&reversed).write(b.path(), format).unwrap();
        let (fa, fb) = (files(a.path()), files(b.path()));
        // The documents and the four plots; the HTML page holds its plots.
        let min = if format == Format::Html { 1 } else { 5 };
        assert!(fa.len() >= min, "{:?}", fa.keys());
        assert_eq!(fa, fb, "{format:?}");
        let again = report(&fixtures()).render(format).unwrap();
        for o in again {
            assert_eq!(fa[&o.file_name], o.contents.as_bytes(), "{}", o.file_name);
        }
    }
}

#[test]
fn other_data_revisions_and_file_hashes_are_reported_apart_and_said_why() {
    let mut records = fixtures();
    let k2 = records
        .iter()
        .find(|r| r.dataset.id.contains("/k2-"))
        .unwrap()
        .dataset
        .id
        .clone();
    // Re-stamp the k = 2 records of seed 2 as coming from other data files.
    for r in records
        .iter_mut()
        .filter(|r| r.dataset.id == k2 && r.seed == 2)
    {
        r.dataset.revision = "synthetic-linear-v2".into();
        r.dataset.files = vec![DataFileInfo {
            path: "train.bin".into(),
            size: 10,
            sha256: "ab".repeat(32),
        }];
    }
    let rep = report(&records);
    let labels: Vec<&str> = rep.sections.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels.len(), 3, "{labels:?}");
    let note = &rep.notes[0];
    assert!(
        note.contains(&k2)
            && note.contains("revision (`synthetic-linear-v1` vs `synthetic-linear-v2`)")
            && note.contains("files (`none` vs `train.bin@abababab`)")
            && note.contains("never mixed"),
        "{note}"
    );
    let v2 = rep
        .sections
        .iter()
        .find(|s| s.label.contains("revision synthetic-linear-v2"))
        .unwrap();
    // The separated block holds seed 2 alone: n = 1 everywhere, no interval.
    let main = v2.sheets[0].markdown_table();
    assert!(main.contains("| uniform ") && !main.contains('±'), "{main}");
    // The terminal table names the separation too.
    let text = rep.comparison.to_string();
    assert!(text.contains("never mixed"), "{text}");
}

#[test]
fn the_mean_rank_table_keeps_one_row_per_configuration_across_datasets() {
    // k = 2 gains a second MGDA-UB configuration (normalisation `none`); on k = 3 the
    // `loss+` one stays the only one, which that dataset's own tables call plain `mgda-ub`.
    let mut records = fixtures();
    let k2_mgda: Vec<_> = records
        .iter()
        .filter(|r| r.dataset.id.contains("/k2-") && r.method.name == "mgda-ub")
        .cloned()
        .collect();
    for mut r in k2_mgda {
        r.cell_id.push_str("-none");
        r.method.config["normalization"] = "none".into();
        records.push(r);
    }
    let ranks = report(&records).ranks.unwrap().markdown_table();
    let row = |label: &str| {
        ranks
            .lines()
            .find(|l| l.starts_with(&format!("| {label} ")))
            .unwrap_or_else(|| panic!("no row {label}:\n{ranks}"))
            .to_string()
    };
    assert!(
        row("mgda-ub normalization=loss+").ends_with("| 4       |"),
        "{ranks}"
    );
    assert!(
        row("mgda-ub normalization=none").ends_with("| 2       |"),
        "{ranks}"
    );
    assert!(!ranks.contains("| mgda-ub  "), "{ranks}");
}

#[test]
fn records_of_another_schema_version_never_share_a_column() {
    let records = mixed_schema_fixtures();
    let rep = report(&records);
    assert_eq!(rep.sections.len(), 4);
    assert!(
        rep.notes.iter().all(|n| n.contains("schema (`0` vs `2`)")),
        "{:?}",
        rep.notes
    );
    assert!(rep.sections.iter().any(|s| s.label.ends_with("[schema 0]")));
}

#[test]
fn a_record_file_of_another_schema_version_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    let old = dir.path().join("3e22ec7a5c0cf4b4.json");
    let text = std::fs::read_to_string(&old).unwrap();
    std::fs::write(
        &old,
        text.replacen("\"schema_version\": 2", "\"schema_version\": 0", 1),
    )
    .unwrap();
    let err = load_records(dir.path()).unwrap_err();
    assert!(
        matches!(err, Error::SchemaVersion { found: 0, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("3e22ec7a5c0cf4b4.json") && msg.contains("Regenerate"),
        "{msg}"
    );
}

#[test]
fn svg_plots_parse_and_hold_one_series_per_method() {
    let rep = report(&fixtures());
    let k2 = &rep.sections[0];
    let pareto_plots = |s: &mtl_reports::report::Section| {
        s.plots
            .iter()
            .filter(|p| p.file_name.starts_with("pareto-"))
            .count()
    };
    assert_eq!(pareto_plots(k2), 2, "one plot per model");
    for plot in rep.plots().filter(|p| p.file_name.starts_with("pareto-")) {
        let doc = roxmltree::Document::parse(&plot.svg).unwrap();
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let texts: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .map(|t| t.trim().to_owned())
            .collect();
        let section = rep
            .sections
            .iter()
            .find(|s| s.plots.contains(plot))
            .unwrap();
        let pareto = section.sheets.iter().find(|s| s.kind == "pareto").unwrap();
        let model = plot
            .file_name
            .trim_end_matches(".svg")
            .rsplit_once("-linear-")
            .unwrap()
            .1;
        let mut methods: Vec<String> = pareto
            .markdown_table()
            .lines()
            .skip(2)
            .filter(|l| l.starts_with(&format!("| linear-{model} ")))
            .map(|l| l.split('|').nth(2).unwrap().trim().to_owned())
            .collect();
        methods.dedup();
        assert!(methods.len() >= 2, "{methods:?}");
        for m in &methods {
            assert_eq!(
                texts.iter().filter(|t| *t == m).count(),
                1,
                "{m} in {texts:?}"
            );
        }
        assert!(texts.iter().any(|t| t == FRONT_LABEL), "{texts:?}");
        assert!(texts.iter().any(|t| t == IDEAL_LABEL), "{texts:?}");
        // One marker per completed run, plus one legend marker per method.
        let circles = doc
            .descendants()
            .filter(|n| n.has_tag_name("circle"))
            .count();
        let runs: usize = pareto
            .markdown_table()
            .lines()
            .skip(2)
            .filter(|l| l.starts_with(&format!("| linear-{model} ")))
            .map(|l| {
                l.split('|')
                    .nth(3)
                    .unwrap()
                    .trim()
                    .parse::<usize>()
                    .unwrap()
            })
            .sum();
        assert_eq!(circles, runs + methods.len(), "{}", plot.file_name);
    }
}

/// The texts of an SVG document, trimmed.
fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_owned())
        .collect()
}

#[test]
fn the_model_size_plot_names_every_method_and_model_of_its_table() {
    let rep = report(&fixtures());
    for s in &rep.sections {
        let table = s.sheets.iter().find(|t| t.kind == "model-size").unwrap();
        let plots: Vec<_> = s
            .plots
            .iter()
            .filter(|p| p.file_name.starts_with("model-size-"))
            .collect();
        // A plot wherever the table has two model columns and a Δm% to draw.
        let lines = table.markdown_table();
        let mut rows = lines.lines().skip(2);
        let drawable = table.columns.len() >= 3
            && rows
                .clone()
                .any(|l| l.contains('±') || l.contains('+') || l.contains('−'));
        assert_eq!(plots.len(), usize::from(drawable), "{}", s.label);
        let Some(plot) = plots.first() else { continue };
        assert_eq!(plot.file_name, format!("model-size-{}.svg", s.slug));
        let texts = svg_texts(&plot.svg);
        for model in &table.columns[1..] {
            assert_eq!(
                texts.iter().filter(|t| *t == model).count(),
                1,
                "{model} in {texts:?}"
            );
        }
        for row in rows.by_ref() {
            let method = row.split('|').nth(1).unwrap().trim();
            assert_eq!(
                texts.iter().filter(|t| *t == method).count(),
                1,
                "{method} in {texts:?}"
            );
        }
        assert!(texts.iter().any(|t| t == STL_LEVEL_LABEL), "{texts:?}");
    }
    assert!(
        rep.plots().any(|p| p.file_name.starts_with("model-size-")),
        "the fixtures have a block with two models"
    );
}

#[test]
fn an_empty_record_set_is_an_error_not_a_panic() {
    assert!(matches!(
        Report::build(&[], METHOD_ORDER),
        Err(Error::NoRecords { .. })
    ));
}
