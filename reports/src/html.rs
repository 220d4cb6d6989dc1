//! One self-contained HTML page: a title, markdown-ish intro text, a table of contents and
//! sections of prose, tables ([`Sheet`]s) and SVG plots, inline. The page loads nothing (inline
//! CSS, inline SVG, no script; its Content-Security-Policy forbids every fetch), reads offline,
//! and is a pure function of its input, so regenerating it gives the same bytes (R21). Every
//! text is escaped; the markup is also well-formed XML, so tests can parse it.
//!
//! A report's page is [`crate::Report::page`]; a study page is the same page with the study's
//! README as title and intro (`report.page().with_readme(&readme).render()?`), or one built
//! from its own sections:
//!
//! ```
//! use mtl_reports::html::{Block, Page, PageSection};
//! use mtl_reports::sheet::{Cell, Sheet};
//!
//! let sheet = Sheet {
//!     kind: "demo",
//!     title: "Δm% <per method>".into(),
//!     columns: vec!["method".into(), "Δm%↓".into()],
//!     rows: vec![vec![Cell::text("uniform"), Cell::text("+1.2")]],
//!     notes: vec!["Lower is better.".into()],
//! };
//! let page = Page {
//!     title: "A study".into(),
//!     intro: "What we ran and **why**; see `mtlbench report`.".into(),
//!     sections: vec![PageSection {
//!         heading: "Results".into(),
//!         blocks: vec![Block::Table(sheet)],
//!     }],
//! };
//! let html = page.render().unwrap();
//! assert!(html.contains("<h3>Δm% &lt;per method&gt;</h3>"));
//! ```

use std::collections::BTreeSet;

use crate::prose::{escape, to_html};
use crate::report::{slugify, Plot};
use crate::sheet::{Cell, Sheet};
use crate::{Error, Result};

/// A page to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The `<title>` and `<h1>`.
    pub title: String,
    /// Markdown-ish text under the title (see [`crate::prose`]; its headings start at `<h2>`).
    pub intro: String,
    /// Sections in order, each listed in the table of contents.
    pub sections: Vec<PageSection>,
}

/// A titled part of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct PageSection {
    /// The `<h2>` heading, also the contents entry.
    pub heading: String,
    /// Content in order.
    pub blocks: Vec<Block>,
}

/// One piece of a section.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Markdown-ish text (see [`crate::prose`]).
    Prose(String),
    /// A table with its title (`<h3>`, listed in the contents) and its notes as legends; its
    /// anchor is the section's plus its `kind`.
    Table(Sheet),
    /// An SVG plot, inline, with its title as caption and its file name's stem as anchor. The
    /// text must be one SVG document; an XML declaration or doctype before `<svg` is dropped.
    Plot(Plot),
}

impl Page {
    /// The page with a README as its text: the README's first line, if it is a `# ` heading,
    /// becomes the title, and the rest the intro (a study page: the study's README, then its
    /// tables and plots).
    pub fn with_readme(mut self, readme: &str) -> Self {
        let text = readme.trim_start();
        let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
        match first.strip_prefix("# ") {
            Some(title) => {
                self.title = title.trim().to_owned();
                self.intro = rest.to_owned();
            }
            None => self.intro = readme.to_owned(),
        }
        self
    }

    /// The intro with each link to a plot file of the page (a README's `![..](x.svg)`)
    /// pointing at that plot on the page instead, so the page needs no file beside it.
    fn intro_linking_plots(&self, anchors: &[(String, Vec<String>)]) -> String {
        let mut intro = self.intro.clone();
        for (section, (_, ids)) in self.sections.iter().zip(anchors) {
            for (block, id) in section.blocks.iter().zip(ids) {
                if let Block::Plot(plot) = block {
                    intro = intro.replace(&format!("]({})", plot.file_name), &format!("](#{id})"));
                }
            }
        }
        intro
    }

