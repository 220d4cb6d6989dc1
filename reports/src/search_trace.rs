//! What the weight searches of a record set chose and how: the chosen weights of every
//! searched method beside each other with their validation score and cost, and AutoScale's
//! per-window metric trace (Yang et al., 2025) as a table and a plot.

use std::collections::{BTreeMap, BTreeSet};

use plotters::prelude::*;
use serde_json::Value;

use crate::sheet::{Cell, NumberStyle, Sheet};
use crate::{Error, Result, RunRecord};

/// One search (shared by seeds, or one per seed for PBT's kept member), its method label.
struct Found<'a> {
    label: String,
    model: &'a str,
    data: &'a str,
    seeds: Vec<u64>,
    record: &'a RunRecord,
}

/// Searches in `records`, one entry per distinct search id, by (model, dataset, label); a search
/// whose result is the run itself (PBT keeping its member) ran once per seed, one entry each.
fn searches(records: &[RunRecord]) -> Vec<Found<'_>> {
    // The configurations behind each variant label, to tell apart two of one variant.
    let configs = crate::analysis::distinct_configs(
        records.iter().filter(|r| r.search.is_some()),
        method_label,
    );
    type Key<'a> = (&'a str, &'a str, String, &'a str, Option<u64>);
    let mut by_id: BTreeMap<Key<'_>, Found<'_>> = BTreeMap::new();
    for r in records {
        let Some(s) = &r.search else { continue };
        let mut label = method_label(r);
        if let Some(variants) = configs.get(&label).filter(|v| v.len() > 1) {
            let differing = crate::analysis::compact_config(&r.method.config, variants);
            label = format!("{label} {differing}");
        }
        let own_seed = s.budget.includes_run.then_some(r.seed);
        by_id
            .entry((
                r.model.name.as_str(),
                r.dataset.id.as_str(),
                label.clone(),
                s.id.as_str(),
                own_seed,
            ))
            .or_insert_with(|| Found {
                label,
                model: &r.model.name,
                data: &r.dataset.id,
                seeds: Vec::new(),
                record: r,
            })
            .seeds
            .push(r.seed);
    }
    by_id.into_values().collect()
}

/// The method name with the parameters that name its variant (`strategy`, `exploration`).
fn method_label(r: &RunRecord) -> String {
    let variant = ["strategy", "exploration"]
        .iter()
        .filter_map(|k| r.method.config.get(*k).and_then(Value::as_str))
        .collect::<Vec<_>>();
    if variant.is_empty() {
        r.method.name.clone()
    } else {
        format!("{} {}", r.method.name, variant.join(","))
    }
}

/// Weights as `0.250/0.750`.
pub(crate) fn weights_text(w: &[f64]) -> String {
    w.iter()
        .map(|x| format!("{x:.3}"))
        .collect::<Vec<_>>()
        .join("/")
}

/// The chosen weights of every search: method, model (and dataset, where the records span
/// several, such as data draws), seeds, λ, validation score, trainings and encoder backward
/// passes in units of one training.
pub fn chosen_weights_sheet(records: &[RunRecord]) -> Option<Sheet> {
    let found = searches(records);
    if found.is_empty() {
        return None;
    }
    let several_datasets = found.iter().map(|f| f.data).collect::<BTreeSet<_>>().len() > 1;
    let rows = found
        .iter()
        .map(|f| {
            let s = f.record.search.as_ref().expect("searches have a search");
            let seeds = f
                .seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let mut row = vec![Cell::text(&f.label), Cell::text(f.model)];
            if several_datasets {
                row.push(Cell::text(f.data));
            }
            row.extend([
                Cell::text(seeds),
                Cell::text(weights_text(&s.weights)),
                s.score
                    .map_or(Cell::Missing, |x| Cell::number(x, NumberStyle::Metric)),
                Cell::text(s.budget.trainings.to_string()),
                Cell::text(format!(
                    "{:.2}",
                    s.budget.encoder_backward as f64 / s.budget.schedule_steps.max(1) as f64
                )),
            ]);
            row
        })
        .collect();
    let data_column = several_datasets.then_some("data");
    Some(Sheet {
        kind: "search",
        title: "Weights chosen by the searches".into(),
        columns: ["method", "model"]
            .into_iter()
            .chain(data_column)
            .chain(["seeds", "λ", "val score↓", "trainings", "bwd (trainings)"])
            .map(str::to_owned)
            .collect(),
        rows,
        notes: vec![
            "λ = the weights each search chose (PBT with its member kept: the weights its winning \
             lineage ended with; the schedule is in the record). val score = the selection \
             objective of the choice on validation (lower is better; scored against the \
             search's own reference model, so compare within a search only). bwd = backward \
             passes through the shared encoder the search spent, in units of one uniform \
             training."
                .into(),
        ],
    })
}

