//! GLS: geometric loss strategy, the geometric mean of the task losses.
//!
//! Paper: S. Chennupati, G. Sistu, S. Yogamani and S. A. Rawashdeh, "MultiNet++: Multi-Stream
//! Feature Aggregation and Geometric Loss Strategy for Multi-Task Learning", CVPR Workshops
//! 2019, <https://arxiv.org/abs/1904.08492>. The training loss is (Π_k L_k)^{1/K}. Its
//! gradient is Σ_k w_k ∇L_k with w_k = (Π_i L_i)^{1/K} / (K · L_k), so the method answers
//! these free loss weights: a task with a small loss weighs more, and the update is invariant
//! to rescaling any one loss.
//!
//! Our reading: the product is taken as exp(mean log L_k), which does not overflow; losses are
//! floored at 1e-12 (a task with zero loss would otherwise get an infinite weight). Cost: one
//! backward pass per step. No hyper-parameters.

use serde::{Deserialize, Serialize};

use crate::method::{
    GradSource, Method, MethodConfig, Needs, ParamDoc, StepInput, Update, UpdateKind,
};
use crate::step_checks::losses;
use crate::{Gram, Result};

/// Losses below this are raised to it.
const LOSS_FLOOR: f64 = 1e-12;

/// `gls` takes no hyper-parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlsConfig {}

impl MethodConfig for GlsConfig {
    fn params() -> &'static [ParamDoc] {
        &[]
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        Ok(Box::new(Gls { k: num_tasks }))
    }

    fn update_kind() -> UpdateKind {
        UpdateKind::FreeWeights
    }

    /// K = 2: ∂√(L₁L₂)/∂L₁ = ½·√(L₂/L₁), and symmetrically (hand derivation).
    fn two_task_reference(
        &self,
        _: &Gram,
        losses: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        let (l1, l2) = (losses[0].max(LOSS_FLOOR), losses[1].max(LOSS_FLOOR));
        Ok(vec![0.5 * (l2 / l1).sqrt(), 0.5 * (l1 / l2).sqrt()])
    }
}

/// The running method.
struct Gls {
    k: usize,
}

impl Method for Gls {
    fn needs(&self) -> Needs {
        Needs::grads(GradSource::None)
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        let losses = losses("gls", self.k, input)?;
        let floored: Vec<f64> = losses.iter().map(|l| l.max(LOSS_FLOOR)).collect();
        let mean_log = floored.iter().map(|l| l.ln()).sum::<f64>() / self.k as f64;
        let k = self.k as f64;
        Ok(Update::FreeWeights(
            floored
                .iter()
                .map(|l| (mean_log - l.ln()).exp() / k)
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden values by hand: losses (1, 4, 2) have geometric mean 2, so w = 2 / (3 L_k) =
    /// (2/3, 1/6, 1/3).
    #[test]
    fn weights_are_the_geometric_mean_over_k_losses() {
        let mut m = GlsConfig {}.build(3).unwrap();
        let u = m.step(&StepInput::new(0, &[1.0, 4.0, 2.0], None)).unwrap();
        let w = u.coefficients().unwrap();
        for (got, want) in w.iter().zip([2.0 / 3.0, 1.0 / 6.0, 1.0 / 3.0]) {
            assert!((got - want).abs() < 1e-12, "{w:?}");
        }
    }
}
