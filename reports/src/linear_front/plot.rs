//! SVG of a [`FrontAnalysis`] with trained runs' test losses: one panel per pair of tasks
//! (the front and the scalarization set projected on those two losses) and, for three tasks,
//! the front seen along the diagonal (1, 1, 1) in normalised losses, where it is a surface
//! seen face-on, each point at its own place. House style of [`crate::plot`].

use std::collections::BTreeSet;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::cells::project;
use super::dots::compact_dots;
use super::FrontAnalysis;
use crate::plot::COLOURS;
use crate::{Error, Result};

/// A trained run's test losses, drawn with its label (runs sharing a label share a colour).
#[derive(Debug, Clone, PartialEq)]
pub struct RunPoint {
    /// Legend entry, e.g. the method.
    pub label: String,
    /// Test loss per task.
    pub losses: Vec<f64>,
}

/// Pixels per panel.
const PANEL: (u32, u32) = (420, 360);
/// Pixels above the panels for the caption.
const HEADER: u32 = 64;
/// Most scalarization points drawn (evenly thinned; the analysis keeps them all).
const MAX_REACHABLE: usize = 1500;

const REACHED: RGBColor = RGBColor(0, 114, 178);
const MISSED: RGBColor = RGBColor(213, 94, 0);
const SWEEP: RGBColor = RGBColor(175, 175, 175);

/// The SVG text of `analysis` with `runs` on top; `title` names the configuration.
pub fn front_svg(analysis: &FrontAnalysis, title: &str, runs: &[RunPoint]) -> Result<String> {
    let k = analysis.tasks;
    if k < 2 {
        return Err(Error::InvalidProblem {
            message: format!("a front plot needs at least 2 tasks, got {k}"),
        });
    }
    if let Some(r) = runs.iter().find(|r| r.losses.len() != k) {
        return Err(Error::InvalidProblem {
            message: format!(
                "run `{}` has {} losses but the problem has {k} tasks",
                r.label,
                r.losses.len()
            ),
        });
    }
    let pairs: Vec<(usize, usize)> = (0..k)
        .flat_map(|i| (i + 1..k).map(move |j| (i, j)))
        .collect();
    let panels = pairs.len() + usize::from(k == 3);
    let cols = panels.min(if panels == 4 { 2 } else { 3 });
    let rows = panels.div_ceil(cols);
    let size = (PANEL.0 * cols as u32, PANEL.1 * rows as u32 + HEADER);
    let mut svg = String::new();
    draw(analysis, title, runs, &pairs, (rows, cols), size, &mut svg).map_err(|message| {
        Error::Plot {
            what: title.to_string(),
            message,
        }
    })?;
    svg.push('\n');
    Ok(compact_dots(&svg))
}

type Outcome = std::result::Result<(), String>;

fn fail(e: impl std::fmt::Display) -> String {
    e.to_string()
}

