//! Pareto views: the final per-task test losses of every run, the front traced by linear
//! scalarization with fixed weights (`uniform`, `fixed`, `tuned`), each method against it, and
//! hypervolumes with a declared reference point.
//!
//! Losses are the test losses of the validation-selected epoch (`record.test[k].loss`).
//! The scalarization front is the non-dominated subset of the mean loss vectors (over seeds) of
//! every fixed-weight configuration; `tuned`'s search history holds only scalar validation
//! scores, so its chosen weights contribute one point like any `fixed` run. With lo_k and hi_k
//! the smallest and largest finite test loss of task k over the runs of that dataset and model
//! (stl excluded), the reference point is r_k = hi_k + 0.1 (hi_k − lo_k), printed with the
//! table, and hypervolumes are given as a fraction of the box [lo, r] (0 to 1, independent of
//! the loss scales). Hypervolume: see [`crate::hypervolume`].

use crate::analysis::{BlockAnalysis, Group};
use crate::hypervolume::{dominates, hypervolume, non_dominated, Hypervolume};
use crate::sheet::{metric, Cell, NumberStyle, Sheet};
use crate::stats::summarize;
use crate::RunRecord;

/// Methods whose runs are linear scalarization with fixed weights: they trace the front.
pub const SCALARIZATION: &[&str] = &["uniform", "fixed", "tuned"];
/// Margin of the reference point beyond the worst loss, as a fraction of the loss range.
pub const REFERENCE_MARGIN: f64 = 0.1;
/// [`Sheet::kind`] of the Pareto table.
pub const PARETO_KIND: &str = "pareto";

/// One method configuration's runs in loss space.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Row label of the method configuration.
    pub label: String,
    /// Whether it is a fixed-weight scalarization.
    pub scalarization: bool,
    /// Final test-loss vector of each completed run, by (seed, cell id).
    pub points: Vec<Vec<f64>>,
    /// Mean loss vector over the runs.
    pub mean: Vec<f64>,
}

/// The Pareto view of one model of one block.
#[derive(Debug, Clone, PartialEq)]
pub struct ParetoView {
    /// Block label.
    pub dataset: String,
    /// Model name.
    pub model: String,
    /// Task names.
    pub tasks: Vec<String>,
    /// Smallest loss per task over the runs: the lower corner of the hypervolume box.
    pub lower: Vec<f64>,
    /// Reference point of every hypervolume.
    pub reference: Vec<f64>,
    /// One series per method configuration with completed runs, in row order.
    pub series: Vec<Series>,
    /// Mean points of the scalarization front (non-dominated), sorted by the first loss.
    pub front: Vec<(String, Vec<f64>)>,
    /// Hypervolume of the front's points, as a fraction of the box [lower, reference].
    pub front_hv: Hypervolume,
    /// Mean single-task (stl) test loss per task, if every task has one: the ideal corner.
    pub ideal: Option<Vec<f64>>,
}

/// The Pareto views of a block, one per model with at least one multi-task run.
pub fn views(b: &BlockAnalysis<'_>) -> Vec<ParetoView> {
    b.models()
        .into_iter()
        .filter_map(|model| view(b, model))
        .collect()
}

fn losses(r: &RunRecord) -> Vec<f64> {
    r.test.iter().map(|t| t.loss).collect()
}

fn mean_vector(points: &[Vec<f64>]) -> Vec<f64> {
    let k = points.first().map_or(0, Vec::len);
    (0..k)
        .map(|j| points.iter().map(|p| p[j]).sum::<f64>() / points.len() as f64)
        .collect()
}

fn view(b: &BlockAnalysis<'_>, model: &str) -> Option<ParetoView> {
    let groups: Vec<&Group<'_>> = b.groups.iter().filter(|g| g.model.name == model).collect();
    let series: Vec<Series> = groups
        .iter()
        .filter(|g| !g.is_stl())
        .filter_map(|g| {
            let points: Vec<Vec<f64>> = g
                .done()
                .map(losses)
                .filter(|p| p.iter().all(|x| x.is_finite()))
                .collect();
            (!points.is_empty()).then(|| Series {
                label: g.label.clone(),
                scalarization: SCALARIZATION.contains(&g.method.as_str()),
                mean: mean_vector(&points),
                points,
            })
        })
        .collect();
    if series.is_empty() {
        return None;
    }
    let k = b.tasks().len();
    let all = || series.iter().flat_map(|s| s.points.iter());
    let lower: Vec<f64> = (0..k)
        .map(|j| all().map(|p| p[j]).fold(f64::INFINITY, f64::min))
        .collect();
    let reference: Vec<f64> = (0..k)
        .map(|j| {
            let hi = all().map(|p| p[j]).fold(f64::NEG_INFINITY, f64::max);
            let span = hi - lower[j];
            if span > 0.0 {
                hi + REFERENCE_MARGIN * span
            } else {
                hi + REFERENCE_MARGIN * hi.abs().max(1e-12)
            }
        })
        .collect();
    let candidates: Vec<&Series> = series.iter().filter(|s| s.scalarization).collect();
    let means: Vec<Vec<f64>> = candidates.iter().map(|s| s.mean.clone()).collect();
    let mut front: Vec<(String, Vec<f64>)> = non_dominated(&means)
        .into_iter()
        .map(|i| (candidates[i].label.clone(), means[i].clone()))
        .collect();
    front.sort_by(|a, b| a.1[0].total_cmp(&b.1[0]).then_with(|| a.0.cmp(&b.0)));
    let front_points: Vec<Vec<f64>> = front.iter().map(|f| f.1.clone()).collect();
    let front_hv = normalized_hypervolume(&front_points, &lower, &reference);
    let ideal = groups.iter().find(|g| g.is_stl()).and_then(|g| {
        (0..k)
            .map(|t| {
                let own: Vec<f64> = g
                    .done()
                    .filter(|r| crate::analysis::stl_task(r) == Some(t))
                    .map(|r| r.test[t].loss)
                    .collect();
                summarize(&own).map(|s| s.mean)
            })
            .collect::<Option<Vec<f64>>>()
    });
    Some(ParetoView {
        dataset: b.block.label.clone(),
        model: model.to_owned(),
        tasks: b.tasks().iter().map(|t| t.name.clone()).collect(),
        lower,
        reference,
        series,
        front,
        front_hv,
        ideal,
    })
}

