//! Whether the best scalarization weights move with model size (Royer et al., NeurIPS 2023):
//! where one grid or random search ran at several model sizes over the same candidates (same
//! lattice, or the same seeded draws), each candidate's rank by validation score at each size,
//! and the rank correlation between consecutive sizes.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::search_trace::weights_text;
use crate::sheet::{Cell, Sheet};
use crate::stats::ranks;
use crate::RunRecord;

/// One search's candidates and their validation scores (+∞ where every epoch diverged).
struct Trials {
    weights: Vec<Vec<f64>>,
    scores: Vec<f64>,
}

/// The trials of `r`'s search, if it is a search of independent candidates.
fn trials(r: &RunRecord) -> Option<Trials> {
    let list = r.search.as_ref()?.history.get("trials")?.as_array()?;
    let mut out = Trials {
        weights: Vec::new(),
        scores: Vec::new(),
    };
    for t in list {
        let w: Option<Vec<f64>> = t
            .get("weights")?
            .as_array()?
            .iter()
            .map(Value::as_f64)
            .collect();
        out.weights.push(w?);
        out.scores.push(
            t.get("score")
                .and_then(Value::as_f64)
                .unwrap_or(f64::INFINITY),
        );
    }
    Some(out)
}

/// Pearson correlation of two equally long samples; `None` when either is constant.
fn correlation(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

/// One sheet per search strategy that ran at two or more model sizes over identical
/// candidates: rows are the candidates, columns each size's rank (1 = best validation score;
/// ties share), the notes give Spearman's rank correlation between consecutive sizes.
pub fn candidate_rank_sheets(records: &[RunRecord]) -> Vec<Sheet> {
    // (strategy label, dataset) → model width and name → the search's trials.
    let mut searches: BTreeMap<(String, String), BTreeMap<(usize, String), Trials>> =
        BTreeMap::new();
    for r in records {
        let Some(strategy) = r.method.config.get("strategy").and_then(Value::as_str) else {
            continue;
        };
        let key = (
            format!("{} {strategy}", r.method.name),
            r.dataset.id.clone(),
        );
        let models = searches.entry(key).or_default();
        let model = (r.model.width, r.model.name.clone());
        if models.contains_key(&model) {
            continue;
        }
        if let Some(t) = trials(r) {
            models.insert(model, t);
        }
    }
    searches
        .into_iter()
        .filter_map(|((label, dataset), models)| sheet(&label, &dataset, &models))
        .collect()
}

fn sheet(label: &str, dataset: &str, models: &BTreeMap<(usize, String), Trials>) -> Option<Sheet> {
    let mut all = models.values();
    let first = all.next()?;
    if models.len() < 2 || all.any(|t| t.weights != first.weights) {
        return None;
    }
    let by_model: Vec<Vec<f64>> = models.values().map(|t| ranks(&t.scores)).collect();
    let rows = first
        .weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let mut row = vec![Cell::text(weights_text(w))];
            row.extend(by_model.iter().map(|r| {
                if r[i].fract() == 0.0 {
                    Cell::text(format!("{}", r[i]))
                } else {
                    Cell::text(format!("{:.1}", r[i]))
                }
            }));
            row
        })
        .collect();
    let names: Vec<&str> = models.keys().map(|(_, name)| name.as_str()).collect();
    let correlations: Vec<String> = by_model
        .windows(2)
        .zip(names.windows(2))
        .map(|(r, n)| match correlation(&r[0], &r[1]) {
            Some(c) => format!("{} → {}: {c:+.2}", n[0], n[1]),
            None => format!("{} → {}: –", n[0], n[1]),
        })
        .collect();
    let mut columns = vec!["λ".to_owned()];
    columns.extend(names.iter().map(|n| format!("rank, {n}")));
    Some(Sheet {
        kind: "candidate-ranks",
        title: format!("Candidate ranks across model sizes, {label} on {dataset}"),
        columns,
        rows,
        notes: vec![format!(
            "Each candidate's rank among the search's candidates by validation score at each \
             model size (1 = best; ties share the mean rank; a diverged candidate ranks last). \
             Spearman's rank correlation between consecutive sizes: {}. Near +1, the sizes \
             order the weights alike and the best weights do not move with size; near 0, the \
             order at one size says nothing of the next.",
            correlations.join("; ")
        )],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_is_pearson_on_ranks() {
        let a = ranks(&[0.1, 0.3, 0.2, 0.9]);
        assert_eq!(correlation(&a, &a), Some(1.0));
        let reversed = ranks(&[0.9, 0.2, 0.3, 0.1]);
        assert!((correlation(&a, &reversed).unwrap() + 1.0).abs() < 1e-12);
        // One swap of neighbours among 4: ρ = 1 − 6·2 / (4·15) = 0.8.
        let swapped = ranks(&[0.1, 0.2, 0.3, 0.9]);
        assert!((correlation(&a, &swapped).unwrap() - 0.8).abs() < 1e-12);
        assert_eq!(correlation(&a, &[1.0; 4]), None);
    }
}