#[allow(clippy::too_many_arguments)]
fn draw(
    a: &FrontAnalysis,
    title: &str,
    runs: &[RunPoint],
    pairs: &[(usize, usize)],
    grid: (usize, usize),
    size: (u32, u32),
    out: &mut String,
) -> Outcome {
    let root = SVGBackend::with_string(out, size).into_drawing_area();
    root.fill(&WHITE).map_err(fail)?;
    let (header, body) = root.split_vertically(HEADER);
    header
        .draw_text(title, &("sans-serif", 16).into_text_style(&header), (12, 6))
        .map_err(fail)?;
    let lines = [
        format!(
            "blue: front points that some scalarization weight reaches ({:.0} % of the front); \
             orange: front points no weight reaches; grey: scalarization solutions",
            100.0 * a.fraction_reached
        ),
        format!(
            "✕ balanced point (max loss {}), ▲ best scalarization (max loss {}); open circles: \
             runs' test losses",
            crate::sheet::metric(a.balanced.max_loss),
            crate::sheet::metric(a.best_scalarization.max_loss),
        ),
        if a.tasks == 3 {
            "panels: one task's population loss against another's; last: the front seen along \
             the diagonal (normalised losses, corners: one task entirely lost)"
        } else {
            "panels: one task's population loss against another's (projections of the front)"
        }
        .to_string(),
    ];
    for (n, line) in lines.iter().enumerate() {
        let y = 26 + 14 * n as i32;
        header
            .draw_text(line, &("sans-serif", 11).into_text_style(&header), (12, y))
            .map_err(fail)?;
    }
    let areas = body.split_evenly(grid);
    let labels = run_labels(runs);
    for (n, &(i, j)) in pairs.iter().enumerate() {
        let place = |p: &[f64]| (p[i], p[j]);
        let axes = (
            format!("task {} loss", i + 1),
            format!("task {} loss", j + 1),
        );
        panel(
            a,
            runs,
            &labels,
            &areas[n],
            &place,
            axes,
            n == 0 && a.tasks != 3,
        )?;
    }
    if a.tasks == 3 {
        let scale = a.loss_scale.clone();
        let floor = a.noise_floor;
        let place = move |p: &[f64]| diagonal_view(p, floor, &scale);
        let axes = (String::new(), String::new());
        panel(a, runs, &labels, &areas[pairs.len()], &place, axes, true)?;
    }
    root.present().map_err(fail)?;
    Ok(())
}

/// Distinct run labels in first-seen order.
fn run_labels(runs: &[RunPoint]) -> Vec<&str> {
    let mut labels: Vec<&str> = Vec::new();
    for r in runs {
        if !labels.contains(&r.label.as_str()) {
            labels.push(&r.label);
        }
    }
    labels
}

/// Raw losses `p` seen along the diagonal: their normalised losses projected on the plane
/// orthogonal to (1, 1, 1).
fn diagonal_view(p: &[f64], floor: f64, scale: &[f64]) -> (f64, f64) {
    let l: Vec<f64> = p.iter().zip(scale).map(|(v, s)| (v - floor) / s).collect();
    let xy = project(&l);
    (xy[0], xy[1])
}

fn range(v: impl Iterator<Item = f64> + Clone) -> std::ops::Range<f64> {
    let lo = v.clone().fold(f64::INFINITY, f64::min);
    let hi = v.fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.06).max(hi.abs() * 1e-3).max(1e-9);
    (lo - pad)..(hi + pad)
}