    /// The page as HTML. Fails only on a plot that is not an SVG document.
    pub fn render(&self) -> Result<String> {
        let mut ids = Ids::default();
        // Ids first, so the contents can link to what follows.
        let anchors: Vec<(String, Vec<String>)> = self
            .sections
            .iter()
            .map(|s| {
                let section = ids.unique(&s.heading);
                let blocks = s
                    .blocks
                    .iter()
                    .map(|b| match b {
                        Block::Prose(_) => String::new(),
                        Block::Table(t) => ids.unique(&format!("{section} {}", t.kind)),
                        Block::Plot(p) => ids.unique(
                            p.file_name
                                .strip_suffix(".svg")
                                .unwrap_or(&format!("{section} plot")),
                        ),
                    })
                    .collect();
                (section, blocks)
            })
            .collect();
        let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n");
        out.push_str("<meta charset=\"utf-8\" />\n");
        out.push_str(
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n",
        );
        out.push_str(&format!(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\" />\n",
            escape(CSP)
        ));
        out.push_str(&format!("<title>{}</title>\n", escape(&self.title)));
        out.push_str(&format!("<style>\n{CSS}</style>\n</head>\n<body>\n"));
        out.push_str(&format!(
            "<header>\n<h1>{}</h1>\n{}</header>\n",
            escape(&self.title),
            to_html(&self.intro_linking_plots(&anchors))
        ));
        out.push_str(&self.contents(&anchors));
        out.push_str("<main>\n");
        for (section, (id, block_ids)) in self.sections.iter().zip(&anchors) {
            out.push_str(&format!(
                "<section id=\"{id}\">\n<h2>{}</h2>\n",
                escape(&section.heading)
            ));
            for (block, id) in section.blocks.iter().zip(block_ids) {
                match block {
                    Block::Prose(text) => out.push_str(&to_html(text)),
                    Block::Table(sheet) => out.push_str(&table(sheet, id)),
                    Block::Plot(plot) => out.push_str(&figure(plot, id)?),
                }
            }
            out.push_str("</section>\n");
        }
        out.push_str("</main>\n</body>\n</html>\n");
        Ok(out)
    }

