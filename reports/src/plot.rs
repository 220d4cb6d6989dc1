//! SVG plots (plotters, SVG backend only).
//!
//! - A [`ParetoView`]: every run's final test losses as one point series per method
//!   configuration, the scalarization front as a line through its mean points, and the
//!   single-task losses as the ideal corner. With more than two tasks the plot shows the first
//!   two (the caption says so); hypervolumes use all of them.
//! - A [`ModelSizeView`]: each method configuration's Δm% (mean and 95 % interval over seeds)
//!   against the models of a block in increasing width, with the single-task level Δm = 0.

use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters_backend::{BackendCoord, DrawingErrorKind};

use crate::model_size::ModelSizeView;
use crate::pareto::ParetoView;
use crate::{Error, Result};

/// Width and height of a plot in pixels.
pub const SIZE: (u32, u32) = (720, 540);

/// Okabe–Ito colours (distinguishable with colour-vision deficiencies) and three darker
/// tones, cycled.
pub(crate) const COLOURS: [RGBColor; 10] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 94, 240),
    RGBColor(110, 110, 110),
    RGBColor(140, 30, 30),
    RGBColor(100, 110, 0),
];

/// The `i`-th plot colour (cycled).
pub fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// Legend entries a plot keeps inside its plotting area; with more, the legend is a column to
/// the right of the plot, so it hides no runs.
const LEGEND_INSIDE_MAX: usize = 12;
/// Width of that column, pixels.
const LEGEND_COLUMN: u32 = 250;

/// A series' marker: circles for the first pass through [`COLOURS`], then squares, then
/// triangles, so up to 30 series stay distinguishable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Circle,
    Square,
    Triangle,
}

impl Shape {
    /// The marker of series `i`.
    fn of(i: usize) -> Self {
        match (i / COLOURS.len()) % 3 {
            0 => Shape::Circle,
            1 => Shape::Square,
            _ => Shape::Triangle,
        }
    }

    /// The marker at `at`, `style` (filled or hollow), about 8 pixels across.
    fn at<C>(self, at: C, style: ShapeStyle) -> Marker<C> {
        Marker {
            shape: self,
            at,
            style,
        }
    }
}

/// A point drawn as a [`Shape`]: one element type for every shape, so a series or a legend
/// entry can take any of them.
struct Marker<C> {
    shape: Shape,
    at: C,
    style: ShapeStyle,
}

impl<'a, C: 'a> PointCollection<'a, C> for &'a Marker<C> {
    type Point = &'a C;
    type IntoIter = std::iter::Once<&'a C>;

    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.at)
    }
}

impl<C, DB: DrawingBackend> Drawable<DB> for Marker<C> {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut points: I,
        backend: &mut DB,
        ps: (u32, u32),
    ) -> std::result::Result<(), DrawingErrorKind<DB::ErrorType>> {
        let Some((x, y)) = points.next() else {
            return Ok(());
        };
        let here = std::iter::once((x, y));
        match self.shape {
            Shape::Circle => Circle::new((x, y), 4, self.style).draw(here, backend, ps),
            Shape::Square => backend.draw_rect(
                (x - 4, y - 4),
                (x + 4, y + 4),
                &self.style,
                self.style.filled,
            ),
            Shape::Triangle if self.style.filled => {
                TriangleMarker::new((x, y), 5, self.style).draw(here, backend, ps)
            }
            Shape::Triangle => {
                let corners = [(x, y - 5), (x + 5, y + 3), (x - 5, y + 3), (x, y - 5)];
                backend.draw_path(corners, &self.style)
            }
        }
    }
}

/// Legend entry of the front line.
pub const FRONT_LABEL: &str = "scalarization front";
/// Legend entry of the single-task corner.
pub const IDEAL_LABEL: &str = "single-task (stl)";

/// The SVG text of `view`'s loss plot; `None` for a single-task dataset (nothing to plot).
pub fn pareto_svg(view: &ParetoView) -> Result<Option<String>> {
    if view.tasks.len() < 2 {
        return Ok(None);
    }
    svg_of(format!("{} / {}", view.dataset, view.model), |out| {
        draw(view, out)
    })
    .map(Some)
}

/// The SVG text `draw` writes, ending in a newline; its failure names `what`.
fn svg_of(
    what: String,
    draw: impl FnOnce(&mut String) -> std::result::Result<(), String>,
) -> Result<String> {
    let mut svg = String::new();
    draw(&mut svg).map_err(|message| Error::Plot { what, message })?;
    svg.push('\n');
    Ok(svg)
}

