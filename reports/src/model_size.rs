//! The model-size table and plot: per block, how each method's Δm% moves along the
//! encoder-width axis (the axis where under-parametrisation decides between scalarization and
//! SMTOs, Hu et al., NeurIPS 2023, and along which Royer et al., NeurIPS 2023, compare
//! scalarization weights).

use crate::analysis::BlockAnalysis;
use crate::sheet::{Cell, NumberStyle, Sheet};
use crate::stats::Summary;

/// What the model-size plot shows: each method configuration's Δm% summary at each model of
/// a block, models in increasing width.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSizeView {
    /// Block label.
    pub dataset: String,
    /// Models as (name, width), in increasing width.
    pub models: Vec<(String, usize)>,
    /// One series per method configuration (stl excluded), first-seen order.
    pub series: Vec<SizeSeries>,
}

/// One method configuration along the width axis.
#[derive(Debug, Clone, PartialEq)]
pub struct SizeSeries {
    /// Row label of the method configuration.
    pub label: String,
    /// Δm% over seeds at each model of [`ModelSizeView::models`] (`None`: not run, or no Δm).
    pub points: Vec<Option<Summary>>,
}

/// The block's model-size view; `None` with fewer than two models or no Δm% at all (no
/// single-task baselines), where there is no line to draw.
pub fn model_size_view(b: &BlockAnalysis<'_>) -> Option<ModelSizeView> {
    let view = size_table(b);
    let any = view
        .series
        .iter()
        .flat_map(|s| &s.points)
        .any(Option::is_some);
    (view.models.len() >= 2 && any).then_some(view)
}

/// Every method configuration's Δm% at every model of the block: the table and the plot.
fn size_table(b: &BlockAnalysis<'_>) -> ModelSizeView {
    let models: Vec<(String, usize)> = b
        .models()
        .into_iter()
        .map(|m| {
            let width = b
                .groups
                .iter()
                .find(|g| g.model.name == m)
                .map_or(0, |g| g.model.width);
            (m.to_owned(), width)
        })
        .collect();
    let mut labels: Vec<&str> = Vec::new();
    for g in b.groups.iter().filter(|g| !g.is_stl()) {
        if !labels.contains(&g.label.as_str()) {
            labels.push(&g.label);
        }
    }
    let series = labels
        .into_iter()
        .map(|label| SizeSeries {
            label: label.to_owned(),
            points: models
                .iter()
                .map(|(m, _)| {
                    b.groups
                        .iter()
                        .find(|g| g.label == label && g.model.name == *m)
                        .and_then(|g| g.delta_summary())
                })
                .collect(),
        })
        .collect();
    ModelSizeView {
        dataset: b.block.label.clone(),
        models,
        series,
    }
}

/// Rows: method configurations (stl excluded, first-seen order); columns: models by width.
pub fn model_size_sheet(b: &BlockAnalysis<'_>) -> Sheet {
    let view = size_table(b);
    let mut columns = vec!["method".to_owned()];
    columns.extend(view.models.iter().map(|(m, w)| format!("{m} (w={w})")));
    let rows = view
        .series
        .into_iter()
        .map(|s| {
            let mut row = vec![Cell::text(s.label)];
            row.extend(
                s.points
                    .into_iter()
                    .map(|p| Cell::estimate(p, NumberStyle::Percent)),
            );
            row
        })
        .collect();
    Sheet {
        kind: "model-size",
        title: format!("Δm% by model size on {}", b.block.label),
        columns,
        rows,
        notes: vec![
            "Δm% (mean ± 95 % CI over seeds; lower is better) of each method at each encoder \
             width w (shared hidden units, or q for the linear network), in increasing width."
                .into(),
        ],
    }
}
