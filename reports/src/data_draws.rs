//! Two sources of variance: the draw of the data and the training seed.
//!
//! A dataset whose construction is itself random — MultiFashion and MultiMNIST pair every image
//! with a partner drawn by `pair_seed` — gives different test numbers for different draws even
//! at one training seed. When a sweep trains the same methods on several draws (blocks whose
//! dataset configs differ only in a [`DRAW_KEYS`] field), this module pools them per method and
//! splits the variance of each quantity (Δm% and every task's test metric) in the nested
//! layout "seeds within draws", a one-way random-effects analysis of variance:
//!
//! - MS_between = s · Var(draw means), MS_within = the mean over draws of the seeds' variance,
//!   with d draws of s seeds each (balanced: only seeds present in every draw are used);
//! - σ²_seed = MS_within, σ²_draw = max(0, (MS_between − MS_within) / s);
//! - the interval of the grand mean is the t-interval over the d draw means (d − 1 degrees of
//!   freedom): it carries both sources, where an interval over all d·s runs as if independent
//!   would understate the draw's share.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::analysis::{Analysis, STL};
use crate::sheet::{Cell, NumberStyle, Sheet};
use crate::stats::summarize;

/// Dataset config fields that only choose a random draw of the data.
pub const DRAW_KEYS: &[&str] = &["pair_seed"];

/// One quantity of one method over a family of draws: value by draw, then by seed.
type Grid = BTreeMap<u64, BTreeMap<u64, f64>>;

/// (model width, model, label) → quantity index → grid.
type Rows = BTreeMap<(usize, String, String), BTreeMap<usize, Grid>>;

/// The variance components of every method and quantity over the data draws of `analysis`,
/// one sheet per family of draws; empty when no family has two or more draws.
pub fn draws_sheets(analysis: &Analysis<'_>) -> Vec<Sheet> {
    // Family (dataset id without the draw, config without the draw keys) → rows.
    let mut families: BTreeMap<String, (Vec<String>, Rows)> = BTreeMap::new();
    for block in &analysis.blocks {
        let first = block.block.records[0];
        let Some((family, draw)) = family_and_draw(&first.dataset.config) else {
            continue;
        };
        let family = format!("{} {family}", dataset_name(&first.dataset.id));
        let (quantities, rows) = families.entry(family).or_insert_with(|| {
            let mut q = vec!["Δm%".to_owned()];
            q.extend(
                first
                    .dataset
                    .tasks
                    .iter()
                    .map(|t| format!("{} {}", t.name, t.metric)),
            );
            (q, Rows::default())
        });
        for g in block.groups.iter().filter(|g| g.method != STL) {
            let key = (g.model.width, g.model.name.clone(), g.label.clone());
            let grids = rows.entry(key).or_default();
            for (&seed, &d) in &g.delta {
                grids
                    .entry(0)
                    .or_default()
                    .entry(draw)
                    .or_default()
                    .insert(seed, d);
            }
            for r in g.done() {
                for (t, result) in r.test.iter().enumerate().take(quantities.len() - 1) {
                    grids
                        .entry(t + 1)
                        .or_default()
                        .entry(draw)
                        .or_default()
                        .insert(r.seed, result.metric);
                }
            }
        }
    }
    families
        .into_iter()
        .filter_map(|(family, (quantities, rows))| sheet(&family, &quantities, &rows))
        .collect()
}

/// The config without its draw keys (canonical text) and the draw, if it has one.
fn family_and_draw(config: &Value) -> Option<(String, u64)> {
    let object = config.as_object()?;
    let draw = DRAW_KEYS
        .iter()
        .find_map(|k| object.get(*k).and_then(Value::as_u64))?;
    let mut rest: Vec<String> = object
        .iter()
        .filter(|(k, _)| !DRAW_KEYS.contains(&k.as_str()))
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    rest.sort();
    Some((rest.join(", "), draw))
}

/// A standard deviation as text: one decimal for Δm%, else as a metric.
fn spread(sd: f64, percent: bool) -> String {
    if percent {
        format!("{sd:.1}")
    } else {
        crate::sheet::metric(sd)
    }
}