/// The corner of the plot for the legend: the one whose box (half the width, 40 % of the
/// height) covers the fewest points, upper right on a tie, so the legend hides as few runs as
/// it can.
fn legend_corner(
    xs: &[f64],
    ys: &[f64],
    x: &std::ops::Range<f64>,
    y: &std::ops::Range<f64>,
) -> SeriesLabelPosition {
    let (x_mid, y_low, y_high) = (
        x.start + 0.5 * (x.end - x.start),
        y.start + 0.4 * (y.end - y.start),
        y.start + 0.6 * (y.end - y.start),
    );
    let covered = |right: bool, upper: bool| {
        xs.iter()
            .zip(ys)
            .filter(|(px, py)| {
                (**px >= x_mid) == right && if upper { **py >= y_high } else { **py <= y_low }
            })
            .count()
    };
    [
        (SeriesLabelPosition::UpperRight, covered(true, true)),
        (SeriesLabelPosition::UpperLeft, covered(false, true)),
        (SeriesLabelPosition::LowerRight, covered(true, false)),
        (SeriesLabelPosition::LowerLeft, covered(false, false)),
    ]
    .into_iter()
    .min_by_key(|(_, n)| *n)
    .map_or(SeriesLabelPosition::UpperRight, |(corner, _)| corner)
}

fn draw(view: &ParetoView, out: &mut String) -> std::result::Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    let mut xs: Vec<f64> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    for s in &view.series {
        for p in &s.points {
            xs.push(p[0]);
            ys.push(p[1]);
        }
    }
    if let Some(ideal) = &view.ideal {
        xs.push(ideal[0]);
        ys.push(ideal[1]);
    }
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pad = ((hi - lo) * 0.08).max(hi.abs() * 1e-3).max(1e-9);
        (lo - pad)..(hi + pad)
    };
    let caption = if view.tasks.len() > 2 {
        format!(
            "{} · {} (tasks {}, {} of {})",
            view.dataset,
            view.model,
            view.tasks[0],
            view.tasks[1],
            view.tasks.len()
        )
    } else {
        format!("{} · {}", view.dataset, view.model)
    };
    let (x_range, y_range) = (range(&xs), range(&ys));
    let corner = legend_corner(&xs, &ys, &x_range, &y_range);
    let mut legend: Vec<(&str, Mark)> = Vec::new();
    if !view.front.is_empty() {
        legend.push((FRONT_LABEL, Mark::Line));
    }
    for (i, s) in view.series.iter().enumerate() {
        legend.push((s.label.as_str(), Mark::Series(i, s.scalarization)));
    }
    if view.ideal.is_some() {
        legend.push((IDEAL_LABEL, Mark::Ideal));
    }
    let column = legend.len() > LEGEND_INSIDE_MAX;
    let size = if column {
        let rows = 48 + 18 * legend.len() as u32;
        (SIZE.0 + LEGEND_COLUMN, SIZE.1.max(rows))
    } else {
        SIZE
    };
    let root = SVGBackend::with_string(out, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let (area, side) = if column {
        let (area, side) = root.split_horizontally(SIZE.0);
        (area, Some(side))
    } else {
        (root.clone(), None)
    };
    let mut chart = chart_on(&area, caption, x_range, y_range)?;
    chart
        .configure_mesh()
        .x_desc(format!("{} test loss", view.tasks[0]))
        .y_desc(format!("{} test loss", view.tasks[1]))
        .draw()
        .map_err(|e| fail(&e))?;
    if !view.front.is_empty() {
        chart
            .draw_series(LineSeries::new(
                view.front.iter().map(|(_, p)| (p[0], p[1])),
                BLACK.stroke_width(1),
            ))
            .map_err(|e| fail(&e))?
            .label(FRONT_LABEL)
            .legend(|at| legend_line(at, BLACK));
    }
    for (i, s) in view.series.iter().enumerate() {
        let (shape, style) = (Shape::of(i), series_style(i, s.scalarization));
        chart
            .draw_series(s.points.iter().map(|p| shape.at((p[0], p[1]), style)))
            .map_err(|e| fail(&e))?
            .label(s.label.as_str())
            .legend(move |(x, y)| shape.at((x + 8, y), style));
    }
    if let Some(ideal) = &view.ideal {
        chart
            .draw_series(std::iter::once(Cross::new(
                (ideal[0], ideal[1]),
                6,
                BLACK.stroke_width(2),
            )))
            .map_err(|e| fail(&e))?
            .label(IDEAL_LABEL)
            .legend(ideal_glyph);
    }
    match side {
        Some(side) => {
            legend_column(&side, &legend).map_err(|e| fail(&e))?;
            root.present().map_err(|e| fail(&e))
        }
        None => finish(&mut chart, &root, corner),
    }
}

