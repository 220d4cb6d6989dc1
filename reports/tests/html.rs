//! The HTML page of the committed fixture records: every sheet becomes a `<table>` with its
//! title, columns, cells and legends, every plot an inline `<svg>`, the contents link to every
//! section and table, nothing is loaded from elsewhere, text from the records is escaped,
//! separation notes come first, the committed result notes make well-formed study pages, and a
//! snapshot of the page (plots elided) pins the rest. The page is parsed as XML (it is written
//! well-formed), so a stray `<` or `&` fails the parse.

mod common;

use common::{fixtures, mixed_schema_fixtures, report};
use mtl_reports::html::{Block, Page};
use mtl_reports::sheet::Sheet;
use mtl_reports::{Format, Report};
use roxmltree::{Document, Node, ParsingOptions};

/// Every table of the page, in page order.
fn sheets(page: &Page) -> Vec<&Sheet> {
    page.sections
        .iter()
        .flat_map(|s| &s.blocks)
        .filter_map(|b| match b {
            Block::Table(t) => Some(t),
            _ => None,
        })
        .collect()
}

/// The page as XML (its doctype is the one DTD it has).
fn parse(html: &str) -> Document<'_> {
    let options = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(html, options).unwrap()
}

fn text(node: Node) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

fn elements<'a, 'i>(doc: &'a Document<'i>, tag: &str) -> Vec<Node<'a, 'i>> {
    doc.descendants().filter(|n| n.has_tag_name(tag)).collect()
}

fn html_of(report: &Report) -> String {
    let docs = report.render(Format::Html).unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].file_name, "report.html");
    docs.into_iter().next().unwrap().contents
}

#[test]
fn every_sheet_is_a_table_and_every_plot_an_inline_svg() {
    let report = report(&fixtures());
    let html = html_of(&report);
    let page = report.page();
    let doc = parse(&html);

    // Every table the Markdown report has, plus provenance, in order, cell by cell.
    let sheets = sheets(&page);
    let per_block = report
        .sections
        .iter()
        .map(|s| s.sheets.len())
        .sum::<usize>();
    assert_eq!(sheets.len(), per_block + 2, "ranks and provenance");
    let tables = elements(&doc, "table");
    assert_eq!(tables.len(), sheets.len());
    for (table, sheet) in tables.iter().zip(&sheets) {
        let holder = table
            .ancestors()
            .find(|n| n.has_tag_name("div") && n.attribute("class") == Some("sheet"))
            .unwrap();
        let title = holder.children().find(|n| n.has_tag_name("h3")).unwrap();
        assert_eq!(text(title), sheet.title);
        let heads: Vec<String> = table
            .descendants()
            .filter(|n| n.has_tag_name("th"))
            .map(text)
            .collect();
        assert_eq!(heads, sheet.columns, "{}", sheet.title);
        let rows: Vec<Vec<String>> = table
            .descendants()
            .filter(|n| n.has_tag_name("tbody"))
            .flat_map(|b| b.children().filter(|n| n.has_tag_name("tr")))
            .map(|tr| {
                tr.children()
                    .filter(|n| n.has_tag_name("td"))
                    .map(text)
                    .collect()
            })
            .collect();
        let want: Vec<Vec<String>> = sheet
            .rows
            .iter()
            .map(|r| r.iter().map(|c| c.display()).collect())
            .collect();
        assert_eq!(rows, want, "{}", sheet.title);
        let legends: Vec<String> = holder
            .children()
            .filter(|n| n.attribute("class") == Some("legend"))
            .map(text)
            .collect();
        assert_eq!(legends, sheet.notes, "{}", sheet.title);
    }
    for kind in [
        "main",
        "per-task",
        "model-size",
        "pareto",
        "paired",
        "rank",
        "provenance",
    ] {
        assert!(sheets.iter().any(|s| s.kind == kind), "no {kind} table");
    }

    // Every plot inline, verbatim, right after its section's Pareto table.
    let svgs = elements(&doc, "svg");
    assert_eq!(svgs.len(), report.plots().count());
    for plot in report.plots() {
        assert!(
            html.contains(plot.svg.trim_end()),
            "{} not inline",
            plot.file_name
        );
    }
    for svg in &svgs {
        let figure = svg.parent().unwrap();
        assert!(figure.has_tag_name("figure"));
        let mut before = figure.prev_sibling_element().unwrap();
        while before.has_tag_name("figure") {
            before = before.prev_sibling_element().unwrap();
        }
        let title = text(before.children().find(|n| n.has_tag_name("h3")).unwrap());
        assert!(title.starts_with("Pareto view on "), "{title}");
    }

    // The contents link to every section and table, and every link resolves.
    let ids: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("id"))
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "duplicate ids");
    let links: Vec<&str> = elements(&doc, "a")
        .iter()
        .filter_map(|a| a.attribute("href"))
        .collect();
    assert_eq!(links.len(), page.sections.len() + sheets.len());
    for href in &links {
        let target = href
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external link {href}"));
        assert!(ids.contains(&target), "{href}");
    }

    // Nothing is loaded from elsewhere, nothing runs.
    for n in doc.descendants().filter(|n| n.is_element()) {
        let tag = n.tag_name().name();
        assert!(
            !["script", "img", "link", "iframe", "object", "embed", "image", "use"].contains(&tag),
            "<{tag}>"
        );
        assert!(n.attribute("src").is_none(), "<{tag} src>");
    }
    assert!(html.contains("Content-Security-Policy"));
}