#[allow(clippy::too_many_arguments)]
fn panel(
    a: &FrontAnalysis,
    runs: &[RunPoint],
    labels: &[&str],
    area: &DrawingArea<SVGBackend, Shift>,
    place: &dyn Fn(&[f64]) -> (f64, f64),
    axes: (String, String),
    legend: bool,
) -> Outcome {
    let stride = a.reachable.len().div_ceil(MAX_REACHABLE).max(1);
    let sweep: Vec<(f64, f64)> = a
        .reachable
        .iter()
        .step_by(stride)
        .map(|s| place(&s.losses))
        .collect();
    let front: Vec<((f64, f64), bool)> = a
        .front
        .iter()
        .map(|p| (place(&p.losses), p.reached))
        .collect();
    let marks = [
        place(&a.balanced.losses),
        place(&a.best_scalarization.losses),
    ];
    let run_xy: Vec<(f64, f64)> = runs.iter().map(|r| place(&r.losses)).collect();
    let all: Vec<(f64, f64)> = sweep
        .iter()
        .chain(front.iter().map(|(p, _)| p))
        .chain(&marks)
        .chain(&run_xy)
        .copied()
        .collect();
    let face_on = axes.0.is_empty();
    // The unit cube's outline seen along the diagonal: normalised losses lie inside it.
    let cube: Vec<(f64, f64)> = [
        [1.0, 0.0, 0.0],
        [1.0, 1.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 1.0, 1.0],
        [0.0, 0.0, 1.0],
        [1.0, 0.0, 1.0],
        [1.0, 0.0, 0.0],
    ]
    .iter()
    .map(|v| {
        let xy = project(v);
        (xy[0], xy[1])
    })
    .collect();
    let (xr, yr) = if face_on {
        // Room on the right for the legend.
        (-0.85..1.55, -0.9..0.9)
    } else {
        (
            range(all.iter().map(|p| p.0)),
            range(all.iter().map(|p| p.1)),
        )
    };
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(if face_on { 0 } else { 36 })
        .y_label_area_size(if face_on { 0 } else { 56 })
        .build_cartesian_2d(xr, yr)
        .map_err(fail)?;
    if face_on {
        chart
            .draw_series(std::iter::once(PathElement::new(
                cube.clone(),
                BLACK.mix(0.5).stroke_width(1),
            )))
            .map_err(fail)?;
        let corner = |k: usize, (x, y): (f64, f64)| {
            let text = format!("task {} lost", k + 1);
            Text::new(text, (x - 0.12, y + 0.06), ("sans-serif", 11).into_font())
        };
        chart
            .draw_series([corner(0, cube[0]), corner(1, cube[2]), corner(2, cube[4])])
            .map_err(fail)?;
    } else {
        chart
            .configure_mesh()
            .x_desc(axes.0)
            .y_desc(axes.1)
            .draw()
            .map_err(fail)?;
    }
    // A mark drawn again on the same pixel changes nothing: keep the first of each, or the
    // K = 4 fronts' pictures run to megabytes.
    let pixel = |p: &(f64, f64)| chart.backend_coord(p);
    let mut seen = BTreeSet::new();
    let sweep: Vec<(f64, f64)> = sweep
        .into_iter()
        .filter(|p| seen.insert(pixel(p)))
        .collect();
    let mut seen = BTreeSet::new();
    let front: Vec<((f64, f64), bool)> = front
        .into_iter()
        .filter(|(p, reached)| seen.insert((pixel(p), *reached)))
        .collect();
    chart
        .draw_series(sweep.iter().map(|&p| Circle::new(p, 1, SWEEP.filled())))
        .map_err(fail)?
        .label("scalarization solutions")
        .legend(|(x, y)| Circle::new((x + 8, y), 2, SWEEP.filled()));
    for (reached, colour, label) in [
        (false, MISSED, "front, not reached"),
        (true, REACHED, "front, reached"),
    ] {
        chart
            .draw_series(
                front
                    .iter()
                    .filter(|(_, r)| *r == reached)
                    .map(|&(p, _)| Circle::new(p, 2, colour.filled())),
            )
            .map_err(fail)?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 8, y), 3, colour.filled()));
    }
    chart
        .draw_series(std::iter::once(Cross::new(
            marks[0],
            6,
            BLACK.stroke_width(2),
        )))
        .map_err(fail)?
        .label("balanced point")
        .legend(|(x, y)| Cross::new((x + 8, y), 5, BLACK.stroke_width(2)));
    chart
        .draw_series(std::iter::once(TriangleMarker::new(
            marks[1],
            6,
            BLACK.filled(),
        )))
        .map_err(fail)?
        .label("best scalarization")
        .legend(|(x, y)| TriangleMarker::new((x + 8, y), 5, BLACK.filled()));
    for (n, label) in labels.iter().enumerate() {
        // Skip the front's blue and orange.
        let colour = COLOURS[(n + 2) % COLOURS.len()];
        let style = ShapeStyle::from(colour).stroke_width(2);
        chart
            .draw_series(
                runs.iter()
                    .zip(&run_xy)
                    .filter(|(r, _)| r.label == *label)
                    .map(|(_, &p)| Circle::new(p, 4, style)),
            )
            .map_err(fail)?
            .label(*label)
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, style));
    }
    if legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 11))
            .draw()
            .map_err(fail)?;
    }
    Ok(())
}
