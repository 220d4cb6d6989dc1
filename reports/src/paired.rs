//! Paired comparisons: for every two methods on the same dataset and model, the difference of
//! their Δm% over the seeds both completed, with its 95 % t-interval. A method is called
//! better only when the interval excludes zero.

use crate::analysis::BlockAnalysis;
use crate::sheet::{Cell, NumberStyle, Sheet};
use crate::stats::{paired_difference, Verdict};

/// Legend of the paired table.
pub const PAIRED_LEGEND: &str = "a − b = mean over shared seeds of Δm%(a) − Δm%(b) (same \
dataset, model and seed), ± half-width of its 95 % t-interval; n = seeds both completed. \
\"a better\" (or \"b better\") is claimed only when the interval excludes zero; otherwise no \
difference is claimed, and with n = 1 no interval exists.";

/// Every pair of method configurations (stl excluded) on each model of the block, in row
/// order.
pub fn paired_sheet(b: &BlockAnalysis<'_>) -> Sheet {
    let mut rows = Vec::new();
    for model in b.models() {
        let groups: Vec<_> = b
            .groups
            .iter()
            .filter(|g| g.model.name == model && !g.is_stl())
            .collect();
        for (i, a) in groups.iter().enumerate() {
            for bb in &groups[i + 1..] {
                let Some((s, verdict)) = paired_difference(&a.delta, &bb.delta) else {
                    continue;
                };
                rows.push(vec![
                    Cell::text(model),
                    Cell::text(&a.label),
                    Cell::text(&bb.label),
                    Cell::text(s.n.to_string()),
                    Cell::estimate(Some(s), NumberStyle::Percent),
                    Cell::text(match verdict {
                        Verdict::FirstLower => "a better",
                        Verdict::SecondLower => "b better",
                        Verdict::Inconclusive => "no difference",
                        Verdict::TooFew => "n = 1: no claim",
                    }),
                ]);
            }
        }
    }
    Sheet {
        kind: "paired",
        title: format!("Paired comparisons of Δm% on {}", b.block.label),
        columns: ["model", "a", "b", "n", "a − b (Δm%)", "verdict"]
            .iter()
            .map(|c| c.to_string())
            .collect(),
        rows,
        notes: vec![PAIRED_LEGEND.into()],
    }
}
