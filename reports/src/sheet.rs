//! A format-neutral table ([`Sheet`]) and its renderings: Markdown (tabled), CSV and LaTeX
//! (booktabs). Estimates keep their numbers until rendering, so CSV gets the mean and the
//! interval as separate machine-readable columns while Markdown and LaTeX print `mean ± ci`.

use tabled::builder::Builder;
use tabled::settings::Style;

/// Output formats of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    /// GitHub-flavoured Markdown tables.
    Markdown,
    /// Comma-separated values, one file per table kind.
    Csv,
    /// LaTeX `tabular` with booktabs rules.
    Latex,
    /// One self-contained HTML page with the plots inline.
    Html,
}

impl Format {
    /// File extension of the format.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Csv => "csv",
            Format::Latex => "tex",
            Format::Html => "html",
        }
    }
}

/// How an estimate's numbers are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberStyle {
    /// Four decimals, scientific below 0.001 (metrics, losses).
    Metric,
    /// Signed, one decimal (Δm%, differences of Δm%).
    Percent,
    /// Two decimals (ranks, ratios).
    Ratio,
}

/// One table cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Literal text.
    Text(String),
    /// A mean with its 95 % half-width (none when n = 1).
    Estimate {
        /// Mean.
        mean: f64,
        /// Half-width of the 95 % interval.
        ci: Option<f64>,
        /// Print style.
        style: NumberStyle,
    },
    /// No value (printed `–`, empty in CSV).
    Missing,
}

impl Cell {
    /// A text cell.
    pub fn text(s: impl Into<String>) -> Self {
        Cell::Text(s.into())
    }

    /// An estimate from a summary (missing for an empty sample).
    pub fn estimate(summary: Option<crate::stats::Summary>, style: NumberStyle) -> Self {
        match summary {
            Some(s) => Cell::Estimate {
                mean: s.mean,
                ci: s.ci95,
                style,
            },
            None => Cell::Missing,
        }
    }

    /// A single number without interval.
    pub fn number(x: f64, style: NumberStyle) -> Self {
        Cell::Estimate {
            mean: x,
            ci: None,
            style,
        }
    }

    /// Human-readable text: `mean ± ci`, `mean` alone when there is no interval, `–` when
    /// missing.
    pub fn display(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Missing => "–".into(),
            Cell::Estimate { mean, ci, style } => match ci {
                Some(h) => format!(
                    "{} ± {}",
                    styled(*mean, *style, true),
                    styled(*h, *style, false)
                ),
                None => styled(*mean, *style, true),
            },
        }
    }
}

/// A titled table with a legend, the unit every format renders.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    /// Kind of table, also the CSV file stem (`main`, `per-task`, ...).
    pub kind: &'static str,
    /// Title line.
    pub title: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
    /// Lines printed under the table.
    pub notes: Vec<String>,
}

impl Sheet {
    /// The table alone as Markdown (no title, no notes).
    pub fn markdown_table(&self) -> String {
        let mut builder = Builder::default();
        builder.push_record(self.columns.clone());
        for row in &self.rows {
            builder.push_record(row.iter().map(Cell::display));
        }
        let mut table = builder.build();
        table.with(Style::markdown());
        table.to_string()
    }

    /// Title, Markdown table and notes.
    pub fn markdown(&self) -> String {
        let mut out = format!("### {}\n\n{}\n", self.title, self.markdown_table());
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                out.push_str(&wrap(n, WRAP));
                out.push('\n');
            }
        }
        out
    }

    /// A LaTeX `table` with a booktabs `tabular`, the title as caption and the notes below.
    pub fn latex(&self) -> String {
        let align: String = (0..self.columns.len())
            .map(|c| {
                if self
                    .rows
                    .iter()
                    .any(|r| matches!(r[c], Cell::Estimate { .. }))
                {
                    'r'
                } else {
                    'l'
                }
            })
            .collect();
        let line = |cells: Vec<String>| format!("{} \\\\\n", cells.join(" & "));
        let mut out = String::from("\\begin{table}[htbp]\n\\centering\n");
        out.push_str(&format!("\\caption{{{}}}\n", latex_escape(&self.title)));
        out.push_str(&format!("\\begin{{tabular}}{{{align}}}\n\\toprule\n"));
        out.push_str(&line(
            self.columns.iter().map(|c| latex_escape(c)).collect(),
        ));
        out.push_str("\\midrule\n");
        for row in &self.rows {
            out.push_str(&line(
                row.iter().map(|c| latex_escape(&c.display())).collect(),
            ));
        }
        out.push_str("\\bottomrule\n\\end{tabular}\n");
        for n in &self.notes {
            out.push_str(&format!("\n\\par\\footnotesize {}\n", latex_escape(n)));
        }
        out.push_str("\\end{table}\n");
        out
    }

    /// CSV header and rows; every estimate column becomes `<name>` and `<name> ci95`, with
    /// the numbers at full precision. `lead` columns (name, value) are prepended to each row.
    pub fn csv(&self, lead: &[(&str, &str)], with_header: bool) -> String {
        let estimate_col: Vec<bool> = (0..self.columns.len())
            .map(|c| {
                self.rows
                    .iter()
                    .any(|r| matches!(r[c], Cell::Estimate { .. }))
            })
            .collect();
        let mut out = String::new();
        if with_header {
            let mut header: Vec<String> = lead.iter().map(|(k, _)| k.to_string()).collect();
            for (c, name) in self.columns.iter().enumerate() {
                header.push(name.clone());
                if estimate_col[c] {
                    header.push(format!("{name} ci95"));
                }
            }
            out.push_str(&csv_line(&header));
        }
        for row in &self.rows {
            let mut fields: Vec<String> = lead.iter().map(|(_, v)| v.to_string()).collect();
            for (c, cell) in row.iter().enumerate() {
                let (value, ci) = match cell {
                    Cell::Text(s) => (s.clone(), String::new()),
                    Cell::Missing => (String::new(), String::new()),
                    Cell::Estimate { mean, ci, .. } => (
                        mean.to_string(),
                        ci.map_or(String::new(), |h| h.to_string()),
                    ),
                };
                fields.push(value);
                if estimate_col[c] {
                    fields.push(ci);
                }
            }
            out.push_str(&csv_line(&fields));
        }
        out
    }
}

