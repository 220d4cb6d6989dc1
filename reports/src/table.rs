//! The main comparison table: per block, one row per model × method with Δm% (mean ± 95 %
//! CI over seeds), rank, cost and budget; the per-task test metrics beside it; the mean rank
//! of each method over every dataset × model column. Also the one-run summary of `run`.

use std::collections::{BTreeMap, BTreeSet};

use tabled::builder::Builder;
use tabled::settings::Style;

use crate::analysis::{method_labels, stl_task, Analysis, BlockAnalysis, Group};
use crate::sheet::{metric, wrap, Cell, NumberStyle, Sheet, WRAP};
use crate::stats::summarize;
use crate::{Result, RunRecord};

/// Legend of the main table.
pub const MAIN_LEGEND: &str = "Δm% = mean over tasks of the relative test-metric change \
against the single-task baselines (stl) of the same model and seed, sign-flipped where higher \
is better: negative is better. Mean ± half-width of the 95 % t-interval over the n seeds \
(n − 1 degrees of freedom; n = 1 shows the mean alone); n = a/b when only a of the b seeds \
run have a Δm% (the others diverged, or their baselines did); div = diverged runs. rank = \
rank of the mean Δm% among the methods of the same dataset and model (1 = best; ties share). \
epoch = validation-selected epoch, mean over seeds (never the untrained epoch 0; \
\"k n.i.\" = k runs whose best trained epoch did not improve on the initial model). \
bwd/step = backward passes through the shared encoder per step; budget = backward passes \
through the shared encoder spent for the result, weight search included, in units of one \
uniform training (stl: its K trainings).";

/// Legend of the timing table.
pub const TIMING_LEGEND: &str = "Wall-clock cost, which depends on the machine (kept apart \
from the tables above, which regenerate byte-identically): step× = median step time \
relative to uniform on the same model; epoch s = mean wall time of one epoch (a run's \
wall time over the epochs it trained, evaluation included); run s = mean wall time of one \
run (for PBT's kept member: its whole population, and epoch s the population's), search s = mean wall time of the weight search its weights \
came from (a search shared by the seeds is charged to each), total× = (run s + search s) \
relative to uniform's run s.";

/// Legend of the per-task table.
pub const PER_TASK_LEGEND: &str = "Test metric of the validation-selected epoch, mean ± \
half-width of the 95 % t-interval over the n seeds (↓ lower is better, ↑ higher is better); \
stl shows each task's own single-task baseline.";

/// The terminal comparison table: the main and per-task tables of every block, and the
/// mean ranks when there is more than one column to rank in.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonTable {
    /// Per block: its label and its main and per-task sheets.
    pub blocks: Vec<(String, Vec<Sheet>)>,
    /// Mean rank over dataset × model columns, when there is more than one column.
    pub ranks: Option<Sheet>,
    /// Why blocks of one dataset were separated.
    pub notes: Vec<String>,
}

impl std::fmt::Display for ComparisonTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (label, sheets) in &self.blocks {
            writeln!(f, "Dataset: {label}")?;
            for s in sheets {
                writeln!(f)?;
                writeln!(f, "{}", s.markdown_table())?;
            }
            writeln!(f)?;
        }
        if let Some(ranks) = &self.ranks {
            writeln!(f, "{}:", ranks.title)?;
            writeln!(f)?;
            writeln!(f, "{}", ranks.markdown_table())?;
            writeln!(f)?;
        }
        for n in &self.notes {
            writeln!(f, "{}", wrap(n, WRAP))?;
        }
        writeln!(f, "{}", wrap(MAIN_LEGEND, WRAP))?;
        writeln!(f, "{}", wrap(PER_TASK_LEGEND, WRAP))?;
        write!(f, "{}", wrap(TIMING_LEGEND, WRAP))
    }
}

/// Builds the comparison table of `records`. `method_order` lists method names in the order
/// rows should show them (names not listed come after, alphabetically).
pub fn comparison_table(records: &[RunRecord], method_order: &[&str]) -> Result<ComparisonTable> {
    let analysis = Analysis::new(records, method_order)?;
    Ok(ComparisonTable {
        blocks: analysis
            .blocks
            .iter()
            .map(|b| {
                (
                    b.block.label.clone(),
                    vec![main_sheet(b), per_task_sheet(b), timing_sheet(b)],
                )
            })
            .collect(),
        ranks: rank_sheet(&analysis),
        notes: analysis.notes.clone(),
    })
}

