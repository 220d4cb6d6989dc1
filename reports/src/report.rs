//! The whole report of a record set: per comparable dataset block the main, per-task,
//! model-size, Pareto and paired tables plus SVG loss plots, the mean ranks and the records'
//! provenance; rendered as Markdown, CSV, LaTeX or one HTML page. Rendering is a pure function
//! of the records (no clock, no paths, no hash-map order), so regenerating gives byte-identical
//! files (R21).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::analysis::Analysis;
use crate::data_draws::draws_sheets;
use crate::html::{Block, Page, PageSection};
use crate::model_size::{model_size_sheet, model_size_view};
use crate::paired::paired_sheet;
use crate::pareto::{pareto_sheet, views, PARETO_KIND};
use crate::plot::{model_size_svg, pareto_svg};
use crate::provenance::provenance_sheet;
use crate::sheet::{Format, Sheet};
use crate::store::write_atomic;
use crate::table::{main_sheet, per_task_sheet, rank_sheet, timing_sheet, ComparisonTable};
use crate::{Result, RunRecord};

/// One SVG plot and its file name.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// File name, e.g. `pareto-synthetic-linear-k2-linear-s.svg`.
    pub file_name: String,
    /// What it shows.
    pub title: String,
    /// SVG text.
    pub svg: String,
}

/// The tables and plots of one dataset block.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Block label (dataset id, plus what tells it apart from same-id blocks).
    pub label: String,
    /// File-name stem of the block.
    pub slug: String,
    /// Main, per-task, model-size, Pareto and paired tables.
    pub sheets: Vec<Sheet>,
    /// Pareto plots, one per model, then the model-size plot where the block has several
    /// models with Δm%.
    pub plots: Vec<Plot>,
}

/// A full report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Sections in block order.
    pub sections: Vec<Section>,
    /// Mean ranks over dataset × model columns (when there are several).
    pub ranks: Option<Sheet>,
    /// Data draw against training seed, per family of blocks that differ only in the draw
    /// ([`crate::data_draws`]).
    pub draws: Vec<Sheet>,
    /// Why blocks were separated (R20).
    pub notes: Vec<String>,
    /// The terminal comparison table (main and per-task tables).
    pub comparison: ComparisonTable,
    /// What the records say about the software, machine and data that produced them.
    pub provenance: Sheet,
    /// Number of records the report was built from.
    pub records: usize,
}

/// A rendered output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// File name inside the output folder.
    pub file_name: String,
    /// Contents.
    pub contents: String,
}

impl Report {
    /// Analyses `records` (see [`Analysis::new`]) and builds every table and plot.
    pub fn build(records: &[RunRecord], method_order: &[&str]) -> Result<Self> {
        let analysis = Analysis::new(records, method_order)?;
        let mut slugs: Vec<String> = Vec::new();
        let mut sections = Vec::new();
        for b in &analysis.blocks {
            let mut slug = slugify(&b.block.label);
            if slugs.contains(&slug) {
                slug = format!("{slug}-{}", slugs.len() + 1);
            }
            slugs.push(slug.clone());
            let pareto = views(b);
            let mut plots = Vec::new();
            for v in &pareto {
                if let Some(svg) = pareto_svg(v)? {
                    plots.push(Plot {
                        file_name: format!("pareto-{slug}-{}.svg", slugify(&v.model)),
                        title: format!("test losses, {}", v.model),
                        svg,
                    });
                }
            }
            if let Some(view) = model_size_view(b) {
                plots.push(Plot {
                    file_name: format!("model-size-{slug}.svg"),
                    title: "Δm% by model size".into(),
                    svg: model_size_svg(&view)?,
                });
            }
            sections.push(Section {
                label: b.block.label.clone(),
                slug,
                sheets: vec![
                    main_sheet(b),
                    per_task_sheet(b),
                    timing_sheet(b),
                    model_size_sheet(b),
                    pareto_sheet(b, &pareto),
                    paired_sheet(b),
                ],
                plots,
            });
        }
        let comparison = ComparisonTable {
            blocks: sections
                .iter()
                .map(|s| (s.label.clone(), s.sheets[..3].to_vec()))
                .collect(),
            ranks: rank_sheet(&analysis),
            notes: analysis.notes.clone(),
        };
        Ok(Self {
            sections,
            ranks: rank_sheet(&analysis),
            draws: draws_sheets(&analysis),
            notes: analysis.notes,
            comparison,
            provenance: provenance_sheet(records),
            records: records.len(),
        })
    }

