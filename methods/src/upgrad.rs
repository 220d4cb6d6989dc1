//! UPGrad: unconflicting projection of gradients, each task gradient projected onto the dual
//! cone of all of them, then averaged.
//!
//! Paper: P. Quinton and V. Rey, "Jacobian Descent for Multi-Objective Optimization", 2024,
//! <https://arxiv.org/abs/2406.16232> (TorchJD). For each task i the gradient g_i/K is
//! projected onto the dual cone {x : g_k·x ≥ 0 for all k}, and the update is the sum of the
//! projections: a direction that conflicts with no task, equal to the mean gradient when no
//! two tasks conflict. In weight space ([`dual_cone`](crate::solver::dual_cone)) the
//! projection of Jᵀu is Jᵀv with v = argmin_{v ≥ u} vᵀGv, so the update is the combination
//! c = Σ_i v⁽ⁱ⁾ with u⁽ⁱ⁾ = e_i/K.
//!
//! Our reading: each projection is solved exactly (Lawson–Hanson on the Gram matrix) where
//! TorchJD runs a quadratic-programming solver with a small ridge on the Gram matrix; heads
//! receive their own task's gradient (`own`), as TorchJD's `mtl_backward` does. `gradients`:
//! `params` or `representation`. Cost per step: that of the chosen gradients plus K small
//! non-negative least-squares solves.

use serde::{Deserialize, Serialize};

use crate::method::MethodConfig;
use crate::gradients::Gradients;
use crate::solver::dual_cone::project;
use crate::Gram;

/// Hyper-parameters of `upgrad` (and `dualproj`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpGradConfig {
    /// Gradients w.r.t. `params` (default) or `representation`.
    pub gradients: Gradients,
}

/// Σ_i argmin_{v ≥ e_i/K} vᵀGv.
fn upgrad(gram: &Gram) -> Vec<f64> {
    let k = gram.k();
    let mut c = vec![0.0; k];
    for i in 0..k {
        let mut u = vec![0.0; k];
        u[i] = 1.0 / k as f64;
        for (c, v) in c.iter_mut().zip(project(gram, &u)) {
            *c += v;
        }
    }
    c
}

impl MethodConfig for UpGradConfig {
    gradients_only_combination!("upgrad", upgrad);

    /// K = 2 by enumeration: the sum of `two_task_projection` of e₁/2 and e₂/2.
    fn two_task_reference(
        &self,
        gram: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        let a = two_task_projection(gram, [0.5, 0.0]);
        let b = two_task_projection(gram, [0.0, 0.5]);
        Ok(vec![a[0] + b[0], a[1] + b[1]])
    }
}

/// argmin_{v ≥ u} vᵀGv for K = 2, apart from the solver: the feasible KKT point among the
/// four active sets (both at the bound; one free, at −G₁₂u_j/G_ii; both free only where G is
/// singular, the bound point then being as good), by hand.
pub(crate) fn two_task_projection(gram: &Gram, u: [f64; 2]) -> [f64; 2] {
    let (g11, g12, g22) = (gram.get(0, 0), gram.get(0, 1), gram.get(1, 1));
    let scale = g11.max(g22).max(g12.abs());
    let tol = 1e-12 * scale;
    let gv = |v: [f64; 2]| [g11 * v[0] + g12 * v[1], g12 * v[0] + g22 * v[1]];
    if scale == 0.0 || gv(u).iter().all(|x| *x >= -tol) {
        return u;
    }
    let mut candidates = Vec::new();
    if g22 > 0.0 {
        candidates.push([u[0], (-g12 * u[0] / g22).max(u[1])]);
    }
    if g11 > 0.0 {
        candidates.push([(-g12 * u[1] / g11).max(u[0]), u[1]]);
    }
    let value = |v: [f64; 2]| v[0] * gv(v)[0] + v[1] * gv(v)[1];
    candidates
        .into_iter()
        .filter(|v| gv(*v).iter().all(|x| *x >= -tol))
        .min_by(|a, b| value(*a).total_cmp(&value(*b)))
        .unwrap_or(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden values by hand: g₁ = (1, 0), g₂ = (−1, 1), G = [[1, −1], [−1, 2]]. Projecting
    /// e₁/2: G(½, 0) = (½, −½) conflicts, so v₂ = −G₁₂·½/G₂₂ = ¼: v = (½, ¼). Projecting e₂/2:
    /// G(0, ½) = (−½, 1), so v₁ = −G₁₂·½/G₁₁ = ½: v = (½, ½). c = (1, ¾); the update
    /// g₁ + ¾g₂ = (¼, ¾) has g₁·d = ¼ ≥ 0 and g₂·d = ½ ≥ 0.
    #[test]
    fn conflicting_pair_by_hand() {
        let gram = Gram::from_rows(&[vec![1.0f32, 0.0], vec![-1.0, 1.0]]);
        let c = upgrad(&gram);
        assert!(
            (c[0] - 1.0).abs() < 1e-12 && (c[1] - 0.75).abs() < 1e-12,
            "{c:?}"
        );
    }

    /// The update conflicts with no task on random K = 5 problems.
    #[test]
    fn update_conflicts_with_no_task() {
        let rows: Vec<Vec<f32>> = (0..5)
            .map(|i| (0..3).map(|j| ((i * 7 + j * 3) % 5) as f32 - 2.0).collect())
            .collect();
        let gram = Gram::from_rows(&rows);
        let c = upgrad(&gram);
        for i in 0..5 {
            let gd: f64 = (0..5).map(|j| gram.get(i, j) * c[j]).sum();
            assert!(gd >= -1e-9, "task {i}: {gd}");
        }
    }
}