/// The main table of one block.
pub fn main_sheet(b: &BlockAnalysis<'_>) -> Sheet {
    let columns = [
        "method", "model", "n", "Δm%↓", "rank", "epoch", "bwd/step", "budget", "div",
    ];
    let rows = b
        .groups
        .iter()
        .zip(&b.rank)
        .map(|(g, rank)| {
            vec![
                Cell::text(&g.label),
                Cell::text(&g.model.name),
                Cell::text(seeds_cell(g)),
                if g.is_stl() {
                    Cell::text("0 (ref)")
                } else {
                    Cell::estimate(g.delta_summary(), NumberStyle::Percent)
                },
                rank.map_or(Cell::Missing, |r| Cell::text(r.to_string())),
                epoch_cell(g),
                backward_cell(g),
                budget_cell(g, b.tasks().len()),
                Cell::text(g.diverged().to_string()),
            ]
        })
        .collect();
    Sheet {
        kind: "main",
        title: format!("Comparison on {}", b.block.label),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
        notes: vec![MAIN_LEGEND.into()],
    }
}

/// The wall-clock table of one block: step and run times relative to uniform.
pub fn timing_sheet(b: &BlockAnalysis<'_>) -> Sheet {
    let ratio = |x: Option<f64>, base: Option<f64>| match (x, base) {
        (Some(x), Some(u)) if u > 0.0 => Cell::text(format!("{:.2}", x / u)),
        _ => Cell::Missing,
    };
    let seconds = |x: Option<f64>| x.map_or(Cell::Missing, |x| Cell::text(format!("{x:.1}")));
    // Epochs of small models take milliseconds: three decimals below a second.
    let short_seconds = |x: Option<f64>| {
        x.map_or(Cell::Missing, |x| match x < 1.0 {
            true => Cell::text(format!("{x:.3}")),
            false => Cell::text(format!("{x:.1}")),
        })
    };
    let rows = b
        .groups
        .iter()
        .map(|g| {
            let uniform = b.uniform(&g.model.name);
            let mean = |g: &Group<'_>, f: fn(&RunRecord) -> f64| g.summary(f).map(|s| s.mean);
            let step = |r: &RunRecord| r.timing.step_ms_median;
            let run = |r: &RunRecord| r.timing.total_s;
            let epoch = |r: &RunRecord| r.timing.total_s / r.epochs.len().max(1) as f64;
            let total = |r: &RunRecord| r.timing.total_s + r.timing.search_s;
            let uniform_run = uniform.and_then(|u| mean(u, run));
            vec![
                Cell::text(&g.label),
                Cell::text(&g.model.name),
                ratio(mean(g, step), uniform.and_then(|u| mean(u, step))),
                short_seconds(mean(g, epoch)),
                seconds(mean(g, run)),
                seconds(mean(g, |r| r.timing.search_s)),
                ratio(mean(g, total), uniform_run),
            ]
        })
        .collect();
    Sheet {
        kind: "timing",
        title: format!("Wall-clock cost on {}", b.block.label),
        columns: [
            "method", "model", "step×", "epoch s", "run s", "search s", "total×",
        ]
        .iter()
        .map(|c| c.to_string())
        .collect(),
        rows,
        notes: vec![TIMING_LEGEND.into()],
    }
}

/// Seeds with a Δm% value, as `a/b` of the seeds run when some have none.
fn seeds_cell(g: &Group<'_>) -> String {
    let run = g.runs.iter().map(|r| r.seed).collect::<BTreeSet<_>>().len();
    let valued = if g.is_stl() { g.seeds() } else { g.delta.len() };
    if valued == run {
        run.to_string()
    } else {
        format!("{valued}/{run}")
    }
}

/// Mean selected epoch over completed runs, with the count of runs that did not improve on
/// their initial parameters.
fn epoch_cell(g: &Group<'_>) -> Cell {
    let Some(mean) = g.summary(|r| r.selected_epoch as f64) else {
        return Cell::Missing;
    };
    let not_improved = g.done().filter(|r| !r.selection.improved).count();
    if not_improved == 0 {
        Cell::text(format!("{:.1}", mean.mean))
    } else {
        Cell::text(format!("{:.1} ({not_improved} n.i.)", mean.mean))
    }
}

/// Per-task test metrics of one block.
pub fn per_task_sheet(b: &BlockAnalysis<'_>) -> Sheet {
    let tasks = b.tasks();
    let mut columns = vec!["method".to_owned(), "model".into(), "n".into()];
    columns.extend(tasks.iter().map(|t| {
        let arrow = if t.higher_is_better { "↑" } else { "↓" };
        format!("{} {}{arrow}", t.name, t.metric)
    }));
    let rows = b
        .groups
        .iter()
        .map(|g| {
            let mut row = vec![
                Cell::text(&g.label),
                Cell::text(&g.model.name),
                Cell::text(g.seeds().to_string()),
            ];
            row.extend((0..tasks.len()).map(|k| {
                let values: Vec<f64> = g
                    .done()
                    .filter(|r| !g.is_stl() || stl_task(r) == Some(k))
                    .map(|r| r.test[k].metric)
                    .collect();
                Cell::estimate(summarize(&values), NumberStyle::Metric)
            }));
            row
        })
        .collect();
    Sheet {
        kind: "per-task",
        title: format!("Per-task test metrics on {}", b.block.label),
        columns,
        rows,
        notes: vec![PER_TASK_LEGEND.into()],
    }
}

