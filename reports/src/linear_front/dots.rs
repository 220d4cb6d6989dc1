//! Scatter dots written compactly: a front plot draws thousands of filled circles (front
//! points and scalarization solutions in every panel), which plotters writes as one
//! `<circle>` element each, about 95 bytes a dot. A run of consecutive filled circles of one
//! radius and colour becomes one `<path>` of zero-length segments with round caps, which
//! renders the same dots at about 10 bytes each, in the same order (so what is drawn on top
//! stays on top).

/// `svg` with every run of consecutive filled, unstroked `<circle>` lines of one radius and
/// colour written as one path. Other lines are kept as they are.
pub(super) fn compact_dots(svg: &str) -> String {
    let mut out = String::with_capacity(svg.len() / 4);
    let mut run: Option<Run> = None;
    for line in svg.split_inclusive('\n') {
        let Some(dot) = filled_circle(line) else {
            flush(&mut run, &mut out);
            out.push_str(line);
            continue;
        };
        let eol = line.ends_with('\n');
        match run.as_mut() {
            Some(r) if r.style == dot.style => {
                r.push(&dot);
                r.eol = eol;
            }
            _ => {
                flush(&mut run, &mut out);
                let mut started = Run {
                    style: dot.style,
                    path: String::new(),
                    eol,
                };
                started.push(&dot);
                run = Some(started);
            }
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Radius and fill colour.
type Style<'a> = (&'a str, &'a str);

struct Dot<'a> {
    x: &'a str,
    y: &'a str,
    style: Style<'a>,
}

/// Consecutive dots of one style: their path data, and whether the last one's line ended
/// with a newline (kept after the path).
struct Run<'a> {
    style: Style<'a>,
    path: String,
    eol: bool,
}

impl Run<'_> {
    /// Adds a dot as a zero-length segment.
    fn push(&mut self, dot: &Dot<'_>) {
        self.path.push_str(&format!("M{} {}h0", dot.x, dot.y));
    }
}

fn flush(run: &mut Option<Run<'_>>, out: &mut String) {
    if let Some(r) = run.take() {
        let (radius, fill) = r.style;
        // The stroke of a zero-length segment with round caps is a disc of its width.
        let width = radius.parse::<f64>().map_or(2.0, |r| 2.0 * r);
        out.push_str(&format!(
            r#"<path d="{}" fill="none" stroke="{fill}" stroke-width="{width}" stroke-linecap="round"/>"#,
            r.path
        ));
        if r.eol {
            out.push('\n');
        }
    }
}

/// The dot a line draws, if it is exactly plotters' filled circle without a stroke:
/// `<circle cx="X" cy="Y" r="R" opacity="1" fill="#RRGGBB" stroke="none" stroke-width="1"/>`.
fn filled_circle(line: &str) -> Option<Dot<'_>> {
    let parts: Vec<&str> = line.trim_end().split('"').collect();
    let [open, x, cy, y, r, radius, opacity, "1", fill, colour, stroke, "none", width, _, "/>"] =
        parts.as_slice()
    else {
        return None;
    };
    let expected = [
        (*open, "<circle cx="),
        (*cy, " cy="),
        (*r, " r="),
        (*opacity, " opacity="),
        (*fill, " fill="),
        (*stroke, " stroke="),
        (*width, " stroke-width="),
    ];
    let numeric = |s: &str| !s.is_empty() && s.parse::<f64>().is_ok();
    (expected.iter().all(|(got, want)| got == want)
        && numeric(x)
        && numeric(y)
        && numeric(radius)
        && colour.starts_with('#'))
    .then_some(Dot {
        x,
        y,
        style: (radius, colour),
    })
}

#[cfg(test)]
mod tests {
    use super::compact_dots;

    fn circle(x: u32, y: u32, r: u32, fill: &str) -> String {
        format!(
            r#"<circle cx="{x}" cy="{y}" r="{r}" opacity="1" fill="{fill}" stroke="none" stroke-width="1"/>"#
        ) + "\n"
    }

    #[test]
    fn runs_of_one_style_become_one_path_in_drawing_order() {
        let open = r##"<circle cx="5" cy="6" r="4" opacity="1" fill="none" stroke="#E69F00" stroke-width="2"/>"##;
        let svg = [
            "<svg>\n".to_string(),
            circle(1, 2, 1, "#AFAFAF"),
            circle(3, 4, 1, "#AFAFAF"),
            circle(7, 8, 2, "#0072B2"),
            format!("{open}\n"),
            circle(9, 9, 1, "#AFAFAF"),
            "</svg>\n".to_string(),
        ]
        .concat();
        let compact = compact_dots(&svg);
        let expected = [
            "<svg>",
            r##"<path d="M1 2h0M3 4h0" fill="none" stroke="#AFAFAF" stroke-width="2" stroke-linecap="round"/>"##,
            r##"<path d="M7 8h0" fill="none" stroke="#0072B2" stroke-width="4" stroke-linecap="round"/>"##,
            open,
            r##"<path d="M9 9h0" fill="none" stroke="#AFAFAF" stroke-width="2" stroke-linecap="round"/>"##,
            "</svg>",
            "",
        ]
        .join("\n");
        assert_eq!(compact, expected);
        roxmltree::Document::parse(&compact).unwrap();
    }

    #[test]
    fn anything_else_is_kept_byte_for_byte() {
        let svg = "<svg>\n<circle cx=\"1\" cy=\"2\" r=\"1\" opacity=\"0.5\" fill=\"#AFAFAF\" \
                   stroke=\"none\" stroke-width=\"1\"/>\n<text x=\"1\">a \"quoted\" word</text>\n</svg>";
        assert_eq!(compact_dots(svg), svg);
    }
}