fn dataset_name(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

fn sheet(family: &str, quantities: &[String], rows: &Rows) -> Option<Sheet> {
    let mut out = Vec::new();
    for ((_, model, label), grids) in rows {
        for (q, grid) in grids {
            let Some(c) = components(grid) else { continue };
            let style = if *q == 0 {
                NumberStyle::Percent
            } else {
                NumberStyle::Metric
            };
            let total = c.draw_var + c.seed_var;
            out.push(vec![
                Cell::text(label),
                Cell::text(model),
                Cell::text(&quantities[*q]),
                Cell::text(format!("{} × {}", c.draws, c.seeds)),
                Cell::estimate(summarize(&c.draw_means), style),
                Cell::text(spread(c.draw_var.sqrt(), *q == 0)),
                Cell::text(spread(c.seed_var.sqrt(), *q == 0)),
                if total > 0.0 {
                    Cell::text(format!("{:.0} %", 100.0 * c.draw_var / total))
                } else {
                    Cell::Missing
                },
            ]);
        }
    }
    if out.is_empty() {
        return None;
    }
    Some(Sheet {
        kind: "draws",
        title: format!("Data draw and training seed, {family}"),
        columns: [
            "method",
            "model",
            "quantity",
            "draws × seeds",
            "mean (over draws)",
            "sd draw",
            "sd seed",
            "draw share",
        ]
        .map(String::from)
        .to_vec(),
        rows: out,
        notes: vec![format!(
            "Blocks that differ only in {} pooled per method. mean (over draws) = mean of the \
             draws' means ± half-width of the 95 % t-interval over the draws (draws − 1 degrees \
             of freedom), which carries both sources of variance. sd draw and sd seed = \
             standard deviations of the two sources, from a one-way random-effects analysis \
             of variance with seeds nested in draws (σ²_seed = mean within-draw variance, \
             σ²_draw = max(0, (MS_between − MS_within) / seeds)); draw share = σ²_draw / \
             (σ²_draw + σ²_seed). Only seeds present in every draw are used.",
            DRAW_KEYS
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )],
    })
}

/// Variance components of a balanced grid.
#[derive(Debug, Clone, PartialEq)]
struct Components {
    draws: usize,
    seeds: usize,
    draw_means: Vec<f64>,
    draw_var: f64,
    seed_var: f64,
}

/// The components over the seeds every draw has; `None` with fewer than 2 draws or 2 seeds.
fn components(grid: &Grid) -> Option<Components> {
    let mut shared: Option<BTreeSet<u64>> = None;
    for seeds in grid.values() {
        let these: BTreeSet<u64> = seeds.keys().copied().collect();
        shared = Some(match shared {
            None => these,
            Some(s) => s.intersection(&these).copied().collect(),
        });
    }
    let shared = shared?;
    let (d, s) = (grid.len(), shared.len());
    if d < 2 || s < 2 {
        return None;
    }
    let mut draw_means = Vec::with_capacity(d);
    let mut within = 0.0;
    for seeds in grid.values() {
        let values: Vec<f64> = shared.iter().map(|k| seeds[k]).collect();
        let m = summarize(&values)?;
        draw_means.push(m.mean);
        within += m.std?.powi(2);
    }
    let seed_var = within / d as f64;
    let between = s as f64 * summarize(&draw_means)?.std?.powi(2);
    Some(Components {
        draws: d,
        seeds: s,
        draw_var: ((between - seed_var) / s as f64).max(0.0),
        seed_var,
        draw_means,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: &[&[f64]]) -> Grid {
        rows.iter()
            .enumerate()
            .map(|(d, seeds)| {
                (
                    d as u64,
                    seeds
                        .iter()
                        .enumerate()
                        .map(|(s, v)| (s as u64, *v))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn components_follow_the_nested_anova_by_hand() {
        // Draw means 2, 4, 6 (variance 4); within-draw variances 1, 1, 1.
        let c = components(&grid(&[
            &[1.0, 2.0, 3.0],
            &[3.0, 4.0, 5.0],
            &[5.0, 6.0, 7.0],
        ]))
        .unwrap();
        assert_eq!((c.draws, c.seeds), (3, 3));
        assert_eq!(c.draw_means, vec![2.0, 4.0, 6.0]);
        assert!((c.seed_var - 1.0).abs() < 1e-12);
        // MS_between = 3 · 4 = 12 → σ²_draw = (12 − 1) / 3.
        assert!((c.draw_var - 11.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn draws_that_do_not_matter_get_no_variance() {
        // Same seeds' values in every draw: the draw means coincide.
        let c = components(&grid(&[&[1.0, 3.0], &[1.0, 3.0], &[1.0, 3.0]])).unwrap();
        assert_eq!(c.draw_var, 0.0);
        assert!((c.seed_var - 2.0).abs() < 1e-12);
    }

    #[test]
    fn only_seeds_every_draw_has_count_and_small_grids_give_nothing() {
        let mut g = grid(&[&[1.0, 2.0, 100.0], &[3.0, 4.0]]);
        let c = components(&g).unwrap();
        assert_eq!(c.seeds, 2, "seed 2 is missing in draw 1, so it is left out");
        assert_eq!(c.draw_means, vec![1.5, 3.5]);
        g.remove(&1);
        assert_eq!(components(&g), None, "one draw");
        assert_eq!(components(&grid(&[&[1.0], &[2.0]])), None, "one seed");
    }

    #[test]
    fn the_family_ignores_the_draw_and_keeps_everything_else() {
        let a = serde_json::json!({"pair_seed": 0, "source": "cache"});
        let b = serde_json::json!({"source": "cache", "pair_seed": 2});
        let c = serde_json::json!({"pair_seed": 0, "source": "subset"});
        let (fa, da) = family_and_draw(&a).unwrap();
        let (fb, db) = family_and_draw(&b).unwrap();
        assert_eq!((fa.as_str(), da, db), (fb.as_str(), 0, 2));
        assert_ne!(family_and_draw(&c).unwrap().0, fa);
        assert_eq!(
            family_and_draw(&serde_json::json!({"source": "cache"})),
            None
        );
    }
}
