//! Linear scalarization with fixed, user-given weights λ on the simplex.
//!
//! Hyper-parameters: `weights` (list of K non-negative numbers summing to 1; required).
//! Cost: one backward pass per step.

use serde::{Deserialize, Serialize};

use serde_json::{json, Value};

use crate::method::{Method, MethodConfig, ParamDoc, Property};
use crate::uniform::FixedWeights;
use crate::weights::SIMPLEX_TOL;
use crate::{Error, Gram, Result, Weights};

/// Hyper-parameters of `fixed`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedConfig {
    /// λ, one per task, on the simplex.
    pub weights: Vec<f64>,
}

impl MethodConfig for FixedConfig {
    fn params() -> &'static [ParamDoc] {
        &[ParamDoc {
            name: "weights",
            kind: "list of K floats ≥ 0 summing to 1 (required)",
            help: "task weights λ",
        }]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.weights.is_empty() {
            return Err("field `weights` is required: one non-negative weight per task, summing to 1, e.g. weights = [0.5, 0.5]".into());
        }
        if self.weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(format!(
                "field `weights` must be finite and non-negative, got {:?}",
                self.weights
            ));
        }
        let sum: f64 = self.weights.iter().sum();
        if (sum - 1.0).abs() > SIMPLEX_TOL {
            let scaled: Vec<String> = self
                .weights
                .iter()
                .map(|w| format!("{:.4}", w / sum))
                .collect();
            return Err(format!(
                "field `weights` must sum to 1, got {:?} (sum {sum}); divided by their sum they \
                 would be [{}] (to 4 digits)",
                self.weights,
                scaled.join(", ")
            ));
        }
        Ok(())
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        if self.weights.len() != num_tasks {
            return Err(Error::InvalidConfig {
                method: "fixed".into(),
                message: format!(
                    "field `weights` has {} entries but the dataset has {num_tasks} tasks",
                    self.weights.len()
                ),
            });
        }
        Ok(Box::new(FixedWeights::new(Weights::simplex(
            self.weights.clone(),
        )?)))
    }

    /// The non-uniform λ_k ∝ k + 1, so that weights tied to the wrong task would show.
    fn examples(num_tasks: usize) -> Vec<(String, Value)> {
        let total = (num_tasks * (num_tasks + 1) / 2) as f64;
        let weights: Vec<f64> = (0..num_tasks).map(|i| (i + 1) as f64 / total).collect();
        vec![("λ ∝ k + 1".to_owned(), json!({ "weights": weights }))]
    }

    fn permutation_equivariant(&self) -> Property {
        Property::Exempt("the user's weights are tied to task positions by definition")
    }

    fn mean_when_identical(&self) -> Property {
        Property::Exempt("the user's weights are whatever the user chose, whatever the gradients")
    }

    /// The user's weights.
    fn two_task_reference(
        &self,
        _: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Ok(self.weights.clone())
    }
}
