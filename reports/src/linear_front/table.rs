//! The per-configuration numbers of several [`FrontAnalysis`]es as one [`Sheet`].

use super::{FrontAnalysis, REACH_TOLERANCE};
use crate::sheet::{Cell, NumberStyle, Sheet};

/// One row per `(configuration name, analysis)`: K, q, front size, the share of the front
/// scalarization reaches, and the balanced point's max loss beside the best one any
/// scalarization weight reaches (raw and normalised), with the excess in percent.
pub fn front_sheet(rows: &[(&str, &FrontAnalysis)]) -> Sheet {
    let number = |x: f64| Cell::number(x, NumberStyle::Metric);
    let percent = |x: f64| Cell::number(x, NumberStyle::Percent);
    let excess = |best: f64, balanced: f64| {
        if balanced > 0.0 {
            percent(100.0 * (best - balanced) / balanced)
        } else {
            Cell::Missing
        }
    };
    Sheet {
        kind: "linear-front",
        title: "Exact Pareto front and what linear scalarization reaches".into(),
        columns: [
            "configuration",
            "K",
            "q",
            "front points",
            "reached %",
            "balanced max L",
            "scalarization max L",
            "excess %",
            "balanced max ℓ̃",
            "scalarization max ℓ̃",
            "excess ℓ̃ %",
        ]
        .map(String::from)
        .to_vec(),
        rows: rows
            .iter()
            .map(|(name, a)| {
                vec![
                    Cell::text(*name),
                    Cell::text(a.tasks.to_string()),
                    Cell::text(a.width.to_string()),
                    Cell::text(a.front.len().to_string()),
                    Cell::number(100.0 * a.fraction_reached, NumberStyle::Ratio),
                    number(a.balanced.max_loss),
                    number(a.best_scalarization.max_loss),
                    excess(a.best_scalarization.max_loss, a.balanced.max_loss),
                    number(a.balanced_normalised.max_loss),
                    number(a.best_scalarization_normalised.max_loss),
                    excess(
                        a.best_scalarization_normalised.max_loss,
                        a.balanced_normalised.max_loss,
                    ),
                ]
            })
            .collect(),
        notes: vec![
            "Population losses with optimal heads (closed form, mean squared error). \
             reached %: share of the front (by area of its projection along the diagonal, in \
             normalised losses) that some scalarization weight reaches, ties included."
                .into(),
            format!(
                "A front point counts as reached when it lies within {REACH_TOLERANCE:e} \
                 (normalised loss) of a weighted-sum optimum. max L: largest task loss; \
                 ℓ̃_k = (L_k − σ²) / ‖s_k θ_k‖², the share of task k's explainable variance \
                 lost. balanced: min over the front; scalarization: min over weights."
            ),
        ],
    }
}
