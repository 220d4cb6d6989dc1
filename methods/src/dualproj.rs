//! DualProj: the mean gradient projected onto the dual cone of the task gradients.
//!
//! Paper: P. Quinton and V. Rey, "Jacobian Descent for Multi-Objective Optimization", 2024,
//! <https://arxiv.org/abs/2406.16232> (TorchJD's `DualProj`, after the projection in GEM,
//! Lopez-Paz & Ranzato, NeurIPS 2017). The update is the projection of the mean gradient onto
//! {x : g_k·x ≥ 0 for all k}; in weight space, the combination v = argmin_{v ≥ 1/K} vᵀGv
//! ([`dual_cone`](crate::solver::dual_cone)). `upgrad` projects each task gradient instead.
//!
//! Our reading and costs as for `upgrad`: exact projection, heads on their own gradients,
//! `gradients` = `params` or `representation`; one small non-negative least-squares solve.

use crate::method::MethodConfig;
use crate::gradients::Gradients;
use crate::solver::dual_cone::project;
use crate::upgrad::two_task_projection;
use crate::Gram;

/// Hyper-parameters of `dualproj`.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DualProjConfig {
    /// Gradients w.r.t. `params` (default) or `representation`.
    pub gradients: Gradients,
}

/// argmin_{v ≥ 1/K} vᵀGv.
fn dualproj(gram: &Gram) -> Vec<f64> {
    let k = gram.k();
    project(gram, &vec![1.0 / k as f64; k])
}

impl MethodConfig for DualProjConfig {
    gradients_only_combination!("dualproj", dualproj);

    /// K = 2 by enumeration (`two_task_projection` of (½, ½)).
    fn two_task_reference(
        &self,
        gram: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Ok(two_task_projection(gram, [0.5, 0.5]).to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden value by hand: g₁ = (1, 0), g₂ = (−1, 1); G(½, ½) = (0, ½) conflicts with
    /// nothing, so v = (½, ½). With g₂ = (−2, 1): G = [[1, −2], [−2, 5]], G(½, ½) = (−½, 3/2),
    /// so v₁ = −G₁₂·½/G₁₁ = 1: v = (1, ½), update (0, ½) orthogonal to g₁.
    #[test]
    fn mean_gradient_by_hand() {
        let mild = Gram::from_rows(&[vec![1.0f32, 0.0], vec![-1.0, 1.0]]);
        assert_eq!(dualproj(&mild), [0.5, 0.5]);
        let sharp = Gram::from_rows(&[vec![1.0f32, 0.0], vec![-2.0, 1.0]]);
        let v = dualproj(&sharp);
        assert!(
            (v[0] - 1.0).abs() < 1e-12 && (v[1] - 0.5).abs() < 1e-12,
            "{v:?}"
        );
    }
}