    /// Every plot of the report.
    pub fn plots(&self) -> impl Iterator<Item = &Plot> {
        self.sections.iter().flat_map(|s| &s.plots)
    }

    /// The report's documents in `format`: `report.md`, `report.tex` or `report.html`, or one
    /// CSV file per table kind (`main.csv`, ...; split per dataset as `<kind>-<dataset>.csv`
    /// where the datasets' columns differ).
    pub fn render(&self, format: Format) -> Result<Vec<Output>> {
        let one = |file_name: &str, contents: String| {
            vec![Output {
                file_name: file_name.into(),
                contents,
            }]
        };
        Ok(match format {
            Format::Markdown => one("report.md", self.markdown()),
            Format::Latex => one("report.tex", self.latex()),
            Format::Html => one("report.html", self.page().render()?),
            Format::Csv => self.csv(),
        })
    }

    /// What `mtlbench report` prints without an output folder: for Markdown the terminal
    /// comparison table (the one a sweep prints) and a pointer to the full report; for LaTeX and
    /// HTML the document; for CSV the files, each preceded by a `# <file name>` line.
    pub fn to_text(&self, format: Format) -> Result<String> {
        Ok(match format {
            Format::Markdown => format!(
                "{}\n\nThe full report (model-size, Pareto and paired tables, {} SVG plots) is \
                 written by `--out DIR`.\n",
                self.comparison,
                self.plots().count()
            ),
            Format::Latex => self.latex(),
            Format::Html => self.page().render()?,
            Format::Csv => self
                .csv()
                .iter()
                .map(|o| format!("# {}\n{}\n", o.file_name, o.contents))
                .collect(),
        })
    }

    /// The report as one [`Page`]: per dataset its tables, each plot after the Pareto table;
    /// then the mean ranks and the provenance. Separation notes come before the datasets.
    pub fn page(&self) -> Page {
        let mut sections = Vec::new();
        if !self.notes.is_empty() {
            sections.push(PageSection {
                heading: "Separated datasets".into(),
                blocks: self.notes.iter().cloned().map(Block::Prose).collect(),
            });
        }
        for s in &self.sections {
            let mut blocks: Vec<Block> = s.sheets.iter().cloned().map(Block::Table).collect();
            let at = s
                .sheets
                .iter()
                .position(|t| t.kind == PARETO_KIND)
                .map_or(blocks.len(), |i| i + 1);
            blocks.splice(at..at, s.plots.iter().cloned().map(Block::Plot));
            sections.push(PageSection {
                heading: format!("Dataset: {}", s.label),
                blocks,
            });
        }
        let across: Vec<Block> = self.across().cloned().map(Block::Table).collect();
        if !across.is_empty() {
            sections.push(PageSection {
                heading: "All datasets".into(),
                blocks: across,
            });
        }
        sections.push(PageSection {
            heading: "Provenance".into(),
            blocks: vec![Block::Table(self.provenance.clone())],
        });
        Page {
            title: "mtlbench report".into(),
            intro: format!(
                "The tables and plots of {} run records in {} comparable dataset blocks, \
                 regenerated byte for byte by `mtlbench report --format html`. Estimates are \
                 means over seeds ± the half-width of their 95 % t-interval; the legend under \
                 each table says what it shows. The provenance of the records is at the end.",
                self.records,
                self.sections.len()
            ),
            sections,
        }
    }

