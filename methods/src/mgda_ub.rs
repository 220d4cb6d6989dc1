//! MGDA-UB: task weights λ from the min-norm point of the convex hull of the per-task gradients
//! w.r.t. the shared representation z, an upper-bound surrogate of MGDA.
//!
//! Paper: O. Sener and V. Koltun, "Multi-Task Learning as Multi-Objective Optimization",
//! NeurIPS 2018, <https://arxiv.org/abs/1810.04650>, §3.3 and Algorithm 2 (solved exactly here).
//! With an encoder z = f(x; θ) shared by all task heads, the chain rule gives
//! ∇_θ L_k = (∂z/∂θ)ᵀ ∇_z L_k, so ‖Σ_k λ_k ∇_θ L_k‖ ≤ ‖∂z/∂θ‖ · ‖Σ_k λ_k ∇_z L_k‖: minimising
//! the right-hand side over the simplex (the Jacobian factor does not depend on λ) is the same
//! min-norm problem as `mgda` ([`crate::mgda`]) on the Gram matrix of ∇_z L_k. The paper shows
//! that, when ∂z/∂θ has full rank, the solution is either Pareto-stationary or gives a descent
//! direction for every task (Theorem 1). Everything else — normalisation, solver, its defaults
//! and guards — is shared with `mgda` through [`MinNormWeighting`].
//!
//! Hyper-parameters, the same fields and defaults as `mgda` ([`MgdaConfig`]):
//! - `normalization`: `none | l2 | loss | loss+`, default `loss+`.
//! - `max_iter`: cap on the exact solver's major cycles (K ≥ 3), integer ≥ 1, default 250.
//! - `tol`: retired, no effect (see [`crate::mgda`]), float > 0, default 1e-5.
//!
//! Cost per step: one forward pass, K cheap backward passes through the heads only (to get
//! ∇_z L_k on the detached representation), then one weighted backward through the whole
//! network — about the cost of uniform scalarization plus K head backwards.
//!
//! The shared 2-task example, ∇_z L_1 = (1, 0) and ∇_z L_2 = (0, 2), without normalisation:
//! ```
//! use mtl_methods::{find, GradSource, Gram, StepInput, Update};
//! let mut ub = find("mgda-ub")?.build(&serde_json::json!({"normalization": "none"}), 2)?;
//! assert_eq!(ub.needs().grads, GradSource::Representation);
//! let gram = Gram::from_rows(&[vec![1.0f32, 0.0], vec![0.0, 2.0]]);
//! let w = ub.step(&StepInput::new(0, &[1.0, 1.0], Some(&gram)))?.into_weights().unwrap();
//! assert!((w.as_slice()[0] - 0.8).abs() < 1e-12);
//! # Ok::<(), mtl_methods::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::method::{GradSource, HeadScaling, Method, MethodConfig, ParamDoc, ScaleInvariance};
use crate::mgda::{MgdaConfig, MinNormWeighting};
use crate::{Gram, Result};

/// Hyper-parameters of `mgda-ub`: exactly those of `mgda`, serialised identically.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MgdaUbConfig(pub MgdaConfig);

impl MethodConfig for MgdaUbConfig {
    fn params() -> &'static [ParamDoc] {
        MgdaConfig::PARAMS
    }

    fn validate(&self) -> std::result::Result<(), String> {
        self.0.check()
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        Ok(Box::new(MinNormWeighting::new(
            "mgda-ub",
            self.0,
            num_tasks,
            GradSource::Representation,
        )?))
    }

    fn examples(num_tasks: usize) -> Vec<(String, serde_json::Value)> {
        MgdaConfig::variants(num_tasks)
    }

    fn scale_invariance(&self) -> ScaleInvariance {
        self.0.scaling()
    }

    fn head_scaling(&self) -> HeadScaling {
        self.0.heads
    }

    /// `mgda`'s: the same solve on other gradients.
    fn two_task_reference(
        &self,
        gram: &Gram,
        losses: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        self.0.two_task_reference(gram, losses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_json_as_mgda() {
        let ub = serde_json::to_value(MgdaUbConfig::default()).unwrap();
        assert_eq!(ub, serde_json::to_value(MgdaConfig::default()).unwrap());
        let parsed: MgdaUbConfig =
            serde_json::from_value(serde_json::json!({"normalization": "l2"})).unwrap();
        assert_eq!(parsed.0.normalization, crate::solver::Normalization::L2);
        assert_eq!(parsed.0.max_iter, 250);
        assert!(
            serde_json::from_value::<MgdaUbConfig>(serde_json::json!({"tolerance": 1.0})).is_err()
        );
    }

    #[test]
    fn needs_representation_gradients() {
        let m = MgdaUbConfig::default().build(2).unwrap();
        assert_eq!(m.needs().grads, GradSource::Representation);
    }

    #[test]
    fn validate_is_mgda_s() {
        let bad = MgdaUbConfig(MgdaConfig {
            tol: 0.0,
            ..Default::default()
        });
        assert!(bad.validate().unwrap_err().contains("tol"));
    }
}