/// One AutoScale exploration's windows.
struct Trace<'a> {
    /// The model, then the variant and the dataset where other explorations at that model
    /// differ in them: `lenet-m` or `lenet-m, multi-fashion/pair1`.
    name: String,
    windows: Vec<&'a Value>,
}

fn traces(records: &[RunRecord]) -> Vec<Trace<'_>> {
    let found: Vec<(Found<'_>, &Vec<Value>)> = searches(records)
        .into_iter()
        .filter(|f| f.record.method.name == "autoscale")
        .filter_map(|f| {
            let windows = f.record.search.as_ref()?.history.get("windows")?;
            Some((f, windows.as_array()?))
        })
        .collect();
    let name = |f: &Found<'_>| {
        let namesakes: Vec<&Found<'_>> = found
            .iter()
            .map(|(g, _)| g)
            .filter(|g| g.model == f.model)
            .collect();
        let mut name = f.model.to_owned();
        if namesakes.iter().any(|g| g.label != f.label) {
            name = format!("{name}, {}", f.label);
        }
        if namesakes.iter().any(|g| g.data != f.data) {
            name = format!("{name}, {}", f.data);
        }
        name
    };
    found
        .iter()
        .map(|(f, windows)| Trace {
            name: name(f),
            windows: windows.iter().collect(),
        })
        .collect()
}

fn numbers(v: Option<&Value>) -> Vec<f64> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// AutoScale's exploration windows: weights trained with, gradient norms, GMS of the
/// weighted gradients, condition number, conflict rate and the weights set for the next
/// window.
pub fn window_sheets(records: &[RunRecord]) -> Vec<Sheet> {
    traces(records)
        .into_iter()
        .map(|t| {
            let rows = t
                .windows
                .iter()
                .map(|w| {
                    let m = w.get("metrics");
                    let get = |k: &str| m.and_then(|m| m.get(k)).and_then(Value::as_f64);
                    vec![
                        Cell::text(w.get("window").map_or(String::new(), Value::to_string)),
                        Cell::text(weights_text(&numbers(w.get("trained_with")))),
                        Cell::text(weights_text(&numbers(m.and_then(|m| m.get("grad_norm"))))),
                        get("weighted_gms")
                            .map_or(Cell::Missing, |x| Cell::number(x, NumberStyle::Ratio)),
                        get("condition_number")
                            .map_or(Cell::Missing, |x| Cell::number(x, NumberStyle::Metric)),
                        get("conflict_rate")
                            .map_or(Cell::Missing, |x| Cell::number(x, NumberStyle::Ratio)),
                        Cell::text(weights_text(&numbers(w.get("weights")))),
                    ]
                })
                .collect();
            Sheet {
                kind: "autoscale-windows",
                title: format!("AutoScale exploration windows, {}", t.name),
                columns: [
                    "window",
                    "trained with λ",
                    "‖g_k‖",
                    "GMS (weighted)",
                    "cond(G)",
                    "conflict",
                    "next λ",
                ]
                .iter()
                .map(|c| c.to_string())
                .collect(),
                rows,
                notes: vec![
                    "Per window of AutoScale's exploratory run: the weights it trained with, the \
                     mean per-task gradient norms w.r.t. the shared parameters, the mean gradient \
                     magnitude similarity of the weighted gradients, the condition number of the \
                     gradient matrix, the fraction of conflicting task pairs, and the weights the \
                     rule set for the next window."
                        .into(),
                ],
            }
        })
        .collect()
}

/// One AutoScale exploration's plot.
pub struct WindowPlot {
    /// The model, and what tells this exploration from others at that model.
    pub name: String,
    /// `name` as a file-name stem.
    pub slug: String,
    /// The SVG text.
    pub svg: String,
}