    /// The `<nav>` list of sections and their tables.
    fn contents(&self, anchors: &[(String, Vec<String>)]) -> String {
        let mut out = String::from("<nav aria-label=\"Contents\">\n<h2>Contents</h2>\n<ol>\n");
        for (section, (id, block_ids)) in self.sections.iter().zip(anchors) {
            out.push_str(&format!(
                "<li><a href=\"#{id}\">{}</a>",
                escape(&section.heading)
            ));
            let tables: Vec<String> = section
                .blocks
                .iter()
                .zip(block_ids)
                .filter_map(|(b, id)| match b {
                    Block::Table(t) => Some(format!(
                        "<li><a href=\"#{id}\">{}</a></li>\n",
                        escape(&t.title)
                    )),
                    _ => None,
                })
                .collect();
            if !tables.is_empty() {
                out.push_str(&format!("\n<ol>\n{}</ol>\n", tables.concat()));
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ol>\n</nav>\n");
        out
    }
}

/// Nothing is fetched: styles are inline, and there are no scripts, images or fonts.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// The page's style sheet (no `<` or `&`, so the page stays well-formed XML).
const CSS: &str = "\
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1b1b1b;
  background: #fff; max-width: 80rem; margin: 0 auto; padding: 1rem 1.5rem 4rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.3rem; margin-top: 2.5rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: 1.8rem 0 .5rem; }
nav { background: #f6f7f8; border: 1px solid #dde; padding: .2rem 1rem .6rem; margin: 1rem 0; }
nav h2 { margin-top: .6rem; border: none; font-size: 1.1rem; }
nav ol { margin: .1rem 0; padding-left: 1.4rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d4d4d4; padding: .2rem .5rem; text-align: left; vertical-align: top;
  white-space: nowrap; }
thead th { background: #eef1f4; }
tbody tr:nth-child(even) { background: #fafafa; }
td.num { text-align: right; }
.legend { font-size: .82rem; color: #444; max-width: 62rem; }
figure { margin: 1rem 0 1.5rem; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #444; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
pre { background: #f6f7f8; padding: .6rem; overflow-x: auto; }
@media print { nav { display: none; } }
";

/// Unique element ids from headings and titles.
#[derive(Default)]
struct Ids(BTreeSet<String>);

impl Ids {
    fn unique(&mut self, text: &str) -> String {
        let base = match slugify(text) {
            s if s.is_empty() => "part".to_owned(),
            s => s,
        };
        let mut id = base.clone();
        let mut n = 1;
        while self.0.contains(&id) {
            n += 1;
            id = format!("{base}-{n}");
        }
        self.0.insert(id.clone());
        id
    }
}

/// A sheet as `<h3>` title, `<table>` and legend paragraphs.
fn table(sheet: &Sheet, id: &str) -> String {
    let mut out = format!(
        "<div class=\"sheet\" id=\"{id}\">\n<h3>{}</h3>\n<div class=\"scroll\"><table>\n<thead><tr>",
        escape(&sheet.title)
    );
    for c in &sheet.columns {
        out.push_str(&format!("<th scope=\"col\">{}</th>", escape(c)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    // Columns of numbers (missing cells aside) are aligned right.
    let numeric: Vec<bool> = (0..sheet.columns.len())
        .map(|c| {
            sheet
                .rows
                .iter()
                .filter_map(|r| r.get(c))
                .all(|cell| match cell {
                    Cell::Estimate { .. } | Cell::Missing => true,
                    Cell::Text(t) => looks_numeric(t),
                })
        })
        .collect();
    for row in &sheet.rows {
        out.push_str("<tr>");
        for (c, cell) in row.iter().enumerate() {
            let class = if numeric.get(c) == Some(&true) {
                " class=\"num\""
            } else {
                ""
            };
            out.push_str(&format!("<td{class}>{}</td>", escape(&cell.display())));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
    for n in &sheet.notes {
        out.push_str(&format!("<p class=\"legend\">{}</p>\n", escape(n)));
    }
    out.push_str("</div>\n");
    out
}

/// Whether a text cell starts with a number (`3`, `-0.5`, `1.0×`, `0 (ref)`), to be aligned
/// right.
fn looks_numeric(text: &str) -> bool {
    let n = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches('×');
    n.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
        && n.chars().all(|c| c.is_ascii_digit() || ".+-e".contains(c))
        && n.parse::<f64>().is_ok()
}

/// A plot as a `<figure>` with the SVG inline and its title as caption.
fn figure(plot: &Plot, id: &str) -> Result<String> {
    let not_svg = || Error::NotSvg {
        what: plot.title.clone(),
    };
    let svg = &plot.svg[plot.svg.find("<svg").ok_or_else(not_svg)?..];
    let svg = svg.trim_end();
    if !svg.ends_with("</svg>") {
        return Err(not_svg());
    }
    Ok(format!(
        "<figure id=\"{id}\">\n{svg}\n<figcaption>{}</figcaption>\n</figure>\n",
        escape(&plot.title)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plot(svg: &str) -> Plot {
        Plot {
            file_name: "p.svg".into(),
            title: "losses".into(),
            svg: svg.into(),
        }
    }

    fn page(blocks: Vec<Block>) -> Page {
        Page {
            title: "T".into(),
            intro: String::new(),
            sections: vec![
                PageSection {
                    heading: "Same".into(),
                    blocks,
                },
                PageSection {
                    heading: "Same".into(),
                    blocks: vec![],
                },
            ],
        }
    }

    #[test]
    fn plots_are_inlined_without_their_prolog() {
        let svg = "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"><g/></svg>\n";
        let html = page(vec![Block::Plot(plot(svg))]).render().unwrap();
        assert!(
            html.contains("<figure id=\"p\">\n<svg xmlns=\"http://www.w3.org/2000/svg\"><g/></svg>\n<figcaption>losses</figcaption>"),
            "{html}"
        );
        assert!(!html.contains("<?xml"), "{html}");
    }

    #[test]
    fn a_plot_that_is_not_svg_is_an_error_naming_it() {
        for text in ["<html></html>", "<svg><g/>", ""] {
            let err = page(vec![Block::Plot(plot(text))]).render().unwrap_err();
            assert!(
                matches!(&err, Error::NotSvg { what } if what == "losses"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_readme_link_to_a_plot_of_the_page_points_at_the_plot() {
        let svg = "<svg xmlns=\"http://www.w3.org/2000/svg\"><g/></svg>";
        let html = page(vec![Block::Plot(plot(svg))])
            .with_readme("# S\n\nSee ![losses](p.svg) and [the table](tables.md).\n")
            .render()
            .unwrap();
        assert!(html.contains("<a href=\"#p\">losses</a>"), "{html}");
        assert!(
            html.contains("<a href=\"tables.md\">the table</a>"),
            "{html}"
        );
        assert!(!html.contains("href=\"p.svg\""), "{html}");
    }

    #[test]
    fn a_readme_gives_title_and_intro() {
        let p = page(vec![]).with_readme("\n# A study\n\nIt ran.\n");
        assert_eq!(
            (p.title.as_str(), p.intro.as_str()),
            ("A study", "\nIt ran.\n")
        );
        let p = page(vec![]).with_readme("No title.\n# Later\n");
        assert_eq!(
            (p.title.as_str(), p.intro.as_str()),
            ("T", "No title.\n# Later\n")
        );
    }

    #[test]
    fn ids_are_unique_and_the_contents_link_to_them() {
        let html = page(vec![Block::Prose("x".into())]).render().unwrap();
        assert!(html.contains("<section id=\"same\">"), "{html}");
        assert!(html.contains("<section id=\"same-2\">"), "{html}");
        assert!(
            html.contains("<li><a href=\"#same-2\">Same</a></li>"),
            "{html}"
        );
    }
}
