//! Chebyshev: online weighted Chebyshev (Tchebycheff) scalarization, the gradient of the
//! largest preference-weighted loss.
//!
//! The scalarization min_θ max_k p_k (L_k(θ) − z_k) reaches every Pareto-optimal point for
//! some preference p on the simplex, convex front or not (K. Miettinen, "Nonlinear
//! Multiobjective Optimization", 1999, §3.4; for MTL, Hu et al., NeurIPS 2023, §5, the case
//! linear scalarization cannot reach). Online, each step descends the subgradient of the max
//! on the batch: p_k ∇L_k for the task k with the largest p_k L_k (ideal point z = 0).
//!
//! Our reading: tasks tied for the max (equal p_k L_k to 1e-12 relative) share, each
//! p_k/|ties|; the answer is the free loss weights (w_k = p_k on the max task, else 0), so with
//! uniform p a step moves as fast as `uniform` moves each task. Tasks off the max get no
//! gradient that step, heads included (`weighted`): that is the definition. Cost: one
//! backward pass per step.
//!
//! Hyper-parameters: `preference`, K floats > 0 summing to 1 (default uniform).

use serde::{Deserialize, Serialize};

use crate::method::{
    GradSource, Method, MethodConfig, Needs, ParamDoc, Property, StepInput, Update, UpdateKind,
};
use crate::step_checks::losses;
use crate::{Error, Gram, Result};

/// A preference vector: K weights > 0 summing to 1, or uniform when not given.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Preference(pub Option<Vec<f64>>);

impl Preference {
    /// The parameter's documentation, shared by `chebyshev` and `stch`.
    pub const DOC: ParamDoc = ParamDoc {
        name: "preference",
        kind: "list of K floats > 0 summing to 1 (optional)",
        help: "preference p of each task (default uniform 1/K)",
    };

    /// The vector for `k` tasks, checked; `method` names the method in errors.
    pub fn resolve(&self, method: &str, k: usize) -> Result<Vec<f64>> {
        let Some(p) = &self.0 else {
            return Ok(vec![1.0 / k.max(1) as f64; k]);
        };
        let bad = |message: String| Error::InvalidConfig {
            method: method.to_owned(),
            message,
        };
        if p.len() != k {
            return Err(bad(format!(
                "field `preference` has {} entries, the dataset has {k} tasks",
                p.len()
            )));
        }
        if p.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(bad(format!(
                "field `preference` must be > 0 everywhere, got {p:?}"
            )));
        }
        let sum: f64 = p.iter().sum();
        if (sum - 1.0).abs() > 1e-6 {
            return Err(bad(format!("field `preference` must sum to 1, got {sum}")));
        }
        Ok(p.clone())
    }

    /// True for the uniform default.
    pub fn is_uniform(&self) -> bool {
        self.0.is_none()
    }

    /// Whether the symmetric properties hold: with the uniform default, yes; a given
    /// preference is bound to task indices.
    pub fn symmetric(&self) -> Property {
        match self.0 {
            None => Property::Holds,
            Some(_) => Property::Exempt("a given preference vector is bound to task indices"),
        }
    }

    /// The default and one uneven preference, for the property suite.
    pub fn examples(k: usize) -> Vec<(String, serde_json::Value)> {
        let total = (k * (k + 1) / 2) as f64;
        let uneven: Vec<f64> = (1..=k).map(|i| i as f64 / total).collect();
        vec![
            ("defaults".to_owned(), serde_json::json!({})),
            (
                "uneven".to_owned(),
                serde_json::json!({ "preference": uneven }),
            ),
        ]
    }
}

/// Hyper-parameters of `chebyshev`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChebyshevConfig {
    /// Preference p (default uniform); left out of the canonical JSON when uniform.
    #[serde(skip_serializing_if = "Preference::is_uniform")]
    pub preference: Preference,
}

impl MethodConfig for ChebyshevConfig {
    fn params() -> &'static [ParamDoc] {
        &[Preference::DOC]
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        let p = self.preference.resolve("chebyshev", num_tasks)?;
        Ok(Box::new(Chebyshev { p }))
    }

    fn update_kind() -> UpdateKind {
        UpdateKind::FreeWeights
    }

    fn examples(k: usize) -> Vec<(String, serde_json::Value)> {
        Preference::examples(k)
    }

    fn permutation_equivariant(&self) -> Property {
        self.preference.symmetric()
    }

    fn mean_when_identical(&self) -> Property {
        self.preference.symmetric()
    }

    /// K = 2: (p₁, 0) if p₁L₁ > p₂L₂, (0, p₂) if less, (p₁/2, p₂/2) on a tie.
    fn two_task_reference(
        &self,
        _: &Gram,
        losses: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        let p = self.preference
            .resolve("chebyshev", 2)
            .map_err(|_| "invalid preference")?;
        let (a, b) = (p[0] * losses[0], p[1] * losses[1]);
        Ok(if (a - b).abs() <= 1e-12 * a.abs().max(b.abs()) {
            vec![p[0] / 2.0, p[1] / 2.0]
        } else if a > b {
            vec![p[0], 0.0]
        } else {
            vec![0.0, p[1]]
        })
    }
}

/// The running method.
struct Chebyshev {
    p: Vec<f64>,
}

impl Method for Chebyshev {
    fn needs(&self) -> Needs {
        Needs::grads(GradSource::None)
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        let losses = losses("chebyshev", self.p.len(), input)?;
        let scores: Vec<f64> = self.p.iter().zip(losses).map(|(p, l)| p * l).collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let tied: Vec<bool> = scores
            .iter()
            .map(|s| (max - s).abs() <= 1e-12 * max.abs())
            .collect();
        let n = tied.iter().filter(|t| **t).count().max(1) as f64;
        Ok(Update::FreeWeights(
            self.p
                .iter()
                .zip(&tied)
                .map(|(p, t)| if *t { p / n } else { 0.0 })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden values by hand: p = (0.2, 0.3, 0.5), L = (4, 2, 1) → p∘L = (0.8, 0.6, 0.5): the
    /// first task alone, w = (0.2, 0, 0).
    #[test]
    fn the_largest_weighted_loss_gets_its_preference() {
        let mut m = ChebyshevConfig {
            preference: Preference(Some(vec![0.2, 0.3, 0.5])),
        }
        .build(3)
        .unwrap();
        let u = m.step(&StepInput::new(0, &[4.0, 2.0, 1.0], None)).unwrap();
        assert_eq!(u, Update::FreeWeights(vec![0.2, 0.0, 0.0]));
    }

    #[test]
    fn a_preference_of_the_wrong_length_is_refused() {
        let err = ChebyshevConfig {
            preference: Preference(Some(vec![0.5, 0.5])),
        }
        .build(3)
        .err()
        .unwrap();
        assert!(err.to_string().contains("preference"), "{err}");
    }
}