/// Mean rank of each method configuration over every dataset × model column it was ranked
/// in; `None` with a single column. Rows are labelled over the whole analysis, not per
/// dataset: a configuration that is the only one of its method on one dataset (labelled by
/// its bare name there) is still one row with its counterpart on another.
pub fn rank_sheet(analysis: &Analysis<'_>) -> Option<Sheet> {
    let ranked: Vec<(&Group<'_>, f64)> = analysis
        .blocks
        .iter()
        .flat_map(|b| b.groups.iter().zip(&b.rank))
        .filter_map(|(g, r)| Some((g, (*r)?)))
        .collect();
    let labels = method_labels(&ranked.iter().map(|(g, _)| g.runs[0]).collect::<Vec<_>>());
    let mut ranks: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (label, (_, r)) in labels.iter().zip(&ranked) {
        if !order.contains(&label.as_str()) {
            order.push(label);
        }
        ranks.entry(label).or_default().push(*r);
    }
    let columns: usize = analysis.blocks.iter().map(|b| b.models().len()).sum();
    if columns < 2 {
        return None;
    }
    let rows = order
        .iter()
        .map(|label| {
            let rs = &ranks[label];
            vec![
                Cell::text(*label),
                Cell::number(rs.iter().sum::<f64>() / rs.len() as f64, NumberStyle::Ratio),
                Cell::text(rs.len().to_string()),
            ]
        })
        .collect();
    Some(Sheet {
        kind: "rank",
        title: "Mean rank over datasets and models".into(),
        columns: vec!["method".into(), "mean rank↓".into(), "columns".into()],
        rows,
        notes: vec![format!(
            "Rank of the mean Δm% within each dataset × model column ({columns} columns), \
                 averaged over the columns where the method has a Δm%. Ranks ignore the \
                 intervals; see the paired comparisons for what the seeds support."
        )],
    })
}

/// Mean encoder backward passes per step: integer when it is one.
fn backward_cell(g: &Group<'_>) -> Cell {
    match g.summary(|r| r.cost.encoder_backward_per_step) {
        Some(s) if (s.mean - s.mean.round()).abs() < 1e-9 => Cell::text(format!("{:.0}", s.mean)),
        Some(s) => Cell::text(format!("{:.2}", s.mean)),
        None => Cell::Missing,
    }
}

/// Backward passes through the shared encoder spent for one reported run, its weight search
/// included (once: PBT's kept member is part of its population), in units of one uniform
/// training (the run's steps × 1 backward); K× for the K single-task baselines together.
fn budget_cell(g: &Group<'_>, k: usize) -> Cell {
    if g.is_stl() {
        return Cell::text(format!("{k}.0×"));
    }
    match g.summary(|r| {
        let run = r.cost.steps as f64 * r.cost.encoder_backward_per_step;
        let total = match &r.search {
            Some(s) if s.budget.includes_run => s.budget.encoder_backward as f64,
            Some(s) => s.budget.encoder_backward as f64 + run,
            None => run,
        };
        let unit = r
            .search
            .as_ref()
            .map_or(r.cost.steps, |s| s.budget.schedule_steps);
        total / unit.max(1) as f64
    }) {
        Some(s) => Cell::text(format!("{:.1}×", s.mean)),
        None => Cell::Missing,
    }
}

/// A short text summary of one run: status, selected epoch and per-task test results.
pub fn run_summary(record: &RunRecord) -> String {
    let mut builder = Builder::default();
    builder.push_record(["task", "test loss", "test metric", "λ mean"]);
    for (t, r) in record.test.iter().enumerate() {
        let info = &record.dataset.tasks[t];
        builder.push_record([
            r.task.clone(),
            metric(r.loss),
            format!("{} {}", info.metric, metric(r.metric)),
            format!("{:.3}", record.weights.mean[t]),
        ]);
    }
    let mut table = builder.build();
    table.with(Style::markdown());
    let status = match &record.status {
        crate::record::RunStatus::Completed => "completed".to_owned(),
        crate::record::RunStatus::Diverged { step, task } => {
            format!(
                "diverged at step {step} (task {})",
                task.as_deref().unwrap_or("?")
            )
        }
    };
    format!(
        "{} on {} ({}), seed {}: {status}, selected epoch {} of {}, {:.1} encoder backward/step\n{table}\n",
        record.method.name,
        record.dataset.id,
        record.model.name,
        record.seed,
        record.selected_epoch,
        record.epochs.len(),
        record.cost.encoder_backward_per_step,
    )
}
