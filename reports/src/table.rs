//! The comparison table: one row per method × model size, mean ± std over seeds.

use std::collections::BTreeMap;

use tabled::builder::Builder;
use tabled::settings::Style;

use crate::stats::{summarize, Summary};
use crate::{Error, Result, RunRecord};

/// A rendered comparison table plus the facts printed under it.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonTable {
    /// Dataset id the table covers.
    pub dataset: String,
    /// Markdown table.
    pub markdown: String,
}

impl std::fmt::Display for ComparisonTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Dataset: {}", self.dataset)?;
        writeln!(f)?;
        writeln!(f, "{}", self.markdown)?;
        writeln!(f)?;
        write!(
            f,
            "Test metrics of the validation-selected epoch, mean ± sample std over n seeds \
             (diverged runs excluded and counted). Δm% = mean over tasks of the relative metric change \
             against single-task baselines of the same model and seed (stl; negative is better). \
             bwd/step = backward passes through the \
             shared encoder per step; budget = training steps including any weight search, in \
             units of one training; step× = median step time relative to uniform on the same \
             model."
        )
    }
}

/// Registry name of the single-task baseline.
const STL: &str = "stl";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RowKey {
    model_width: usize,
    model_name: String,
    method_rank: usize,
    method_label: String,
}

/// Builds the comparison table of `records`. `method_order` lists method names in the order
/// rows should show them (names not listed come after, alphabetically).
pub fn comparison_table(records: &[RunRecord], method_order: &[&str]) -> Result<ComparisonTable> {
    let first = records.first().ok_or_else(|| Error::NoRecords {
        path: Default::default(),
    })?;
    for r in records {
        if r.dataset.id != first.dataset.id {
            return Err(Error::Mixed {
                what: "dataset",
                a: first.dataset.id.clone(),
                b: r.dataset.id.clone(),
            });
        }
        if r.dataset.tasks != first.dataset.tasks {
            return Err(Error::Mixed {
                what: "task list",
                a: first.dataset.id.clone(),
                b: r.dataset.id.clone(),
            });
        }
    }
    let labels = method_labels(records);
    let mut groups: BTreeMap<RowKey, Vec<&RunRecord>> = BTreeMap::new();
    for (r, label) in records.iter().zip(&labels) {
        let key = RowKey {
            model_width: r.model.width,
            model_name: r.model.name.clone(),
            // The baseline row comes first, then methods in the given order.
            method_rank: if r.method.name == STL {
                0
            } else {
                1 + method_order
                    .iter()
                    .position(|m| *m == r.method.name)
                    .unwrap_or(method_order.len())
            },
            method_label: label.clone(),
        };
        groups.entry(key).or_default().push(r);
    }
    let uniform_step: BTreeMap<&str, f64> = groups
        .iter()
        .filter(|(k, _)| k.method_label == "uniform")
        .filter_map(|(k, rs)| {
            let s = summarize(
                &completed(rs)
                    .map(|r| r.timing.step_ms_median)
                    .collect::<Vec<_>>(),
            )?;
            Some((k.model_name.as_str(), s.mean))
        })
        .collect();

    let tasks = &first.dataset.tasks;
    let mut builder = Builder::default();
    let mut header = vec![
        "method".to_owned(),
        "model".into(),
        "params".into(),
        "n".into(),
    ];
    header.extend(tasks.iter().map(|t| {
        let arrow = if t.higher_is_better { "↑" } else { "↓" };
        format!("{} {}{}", t.name, t.metric, arrow)
    }));
    header.extend([
        "Δm%↓".into(),
        "mean loss↓".into(),
        "λ mean".into(),
        "bwd/step".into(),
        "budget".into(),
        "step×".into(),
        "diverged".into(),
    ]);
    builder.push_record(header);

    let stl_by_id: BTreeMap<&str, &RunRecord> = records
        .iter()
        .filter(|r| r.method.name == STL && r.completed())
        .map(|r| (r.cell_id.as_str(), r))
        .collect();
    for (key, runs) in &groups {
        let done: Vec<&RunRecord> = completed(runs).collect();
        let stl = key.method_label == STL;
        let seeds = done
            .iter()
            .map(|r| r.seed)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let mut row = vec![
            key.method_label.clone(),
            key.model_name.clone(),
            runs[0].model.parameters.to_string(),
            seeds.to_string(),
        ];
        for k in 0..tasks.len() {
            let values: Vec<f64> = done
                .iter()
                .filter(|r| !stl || stl_task(r) == Some(k))
                .map(|r| r.test[k].metric)
                .collect();
            row.push(cell(&values));
        }
        if stl {
            row.push("0 (ref)".into());
            row.push(cell(&stl_mean_loss(&done)));
            row.push("one-hot".into());
        } else {
            let delta: Vec<f64> = done.iter().filter_map(|r| delta_m(r, &stl_by_id)).collect();
            row.push(percent_cell(&delta));
            let mean_loss: Vec<f64> = done
                .iter()
                .map(|r| r.test.iter().map(|t| t.loss).sum::<f64>() / r.test.len() as f64)
                .collect();
            row.push(cell(&mean_loss));
            row.push(lambda_cell(&done, tasks.len()));
        }
        row.push(
            match summarize(
                &done
                    .iter()
                    .map(|r| r.cost.encoder_backward_per_step)
                    .collect::<Vec<_>>(),
            ) {
                Some(s) if (s.mean - s.mean.round()).abs() < 1e-9 => format!("{:.0}", s.mean),
                Some(s) => format!("{:.2}", s.mean),
                None => "–".into(),
            },
        );
        row.push(if stl {
            format!("{}.0×", tasks.len())
        } else {
            budget_cell(&done)
        });
        let step = summarize(
            &done
                .iter()
                .map(|r| r.timing.step_ms_median)
                .collect::<Vec<_>>(),
        );
        row.push(match (step, uniform_step.get(key.model_name.as_str())) {
            (Some(s), Some(u)) if *u > 0.0 => format!("{:.2}", s.mean / u),
            _ => "–".into(),
        });
        row.push((runs.len() - done.len()).to_string());
        builder.push_record(row);
    }
    let mut table = builder.build();
    table.with(Style::markdown());
    Ok(ComparisonTable {
        dataset: first.dataset.id.clone(),
        markdown: table.to_string(),
    })
}