/// Column at which notes are wrapped, so reports read well in a 100-column terminal.
pub const WRAP: usize = 96;

/// `text` word-wrapped at `width` characters (words longer than a line stay whole).
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line > 0 && line + 1 + len > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += len;
    }
    out
}

/// Four decimals (scientific below 0.001), signed one-decimal percentages, or two decimals.
/// `signed` adds the `+` of a percentage (never on its interval).
fn styled(x: f64, style: NumberStyle, signed: bool) -> String {
    match style {
        NumberStyle::Metric => metric(x),
        NumberStyle::Percent if signed => format!("{x:+.1}"),
        NumberStyle::Percent => format!("{x:.1}"),
        NumberStyle::Ratio => format!("{x:.2}"),
    }
}

/// Four decimals, scientific below 0.001.
pub fn metric(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-3 {
        format!("{x:.2e}")
    } else {
        format!("{x:.4}")
    }
}

/// One CSV record (RFC 4180 quoting where needed).
fn csv_line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect();
    format!("{}\n", quoted.join(","))
}

/// Escapes LaTeX specials and maps the symbols the tables use to math mode.
fn latex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(ch);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '\\' => out.push_str("\\textbackslash{}"),
            '±' => out.push_str("$\\pm$"),
            'Δ' => out.push_str("$\\Delta$"),
            'λ' => out.push_str("$\\lambda$"),
            '×' => out.push_str("$\\times$"),
            '↓' => out.push_str("$\\downarrow$"),
            '↑' => out.push_str("$\\uparrow$"),
            '≈' => out.push_str("$\\approx$"),
            '≤' => out.push_str("$\\leq$"),
            '−' => out.push_str("$-$"),
            '–' => out.push_str("--"),
            '·' => out.push_str("$\\cdot$"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet() -> Sheet {
        Sheet {
            kind: "demo",
            title: "Δm% & friends".into(),
            columns: vec!["method".into(), "Δm%↓".into()],
            rows: vec![
                vec![
                    Cell::text("a_b"),
                    Cell::Estimate {
                        mean: 1.25,
                        ci: Some(0.5),
                        style: NumberStyle::Percent,
                    },
                ],
                vec![Cell::text("x,\"y\""), Cell::Missing],
            ],
            notes: vec!["50% of it".into()],
        }
    }

    #[test]
    fn cells_print_mean_and_interval() {
        assert_eq!(metric(0.12345), "0.1235");
        assert_eq!(metric(0.000123), "1.23e-4");
        assert_eq!(metric(0.0), "0.0000");
        let c = Cell::estimate(crate::stats::summarize(&[1.0, 3.0]), NumberStyle::Metric);
        assert_eq!(c.display(), "2.0000 ± 12.7062");
        assert_eq!(Cell::estimate(None, NumberStyle::Metric).display(), "–");
        assert_eq!(Cell::number(-3.0, NumberStyle::Percent).display(), "-3.0");
    }

    #[test]
    fn notes_wrap_at_word_boundaries() {
        assert_eq!(wrap("aa bb cc dd", 5), "aa bb\ncc dd");
        assert_eq!(wrap("a verylongword b", 4), "a\nverylongword\nb");
        assert_eq!(wrap("", 4), "");
    }

    #[test]
    fn csv_splits_estimates_and_quotes_fields() {
        let csv = sheet().csv(&[("dataset", "d")], true);
        assert_eq!(
            csv,
            "dataset,method,Δm%↓,Δm%↓ ci95\nd,a_b,1.25,0.5\nd,\"x,\"\"y\"\"\",,\n"
        );
    }

    #[test]
    fn latex_escapes_specials_and_uses_booktabs() {
        let tex = sheet().latex();
        assert!(
            tex.contains("\\toprule") && tex.contains("\\bottomrule"),
            "{tex}"
        );
        assert!(tex.contains("a\\_b & +1.2 $\\pm$ 0.5 \\\\"), "{tex}");
        assert!(
            tex.contains("\\caption{$\\Delta$m\\% \\& friends}"),
            "{tex}"
        );
        assert!(tex.contains("{lr}"), "{tex}");
    }
}