/// A legend entry's line, 16 pixels from `(x, y)` to the right (the front, a model-size series).
fn legend_line((x, y): BackendCoord, style: impl Into<ShapeStyle>) -> PathElement<BackendCoord> {
    PathElement::new(vec![(x, y), (x + 16, y)], style)
}

/// The single-task cross of a legend entry starting at `(x, y)`.
fn ideal_glyph((x, y): BackendCoord) -> Cross<BackendCoord, i32> {
    Cross::new((x + 8, y), 5, BLACK.stroke_width(2))
}

/// What a legend entry of the loss plot shows.
#[derive(Debug, Clone, Copy)]
enum Mark {
    /// The front's line.
    Line,
    /// Series `i`'s marker; hollow for a scalarization.
    Series(usize, bool),
    /// The single-task cross.
    Ideal,
}

/// The marker style of series `i`: scalarization runs hollow, other methods filled.
fn series_style(i: usize, scalarization: bool) -> ShapeStyle {
    let colour = colour(i);
    if scalarization {
        colour.stroke_width(2)
    } else {
        colour.filled()
    }
}

/// The legend as a column of entries in `area`, top to bottom.
fn legend_column(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    entries: &[(&str, Mark)],
) -> std::result::Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let font = ("sans-serif", 13).into_font();
    for (row, (label, mark)) in entries.iter().enumerate() {
        let y = 40 + 18 * row as i32;
        match *mark {
            Mark::Line => area.draw(&legend_line((6, y), BLACK))?,
            Mark::Series(i, hollow) => {
                area.draw(&Shape::of(i).at((14, y), series_style(i, hollow)))?
            }
            Mark::Ideal => area.draw(&ideal_glyph((6, y)))?,
        }
        area.draw(&Text::new(label.to_string(), (30, y - 7), font.clone()))?;
    }
    Ok(())
}

/// The coordinates of every plot here: f64 on both axes.
type Coords =
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>;

/// A chart with every plot's caption font, margin and label areas on `root`.
fn chart_on<'a, 'b: 'a>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    caption: String,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> std::result::Result<ChartContext<'a, SVGBackend<'b>, Coords>, String> {
    ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())
}