/// A short text summary of one run: status, selected epoch and per-task test results.
pub fn run_summary(record: &RunRecord) -> String {
    let mut builder = Builder::default();
    builder.push_record(["task", "test loss", "test metric", "λ mean"]);
    for (t, r) in record.test.iter().enumerate() {
        let info = &record.dataset.tasks[t];
        builder.push_record([
            r.task.clone(),
            number(r.loss),
            format!("{} {}", info.metric, number(r.metric)),
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

/// The task a single-task baseline trained.
fn stl_task(r: &RunRecord) -> Option<usize> {
    r.method
        .config
        .get("task")
        .and_then(|t| t.as_u64())
        .map(|t| t as usize)
}

/// Per seed, the mean over tasks of each baseline's test loss on its own task.
fn stl_mean_loss(done: &[&RunRecord]) -> Vec<f64> {
    let mut by_seed: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for r in done {
        if let Some(k) = stl_task(r) {
            by_seed.entry(r.seed).or_default().push(r.test[k].loss);
        }
    }
    by_seed
        .values()
        .map(|v| v.iter().sum::<f64>() / v.len() as f64)
        .collect()
}

/// Δm% = (1/K) Σ_k (−1)^{h_k} (M_k − M_k^stl) / M_k^stl × 100 against the run's own
/// single-task baselines; `None` when any baseline is missing, diverged or zero.
pub fn delta_m(r: &RunRecord, stl_by_id: &BTreeMap<&str, &RunRecord>) -> Option<f64> {
    let k = r.dataset.tasks.len();
    if r.stl_cells.len() != k {
        return None;
    }
    let mut sum = 0.0;
    for (t, id) in r.stl_cells.iter().enumerate() {
        let base = stl_by_id.get(id.as_str())?.test[t].metric;
        if base == 0.0 || !base.is_finite() {
            return None;
        }
        let sign = if r.dataset.tasks[t].higher_is_better {
            -1.0
        } else {
            1.0
        };
        sum += sign * (r.test[t].metric - base) / base;
    }
    Some(sum / k as f64 * 100.0)
}

fn completed<'a>(runs: &'a [&'a RunRecord]) -> impl Iterator<Item = &'a RunRecord> + 'a {
    runs.iter().copied().filter(|r| r.completed())
}

/// Row labels: the method name, plus the hyper-parameters that differ between its
/// configurations where one name appears with several.
fn method_labels(records: &[RunRecord]) -> Vec<String> {
    let mut configs: BTreeMap<&str, Vec<&serde_json::Value>> = BTreeMap::new();
    for r in records {
        let seen = configs.entry(&r.method.name).or_default();
        if !seen.contains(&&r.method.config) {
            seen.push(&r.method.config);
        }
    }
    records
        .iter()
        .map(|r| {
            let variants = &configs[r.method.name.as_str()];
            // Single-task baselines (one config per task) share one row.
            if variants.len() > 1 && r.method.name != STL {
                format!(
                    "{} {}",
                    r.method.name,
                    compact_config(&r.method.config, variants)
                )
            } else {
                r.method.name.clone()
            }
        })
        .collect()
}

/// `key=value` for each key whose value differs between `variants`.
fn compact_config(config: &serde_json::Value, variants: &[&serde_json::Value]) -> String {
    match config {
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(k, v)| {
                variants
                    .iter()
                    .any(|other| other.get(k.as_str()) != Some(v))
            })
            .map(|(k, v)| format!("{k}={}", v.to_string().trim_matches('"')))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// Training steps spent per reported run, search included, in units of the run itself:
/// 1.0× for online methods, 1 + (search steps / run steps) for searched weights.
fn budget_cell(done: &[&RunRecord]) -> String {
    let ratios: Vec<f64> = done
        .iter()
        .map(|r| {
            let search = r.search.as_ref().map_or(0, |s| s.budget.steps);
            1.0 + search as f64 / r.cost.steps.max(1) as f64
        })
        .collect();
    match summarize(&ratios) {
        Some(s) => format!("{:.1}×", s.mean),
        None => "–".into(),
    }
}

fn lambda_cell(done: &[&RunRecord], k: usize) -> String {
    if done.is_empty() {
        return "–".into();
    }
    let means: Vec<String> = (0..k)
        .map(|t| {
            let s = summarize(&done.iter().map(|r| r.weights.mean[t]).collect::<Vec<_>>());
            format!("{:.2}", s.map_or(f64::NAN, |s| s.mean))
        })
        .collect();
    means.join("/")
}

fn cell(xs: &[f64]) -> String {
    match summarize(xs) {
        None => "–".into(),
        Some(Summary {
            mean, std: None, ..
        }) => number(mean),
        Some(Summary {
            mean,
            std: Some(sd),
            ..
        }) => format!("{} ± {}", number(mean), number(sd)),
    }
}

/// Signed percentages with one decimal.
fn percent_cell(xs: &[f64]) -> String {
    match summarize(xs) {
        None => "–".into(),
        Some(Summary {
            mean, std: None, ..
        }) => format!("{mean:+.1}"),
        Some(Summary {
            mean,
            std: Some(sd),
            ..
        }) => format!("{mean:+.1} ± {sd:.1}"),
    }
}

/// Four significant figures, scientific below 0.001.
fn number(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-3 {
        format!("{x:.2e}")
    } else {
        format!("{x:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_compactly() {
        assert_eq!(number(0.12345), "0.1235");
        assert_eq!(number(0.000123), "1.23e-4");
        assert_eq!(number(0.0), "0.0000");
        assert_eq!(cell(&[1.0, 3.0]), "2.0000 ± 1.4142");
        assert_eq!(cell(&[]), "–");
    }
}