#[test]
fn text_from_the_records_is_escaped() {
    let mut records = fixtures();
    let label = "lin<&>\"s'";
    for r in records.iter_mut().filter(|r| r.model.name == "linear-s") {
        r.model.name = label.into();
    }
    for r in records.iter_mut().filter(|r| r.dataset.id.contains("/k3-")) {
        r.dataset.id = "synthetic-linear/<k3>&more".into();
    }
    let report = report(&records);
    let html = html_of(&report);
    let doc = parse(&html);
    let cells: Vec<String> = elements(&doc, "td").into_iter().map(text).collect();
    assert!(cells.iter().any(|c| c == label), "model name in a cell");
    assert!(html.contains("<td>lin&lt;&amp;&gt;&quot;s&#39;</td>"));
    let headings: Vec<String> = elements(&doc, "h2").into_iter().map(text).collect();
    assert!(
        headings
            .iter()
            .any(|h| h == "Dataset: synthetic-linear/<k3>&more"),
        "{headings:?}"
    );
    // The plots carry both, escaped by the SVG writer.
    let captions: Vec<String> = elements(&doc, "svg")
        .iter()
        .flat_map(|s| s.descendants().filter(|n| n.has_tag_name("text")).map(text))
        .collect();
    assert!(
        captions
            .iter()
            .any(|c| c.contains("<k3>&more") && c.contains(label)),
        "{captions:?}"
    );
    assert!(!html.contains("<k3>") && !html.contains("lin<&>"));
}

#[test]
fn html_page_snapshot_with_plots_elided() {
    let report = report(&fixtures());
    let mut html = html_of(&report);
    for plot in report.plots() {
        let svg = plot.svg.trim_end();
        html = html.replace(
            svg,
            &format!(
                "<svg><!-- {}: {} bytes --></svg>",
                plot.file_name,
                svg.len()
            ),
        );
    }
    insta::assert_snapshot!(html);
}

#[test]
fn printing_the_page_gives_the_written_file() {
    let report = report(&fixtures());
    let dir = tempfile::tempdir().unwrap();
    let written = report.write(dir.path(), Format::Html).unwrap();
    assert_eq!(
        written,
        vec![dir.path().join("report.html")],
        "the page holds its plots"
    );
    let file = std::fs::read_to_string(&written[0]).unwrap();
    assert_eq!(file, report.to_text(Format::Html).unwrap());
}

#[test]
fn study_pages_of_the_committed_result_notes_are_well_formed() {
    let report = report(&fixtures());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let mut notes: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    notes.sort();
    assert!(!notes.is_empty());
    for path in notes {
        let readme = std::fs::read_to_string(&path).unwrap();
        let page = report.page().with_readme(&readme);
        let html = page.render().unwrap();
        let doc = parse(&html);
        let h1: Vec<String> = elements(&doc, "h1").into_iter().map(text).collect();
        let title = readme.lines().next().unwrap().trim_start_matches("# ");
        assert_eq!(h1, [title], "{}", path.display());
        // The README's pipe tables become tables too.
        let pipe_tables = readme
            .lines()
            .filter(|l| l.starts_with("|-") || l.starts_with("| -") || l.starts_with("|:"))
            .count();
        assert_eq!(
            elements(&doc, "table").len(),
            sheets(&page).len() + pipe_tables,
            "{}",
            path.display()
        );
    }
}

#[test]
fn the_page_says_why_blocks_were_separated_before_the_datasets() {
    let records = mixed_schema_fixtures();
    let report = report(&records);
    let html = html_of(&report);
    let doc = parse(&html);
    let headings: Vec<String> = elements(&doc, "h2").into_iter().map(text).collect();
    assert_eq!(headings[1], "Separated datasets", "{headings:?}");
    assert!(headings[2].starts_with("Dataset: "), "{headings:?}");
    let section = elements(&doc, "section")[0];
    let paragraphs: Vec<String> = section
        .children()
        .filter(|n| n.has_tag_name("p"))
        .map(text)
        .collect();
    assert_eq!(paragraphs.len(), report.notes.len());
    // Backticks of the notes become code: the text is the note without them.
    for (p, note) in paragraphs.iter().zip(&report.notes) {
        assert_eq!(p, &note.replace('`', ""));
    }
}