/// A line plot per AutoScale exploration: each task's weight and the weighted GMS over the
/// windows.
pub fn window_plots(records: &[RunRecord]) -> Result<Vec<WindowPlot>> {
    traces(records)
        .into_iter()
        .map(|t| {
            let mut svg = String::new();
            draw_trace(&t, &mut svg).map_err(|message| Error::Plot {
                what: format!("autoscale windows / {}", t.name),
                message,
            })?;
            svg.push('\n');
            Ok(WindowPlot {
                slug: crate::report::slugify(&t.name),
                name: t.name,
                svg,
            })
        })
        .collect()
}

fn draw_trace(t: &Trace<'_>, out: &mut String) -> std::result::Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    let weights: Vec<Vec<f64>> = t
        .windows
        .iter()
        .map(|w| numbers(w.get("weights")))
        .collect();
    let gms: Vec<f64> = t
        .windows
        .iter()
        .map(|w| {
            w.get("metrics")
                .and_then(|m| m.get("weighted_gms"))
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN)
        })
        .collect();
    let k = weights.first().map_or(0, Vec::len);
    let n = t.windows.len().max(1);
    let root = SVGBackend::with_string(out, crate::plot::SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "AutoScale windows, {}: λ_k set per window and weighted GMS",
                t.name
            ),
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..(n as f64 - 1.0).max(1.0), 0f64..1.05f64)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("window")
        .y_desc("λ_k, GMS")
        .draw()
        .map_err(|e| fail(&e))?;
    for task in 0..k {
        let colour = crate::plot::colour(task);
        chart
            .draw_series(LineSeries::new(
                weights
                    .iter()
                    .enumerate()
                    .filter_map(|(i, w)| w.get(task).map(|x| (i as f64, *x))),
                colour.stroke_width(2),
            ))
            .map_err(|e| fail(&e))?
            .label(format!("λ_{}", task + 1))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
    }
    chart
        .draw_series(LineSeries::new(
            gms.iter()
                .enumerate()
                .filter(|(_, g)| g.is_finite())
                .map(|(i, g)| (i as f64, *g)),
            BLACK.stroke_width(2),
        ))
        .map_err(|e| fail(&e))?
        .label("GMS of weighted gradients")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{SearchBudget, SearchRecord};

    /// A fixture record of seed `seed` carrying a search `id` that chose `weights`.
    fn searched(seed: u64, id: &str, weights: Vec<f64>, includes_run: bool) -> RunRecord {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/records");
        let mut r = crate::load_records(&dir).unwrap().remove(0);
        r.seed = seed;
        r.method.name = "tuned".into();
        r.method.config = serde_json::json!({ "strategy": "pbt" });
        r.search = Some(SearchRecord {
            id: id.into(),
            weights,
            score: Some(-0.5),
            rule: "test".into(),
            budget: SearchBudget {
                trainings: 4,
                steps: 40,
                schedule_steps: 10,
                encoder_backward: 40,
                includes_run,
            },
            history: Value::Null,
            wall_s: None,
        });
        r
    }

    fn lambda_column(records: &[RunRecord]) -> Vec<(String, String)> {
        chosen_weights_sheet(records)
            .unwrap()
            .markdown_table()
            .lines()
            .skip(2)
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (cells[3].to_owned(), cells[4].to_owned())
            })
            .collect()
    }

    #[test]
    fn a_search_shared_by_seeds_is_one_row_and_a_kept_member_one_row_per_seed() {
        let shared: Vec<RunRecord> = (0..3)
            .map(|s| searched(s, "abc", vec![0.25, 0.75], false))
            .collect();
        assert_eq!(
            lambda_column(&shared),
            [("0,1,2".to_owned(), "0.250/0.750".to_owned())]
        );
        // PBT keeping its member: one population per seed under one configuration id, each
        // with the weights its own winner ended with.
        let members: Vec<RunRecord> = (0..3)
            .map(|s| {
                searched(
                    s,
                    "abc",
                    vec![0.1 * (s + 1) as f64, 1.0 - 0.1 * (s + 1) as f64],
                    true,
                )
            })
            .collect();
        assert_eq!(
            lambda_column(&members),
            [
                ("0".to_owned(), "0.100/0.900".to_owned()),
                ("1".to_owned(), "0.200/0.800".to_owned()),
                ("2".to_owned(), "0.300/0.700".to_owned()),
            ]
        );
    }

    #[test]
    fn two_configurations_of_one_variant_are_told_apart_by_what_differs() {
        let mut control = searched(0, "def", vec![0.5, 0.5], true);
        control.method.config =
            serde_json::json!({ "strategy": "pbt", "perturb": 0.0, "start": "uniform" });
        let mut search = searched(0, "abc", vec![0.3, 0.7], true);
        search.method.config = serde_json::json!({ "strategy": "pbt", "perturb": 0.2 });
        let labels: Vec<String> = chosen_weights_sheet(&[search.clone(), control])
            .unwrap()
            .markdown_table()
            .lines()
            .skip(2)
            .map(|l| l.split('|').nth(1).unwrap().trim().to_owned())
            .collect();
        assert_eq!(
            labels,
            [
                "tuned pbt perturb=0.0,start=uniform",
                "tuned pbt perturb=0.2"
            ]
        );
        // Alone, a variant keeps its short label.
        let alone = chosen_weights_sheet(&[search]).unwrap().markdown_table();
        assert!(alone.contains("| tuned pbt |"), "{alone}");
    }

    #[test]
    fn searches_on_several_datasets_are_told_apart_by_a_data_column() {
        let mut draws: Vec<RunRecord> = (0..2)
            .map(|d| {
                searched(
                    0,
                    &format!("id{d}"),
                    vec![0.1 + 0.3 * d as f64, 0.9 - 0.3 * d as f64],
                    false,
                )
            })
            .collect();
        draws[0].dataset.id = "pairs/draw1".into();
        draws[1].dataset.id = "pairs/draw0".into();
        let table = chosen_weights_sheet(&draws).unwrap().markdown_table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].contains("| model ") && lines[0].contains("| data "),
            "{table}"
        );
        // One row per draw, in the datasets' order, each with the weights its search chose.
        assert!(
            lines[2].contains("| pairs/draw0 |") && lines[2].contains("0.400/0.600"),
            "{table}"
        );
        assert!(
            lines[3].contains("| pairs/draw1 |") && lines[3].contains("0.100/0.900"),
            "{table}"
        );
        // One dataset: no data column (its id is in the section heading).
        let one = chosen_weights_sheet(&draws[..1]).unwrap().markdown_table();
        assert!(!one.lines().next().unwrap().contains("| data "), "{one}");
    }

    #[test]
    fn explorations_at_one_model_on_two_datasets_get_their_own_tables_and_plot_files() {
        let explored = |data: &str, id: &str| {
            let mut r = searched(0, id, vec![0.4, 0.6], false);
            r.dataset.id = data.into();
            r.method.name = "autoscale".into();
            r.method.config = serde_json::json!({ "exploration": "full" });
            let search = r.search.as_mut().unwrap();
            search.history = serde_json::json!({ "windows": [{
                "window": 0,
                "trained_with": [0.5, 0.5],
                "weights": [0.4, 0.6],
                "metrics": { "grad_norm": [1.5, 1.0], "weighted_gms": 0.9 },
            }] });
            r
        };
        let two = [explored("pairs/draw0", "a"), explored("pairs/draw1", "b")];
        let titles: Vec<String> = window_sheets(&two).into_iter().map(|t| t.title).collect();
        let model = &two[0].model.name;
        assert_eq!(
            titles,
            [
                format!("AutoScale exploration windows, {model}, pairs/draw0"),
                format!("AutoScale exploration windows, {model}, pairs/draw1"),
            ]
        );
        let slugs: Vec<String> = window_plots(&two)
            .unwrap()
            .into_iter()
            .map(|p| p.slug)
            .collect();
        assert_eq!(slugs.len(), 2);
        assert_ne!(slugs[0], slugs[1]);
        // Alone at its model, an exploration is named by the model only.
        let one = window_plots(&two[..1]).unwrap();
        assert_eq!(one[0].name, two[0].model.name);
        assert!(one[0].svg.contains("<svg"));
    }
}
