//! The model-size table: per block, how each method's Δm% moves along the encoder-width axis
//! (the axis where under-parametrisation decides between scalarization and SMTOs, Hu et al.,
//! NeurIPS 2023).

use crate::analysis::BlockAnalysis;
use crate::sheet::{Cell, NumberStyle, Sheet};

/// Rows: method configurations (stl excluded, first-seen order); columns: models by width.
pub fn model_size_sheet(b: &BlockAnalysis<'_>) -> Sheet {
    let models = b.models();
    let mut columns = vec!["method".to_owned()];
    for m in &models {
        let width = b
            .groups
            .iter()
            .find(|g| g.model.name == *m)
            .map_or(0, |g| g.model.width);
        columns.push(format!("{m} (w={width})"));
    }
    let mut labels: Vec<&str> = Vec::new();
    for g in b.groups.iter().filter(|g| !g.is_stl()) {
        if !labels.contains(&g.label.as_str()) {
            labels.push(&g.label);
        }
    }
    let rows = labels
        .iter()
        .map(|label| {
            let mut row = vec![Cell::text(*label)];
            row.extend(models.iter().map(|m| {
                b.groups
                    .iter()
                    .find(|g| g.label == *label && g.model.name == *m)
                    .map_or(Cell::Missing, |g| {
                        Cell::estimate(g.delta_summary(), NumberStyle::Percent)
                    })
            }));
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
