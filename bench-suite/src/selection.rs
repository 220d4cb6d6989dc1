//! Checkpoint selection on validation: the objective a run's epochs and a weight search's
//! candidates are ranked by, one rule for both.
//!
//! - `loss`: mean over the scored tasks of `val_loss_k / r_k`, r the reference model's
//!   validation losses.
//! - `metric` (default): mean over the scored tasks of `s_k (val_metric_k − r_k) / |r_k|`,
//!   r the reference model's validation metrics and s_k = −1 where higher is better: the Δm of
//!   the validation metrics against the reference, the quantity the reports compare.
//! - `dm`: the same with r the single-task baselines' validation metrics (their selected
//!   epochs, same model and seed; a search uses the mean over the sweep's seeds) — Δm on the
//!   validation split. Single-task baselines themselves select by `metric`.
//!
//! Lower is better. The reference model is the run's initial parameters, or for the members
//! of a weight search the first member's, so all members share one scale. The initial
//! parameters are never selectable: the selected epoch is the best *trained* one, and a run
//! whose best trained epoch scores worse than its initial parameters is marked not improved.

use serde::{Deserialize, Serialize};

/// What selection minimises.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Mean relative validation loss.
    Loss,
    /// Mean relative validation-metric change against the reference model (Δm-style).
    #[default]
    Metric,
    /// Δm of the validation metrics against the single-task baselines.
    Dm,
}

impl Objective {
    /// Name in configs and records.
    pub fn name(self) -> &'static str {
        match self {
            Objective::Loss => "loss",
            Objective::Metric => "metric",
            Objective::Dm => "dm",
        }
    }

    /// The rule in words, as stamped into records.
    pub fn rule(self) -> &'static str {
        match self {
            Objective::Loss => {
                "min over trained epochs 1..=E of the mean over scored tasks of \
                 val_loss_k / reference val_loss_k"
            }
            Objective::Metric => {
                "min over trained epochs 1..=E of the mean over scored tasks of \
                 s_k (val_metric_k - r_k) / |r_k|, r = reference model's val metric, \
                 s_k = -1 where higher is better"
            }
            Objective::Dm => {
                "min over trained epochs 1..=E of validation Δm: the mean over tasks of \
                 s_k (val_metric_k - r_k) / |r_k|, r = single-task baselines' val metric \
                 (stl runs: their own reference model's)"
            }
        }
    }
}

/// Scores validation results under one objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Scorer {
    objective: Objective,
    /// Tasks that count (all, or a single-task baseline's own task).
    tasks: Vec<usize>,
    higher_is_better: Vec<bool>,
    reference_loss: Vec<f64>,
    reference_metric: Vec<f64>,
    /// Single-task validation metrics (`dm`), task order.
    baselines: Option<Vec<f64>>,
}

impl Scorer {
    /// A scorer for `objective` over `tasks`, normalised by a reference model's validation
    /// losses and metrics.
    pub fn new(
        objective: Objective,
        tasks: Vec<usize>,
        higher_is_better: Vec<bool>,
        reference: (Vec<f64>, Vec<f64>),
    ) -> Self {
        Self {
            objective,
            tasks,
            higher_is_better,
            reference_loss: reference.0,
            reference_metric: reference.1,
            baselines: None,
        }
    }

    /// The objective.
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// Replaces the reference model's validation losses and metrics.
    pub fn set_reference(&mut self, reference: (Vec<f64>, Vec<f64>)) {
        self.reference_loss = reference.0;
        self.reference_metric = reference.1;
    }

    /// The reference model's validation losses and metrics.
    pub fn reference(&self) -> (Vec<f64>, Vec<f64>) {
        (self.reference_loss.clone(), self.reference_metric.clone())
    }

    /// Sets the single-task baselines' validation metrics that `dm` compares with.
    pub fn set_baselines(&mut self, baselines: Vec<f64>) {
        self.baselines = Some(baselines);
    }

    /// Whether this scorer still needs baselines before it can score (`dm` over several
    /// tasks without them).
    pub fn needs_baselines(&self) -> bool {
        self.objective == Objective::Dm && self.tasks.len() > 1 && self.baselines.is_none()
    }

    /// Score of validation losses and metrics (lower is better; +∞ when not finite).
    pub fn score(&self, val_loss: &[f64], val_metric: &[f64]) -> f64 {
        let relative_metric = |t: usize, reference: f64| {
            let sign = if self.higher_is_better[t] { -1.0 } else { 1.0 };
            sign * (val_metric[t] - reference) / reference.abs().max(f64::MIN_POSITIVE)
        };
        let per_task = |t: usize| match (self.objective, &self.baselines) {
            (Objective::Loss, _) => val_loss[t] / self.reference_loss[t].max(f64::MIN_POSITIVE),
            (Objective::Dm, Some(base)) if self.tasks.len() > 1 => relative_metric(t, base[t]),
            _ => relative_metric(t, self.reference_metric[t]),
        };
        let s = self.tasks.iter().map(|&t| per_task(t)).sum::<f64>() / self.tasks.len() as f64;
        if s.is_finite() {
            s
        } else {
            f64::INFINITY
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scorer(objective: Objective) -> Scorer {
        Scorer::new(
            objective,
            vec![0, 1],
            vec![true, false],
            (vec![2.0, 4.0], vec![0.1, 8.0]),
        )
    }

    #[test]
    fn loss_is_the_mean_relative_validation_loss() {
        let s = scorer(Objective::Loss).score(&[1.0, 1.0], &[0.0, 0.0]);
        assert!((s - (0.5 + 0.25) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn metric_is_delta_m_against_the_reference_with_signs() {
        // Accuracy 0.1 → 0.2 is −100 %; MAE 8 → 4 is −50 %.
        let s = scorer(Objective::Metric).score(&[9.0, 9.0], &[0.2, 4.0]);
        assert!((s - (-1.0 - 0.5) / 2.0).abs() < 1e-12, "{s}");
    }

    #[test]
    fn dm_uses_the_baselines_and_a_single_task_run_its_reference() {
        let mut s = scorer(Objective::Dm);
        assert!(s.needs_baselines());
        s.set_baselines(vec![0.5, 2.0]);
        assert!(!s.needs_baselines());
        // Accuracy 0.5 vs stl 0.5: 0; MAE 3 vs stl 2: +50 %.
        assert!((s.score(&[0.0, 0.0], &[0.5, 3.0]) - 0.25).abs() < 1e-12);
        let single = Scorer::new(
            Objective::Dm,
            vec![1],
            vec![true, false],
            (vec![1.0, 1.0], vec![0.1, 8.0]),
        );
        assert!(!single.needs_baselines());
        assert!((single.score(&[0.0, 0.0], &[0.0, 4.0]) + 0.5).abs() < 1e-12);
    }

    #[test]
    fn non_finite_scores_are_infinite() {
        assert_eq!(
            scorer(Objective::Loss).score(&[f64::NAN, 1.0], &[0.0, 0.0]),
            f64::INFINITY
        );
    }
}