/// Hypervolume as a fraction of the box [lower, reference], so values lie in [0, 1] whatever
/// the loss scales.
pub fn normalized_hypervolume(
    points: &[Vec<f64>],
    lower: &[f64],
    reference: &[f64],
) -> Hypervolume {
    let h = hypervolume(points, reference);
    let volume: f64 = reference.iter().zip(lower).map(|(r, l)| r - l).product();
    Hypervolume {
        value: if volume > 0.0 { h.value / volume } else { 0.0 },
        exact: h.exact,
    }
}

/// Where a method's mean point lies relative to the scalarization front.
fn position(s: &Series, v: &ParetoView) -> &'static str {
    if v.front.is_empty() {
        "no front"
    } else if v.front.iter().any(|(_, f)| dominates(f, &s.mean)) {
        "dominated"
    } else if v.front.iter().any(|(label, _)| *label == s.label) {
        "on front"
    } else {
        "not dominated"
    }
}

/// The Pareto table of a block: per model and method configuration, mean test loss per task,
/// hypervolume of each run's loss vector (mean ± CI over seeds) and the position against the
/// scalarization front; the reference point and the front's hypervolume in the notes.
pub fn pareto_sheet(b: &BlockAnalysis<'_>, views: &[ParetoView]) -> Sheet {
    let mut columns = vec!["model".to_owned(), "method".into(), "n".into()];
    columns.extend(b.tasks().iter().map(|t| format!("{}↓", t.name)));
    columns.extend(["HV↑".into(), "vs front".into()]);
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for v in views {
        for s in &v.series {
            let mut row = vec![
                Cell::text(&v.model),
                Cell::text(&s.label),
                Cell::text(s.points.len().to_string()),
            ];
            row.extend(s.mean.iter().map(|x| Cell::number(*x, NumberStyle::Metric)));
            let hvs: Vec<f64> = s
                .points
                .iter()
                .map(|p| {
                    normalized_hypervolume(std::slice::from_ref(p), &v.lower, &v.reference).value
                })
                .collect();
            row.push(Cell::estimate(summarize(&hvs), NumberStyle::Metric));
            row.push(Cell::text(position(s, v)));
            rows.push(row);
        }
        notes.push(format!(
            "{}: reference point r = ({}); scalarization front: {} of {} fixed-weight \
             configurations non-dominated ({}), hypervolume {}{}.",
            v.model,
            v.reference
                .iter()
                .map(|x| metric(*x))
                .collect::<Vec<_>>()
                .join(", "),
            v.front.len(),
            v.series.iter().filter(|s| s.scalarization).count(),
            if v.front.is_empty() {
                "none".to_owned()
            } else {
                v.front
                    .iter()
                    .map(|f| f.0.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            },
            if v.front_hv.exact { "" } else { "≈ " },
            metric(v.front_hv.value),
        ));
    }
    notes.push(format!(
        "Task columns: mean test loss of the validation-selected epoch over n seeds. HV = \
         hypervolume dominated by one run's loss vector up to the reference point r \
         (r_k = hi_k + {REFERENCE_MARGIN}·(hi_k − lo_k), lo_k and hi_k the smallest and largest loss \
         of task k among that model's runs), as a fraction of the box [lo, r], mean ± 95 % CI \
         over seeds; higher is better, comparable within one model only. The front \
         is the non-dominated set of the mean loss vectors of linear scalarization with fixed \
         weights ({}); vs front: whether a method's mean point is dominated by a front point. \
         Hypervolumes are exact (objective slicing) unless marked ≈ (seeded Monte Carlo, many \
         tasks).",
        SCALARIZATION.join(", ")
    ));
    Sheet {
        kind: PARETO_KIND,
        title: format!("Pareto view on {}", b.block.label),
        columns,
        rows,
        notes,
    }
}