/// Draws the legend in `corner` and writes the plot out.
fn finish<'a, 'b: 'a>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, Coords>,
    root: &DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    corner: SeriesLabelPosition,
) -> std::result::Result<(), String> {
    chart
        .configure_series_labels()
        .position(corner)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Legend entry of the Δm = 0 line of the model-size plot.
pub const STL_LEVEL_LABEL: &str = "single-task level (Δm = 0)";

/// The SVG text of `view`'s model-size plot.
pub fn model_size_svg(view: &ModelSizeView) -> Result<String> {
    svg_of(format!("{} / model size", view.dataset), |out| {
        draw_model_size(view, out)
    })
}

fn draw_model_size(view: &ModelSizeView, out: &mut String) -> std::result::Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    let n = view.models.len();
    let series = view.series.len();
    // Series side by side around each model, so intervals do not hide each other.
    let shift = |i: usize| {
        if series > 1 {
            (i as f64 / (series - 1) as f64 - 0.5) * 0.3
        } else {
            0.0
        }
    };
    let points: Vec<Vec<(f64, f64, f64, f64)>> = view
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.points
                .iter()
                .enumerate()
                .filter_map(|(m, p)| {
                    p.map(|p| {
                        let h = p.ci95.unwrap_or(0.0);
                        (m as f64 + shift(i), p.mean - h, p.mean, p.mean + h)
                    })
                })
                .collect()
        })
        .collect();
    let mut ys = vec![0.0];
    let mut xs = vec![0.0];
    for p in points.iter().flatten() {
        ys.extend([p.1, p.3]);
        xs.extend([p.0, p.0]);
    }
    let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.08).max(1e-6);
    let (x_range, y_range) = (-0.5..n as f64 - 0.5, (lo - pad)..(hi + pad));
    let corner = legend_corner(&xs, &ys, &x_range, &y_range);
    let models = &view.models;
    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let caption = format!("{} · Δm% by model size", view.dataset);
    let mut chart = chart_on(&root, caption, x_range, y_range)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            match models.get(i as usize) {
                Some((name, width)) if (x - i).abs() < 1e-6 && i >= 0.0 => {
                    format!("{name} (w={width})")
                }
                _ => String::new(),
            }
        })
        .x_desc("model (shared width w)")
        .y_desc("Δm% (lower is better)")
        .draw()
        .map_err(|e| fail(&e))?;
    chart
        .draw_series(DashedLineSeries::new(
            [(-0.5, 0.0), (n as f64 - 0.5, 0.0)],
            6,
            4,
            BLACK.stroke_width(1),
        ))
        .map_err(|e| fail(&e))?
        .label(STL_LEVEL_LABEL)
        .legend(|at| legend_line(at, BLACK));
    for (i, (s, pts)) in view.series.iter().zip(&points).enumerate() {
        let c = colour(i);
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.0, p.2)),
                c.stroke_width(2),
            ))
            .map_err(|e| fail(&e))?
            .label(s.label.as_str())
            .legend(move |at| legend_line(at, c.stroke_width(2)));
        chart
            .draw_series(
                pts.iter()
                    .map(|p| ErrorBar::new_vertical(p.0, p.1, p.2, p.3, c.filled(), 8)),
            )
            .map_err(|e| fail(&e))?;
    }
    finish(&mut chart, &root, corner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hypervolume::Hypervolume;
    use crate::pareto::Series;

    /// A two-task view with `n` method series of two runs each.
    fn view(n: usize) -> ParetoView {
        let series = (0..n)
            .map(|i| {
                let x = 0.3 + 0.01 * i as f64;
                Series {
                    label: format!("method-{i}"),
                    scalarization: i == 0,
                    points: vec![vec![x, 0.5 - x], vec![x + 0.005, 0.49 - x]],
                    mean: vec![x + 0.0025, 0.495 - x],
                }
            })
            .collect();
        ParetoView {
            dataset: "d".into(),
            model: "m".into(),
            tasks: vec!["left".into(), "right".into()],
            lower: vec![0.2, 0.1],
            reference: vec![0.7, 0.5],
            series,
            front: vec![("method-0".into(), vec![0.3025, 0.195])],
            front_hv: Hypervolume {
                value: 0.1,
                exact: true,
            },
            ideal: Some(vec![0.25, 0.15]),
        }
    }

    #[test]
    fn many_series_get_a_legend_column_and_distinct_markers() {
        let parse = |svg: &str| {
            let doc = roxmltree::Document::parse(svg).unwrap();
            let root = doc.root_element();
            let texts: Vec<String> = doc
                .descendants()
                .filter(|n| n.has_tag_name("text"))
                .filter_map(|n| n.text().map(|t| t.trim().to_owned()))
                .collect();
            let count = |tag: &str| doc.descendants().filter(|n| n.has_tag_name(tag)).count();
            (
                root.attribute("width").unwrap().to_owned(),
                texts,
                count("circle"),
                count("rect"),
                count("polygon"),
            )
        };
        // Few series: the legend stays inside the plot, circles only.
        let (width, texts, circles, _, polygons) = parse(&pareto_svg(&view(5)).unwrap().unwrap());
        assert_eq!(width, SIZE.0.to_string());
        assert!(texts.iter().any(|t| t == "method-4"));
        assert_eq!(
            (circles, polygons),
            (5 * 3, 0),
            "2 runs and a legend mark each"
        );

        // 25 series (27 entries with the front and the ideal): a column beside the plot.
        let (width, texts, circles, _, polygons) = parse(&pareto_svg(&view(25)).unwrap().unwrap());
        assert_eq!(width, (SIZE.0 + LEGEND_COLUMN).to_string());
        for label in (0..25)
            .map(|i| format!("method-{i}"))
            .chain([FRONT_LABEL.into(), IDEAL_LABEL.into()])
        {
            assert!(texts.contains(&label), "{label} missing from the legend");
        }
        assert_eq!(circles, 10 * 3, "the first ten series are circles");
        assert_eq!(polygons, 5 * 3, "series 20–24 are triangles");
        assert_eq!(
            [0, 9, 10, 19, 20, 29, 30].map(Shape::of),
            [
                Shape::Circle,
                Shape::Circle,
                Shape::Square,
                Shape::Square,
                Shape::Triangle,
                Shape::Triangle,
                Shape::Circle
            ]
        );
    }

    #[test]
    fn the_legend_goes_to_the_emptiest_corner_upper_right_on_a_tie() {
        let (x, y) = (0.0..1.0, 0.0..1.0);
        let corner = |pts: &[(f64, f64)]| {
            let (xs, ys): (Vec<f64>, Vec<f64>) = pts.iter().copied().unzip();
            format!("{:?}", legend_corner(&xs, &ys, &x, &y))
        };
        assert_eq!(corner(&[]), "UpperRight");
        // Runs crowd the upper right, the ideal point sits lower left.
        assert_eq!(
            corner(&[(0.8, 0.9), (0.7, 0.8), (0.6, 0.7), (0.1, 0.1)]),
            "UpperLeft"
        );
        assert_eq!(corner(&[(0.8, 0.9), (0.2, 0.9), (0.1, 0.1)]), "LowerRight");
    }
}