    /// Writes the documents in `format` into `dir` (created if needed), with every SVG plot
    /// beside them except for HTML (whose page holds them), each file atomically; returns the
    /// paths in write order.
    pub fn write(&self, dir: &Path, format: Format) -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        let plots = self
            .plots()
            .filter(|_| format != Format::Html)
            .map(|p| (p.file_name.as_str(), p.svg.as_str()));
        let docs: Vec<Output> = self.render(format)?;
        for (name, text) in docs
            .iter()
            .map(|o| (o.file_name.as_str(), o.contents.as_str()))
            .chain(plots)
        {
            let path = dir.join(name);
            write_atomic(&path, text.as_bytes())?;
            written.push(path);
        }
        Ok(written)
    }

    fn markdown(&self) -> String {
        let mut out = String::from("# mtlbench report\n\n");
        for n in &self.notes {
            out.push_str(&format!(
                "{}\n\n",
                crate::sheet::wrap(n, crate::sheet::WRAP)
            ));
        }
        for s in &self.sections {
            out.push_str(&format!("## Dataset: {}\n\n", s.label));
            for sheet in &s.sheets {
                out.push_str(&sheet.markdown());
                out.push('\n');
            }
            for p in &s.plots {
                out.push_str(&format!("![{}]({})\n\n", p.title, p.file_name));
            }
        }
        for (i, sheet) in self.across().enumerate() {
            if i == 0 {
                out.push_str("## All datasets\n\n");
            } else {
                out.push('\n');
            }
            out.push_str(&sheet.markdown());
        }
        out
    }

    /// The tables over all blocks: the mean ranks, then the data-draw tables.
    fn across(&self) -> impl Iterator<Item = &Sheet> {
        self.ranks.iter().chain(&self.draws)
    }

    fn latex(&self) -> String {
        let mut out = String::from(
            "% mtlbench report: tables for \\input{}; needs \\usepackage{booktabs}.\n",
        );
        for n in &self.notes {
            out.push_str(&format!("% {n}\n"));
        }
        for s in &self.sections {
            for sheet in &s.sheets {
                out.push('\n');
                out.push_str(&sheet.latex());
            }
        }
        for sheet in self.across() {
            out.push('\n');
            out.push_str(&sheet.latex());
        }
        out
    }

    fn csv(&self) -> Vec<Output> {
        let mut by_kind: BTreeMap<&str, Vec<(&Section, &Sheet)>> = BTreeMap::new();
        for s in &self.sections {
            for sheet in &s.sheets {
                by_kind.entry(sheet.kind).or_default().push((s, sheet));
            }
        }
        let mut out = Vec::new();
        for (kind, sheets) in by_kind {
            let same_columns = sheets.iter().all(|(_, s)| s.columns == sheets[0].1.columns);
            if same_columns {
                let mut contents = String::new();
                for (i, (section, sheet)) in sheets.iter().enumerate() {
                    contents.push_str(&sheet.csv(&[("dataset", &section.label)], i == 0));
                }
                out.push(Output {
                    file_name: format!("{kind}.csv"),
                    contents,
                });
            } else {
                for (section, sheet) in sheets {
                    out.push(Output {
                        file_name: format!("{kind}-{}.csv", section.slug),
                        contents: sheet.csv(&[("dataset", &section.label)], true),
                    });
                }
            }
        }
        if let Some(r) = &self.ranks {
            out.push(Output {
                file_name: "rank.csv".into(),
                contents: r.csv(&[], true),
            });
        }
        if !self.draws.is_empty() {
            let contents = self
                .draws
                .iter()
                .enumerate()
                .map(|(i, d)| d.csv(&[("family", d.title.as_str())], i == 0))
                .collect();
            out.push(Output {
                file_name: "draws.csv".into(),
                contents,
            });
        }
        out.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        out
    }
}

/// Lower-case ASCII letters and digits, other runs of characters as one `-`.
pub(crate) fn slugify(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_keep_letters_and_digits() {
        assert_eq!(
            slugify("synthetic-linear/k2-d8 [revision v2]"),
            "synthetic-linear-k2-d8-revision-v2"
        );
    }
}
