//! ConFIG: conflict-free inverse gradients, the direction with equal cosine to every task
//! gradient, scaled by the tasks' projections on it.
//!
//! Paper: Q. Liu, M. Chu and N. Thuerey, "ConFIG: Towards Conflict-free Training of Physics
//! Informed Neural Networks", ICLR 2025, <https://arxiv.org/abs/2408.11104>, eq. (3). With unit
//! gradients u_k = g_k/‖g_k‖ as the rows of A, the direction is ĝ = A⁺1/‖A⁺1‖ (equal cosine
//! to every task, positive when the tasks allow it) and the update is (Σ_k g_k·ĝ) ĝ. A⁺1 =
//! Σ_k β_k u_k with β = N⁺1, N = A Aᵀ the Gram matrix of the unit gradients, so the method
//! runs on the Gram matrix.
//!
//! Our reading:
//! - The update is the mean (1/K)(Σ_k g_k·ĝ) ĝ, where the paper writes the sum, so that
//!   learning rates compare with `uniform`; identical gradients give their mean.
//! - N⁺ drops eigenvalues at or below λ_max·K·2^-23 (float32 gradients). A task with a zero
//!   gradient has no direction and is left out of A. Where A⁺1 = 0 (exactly opposed tasks),
//!   no direction has equal positive cosines and the update is zero.
//! - Heads receive their own task's gradient (`own`). `gradients`: `params` or
//!   `representation`.
//!
//! Cost per step: that of the chosen gradients plus a K×K eigendecomposition.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

use crate::method::MethodConfig;
use crate::gradients::Gradients;
use crate::Gram;

/// Relative eigenvalue tolerance per task (float32 machine epsilon).
const RANK_EPS: f64 = f32::EPSILON as f64;

/// Hyper-parameters of `config`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigConfig {
    /// Gradients w.r.t. `params` (default) or `representation`.
    pub gradients: Gradients,
}

impl MethodConfig for ConfigConfig {
    gradients_only_combination!("config", conflict_free);

    /// K = 2 by hand: ĝ is the bisector (u₁ + u₂)/‖u₁ + u₂‖, Σ g_k·ĝ = (n₁ + n₂)√((1 + cos)/2),
    /// and the mean update ½(Σ g_k·ĝ)ĝ has coefficients c_k = (n₁ + n₂)/(4 n_k); zero for
    /// opposite gradients (1 + cos ≤ 2·2^-23), a zero gradient leaves the other task alone.
    fn two_task_reference(
        &self,
        gram: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        let (n1, n2) = (gram.get(0, 0).sqrt(), gram.get(1, 1).sqrt());
        match (n1 > 0.0, n2 > 0.0) {
            (false, false) => return Ok(vec![0.0, 0.0]),
            // One task: ĝ = u, (g·ĝ)ĝ = g, halved.
            (true, false) => return Ok(vec![0.5, 0.0]),
            (false, true) => return Ok(vec![0.0, 0.5]),
            (true, true) => {}
        }
        let cos = gram.get(0, 1) / (n1 * n2);
        if 1.0 + cos <= 2.0 * 2.0 * RANK_EPS {
            return Ok(vec![0.0, 0.0]);
        }
        Ok(vec![(n1 + n2) / (4.0 * n1), (n1 + n2) / (4.0 * n2)])
    }
}

/// The combination's coefficients for one Gram matrix.
fn conflict_free(gram: &Gram) -> Vec<f64> {
    let k = gram.k();
    let norms: Vec<f64> = (0..k).map(|i| gram.get(i, i).max(0.0).sqrt()).collect();
    let live: Vec<usize> = (0..k).filter(|&i| norms[i] > 0.0).collect();
    let m = live.len();
    let mut c = vec![0.0; k];
    if m == 0 {
        return c;
    }
    // N: Gram matrix of the unit gradients of the live tasks.
    let n = DMatrix::from_fn(m, m, |a, b| {
        let (i, j) = (live[a], live[b]);
        0.5 * (gram.get(i, j) + gram.get(j, i)) / (norms[i] * norms[j])
    });
    let eig = SymmetricEigen::new(n.clone());
    let tol = eig.eigenvalues.max() * m as f64 * RANK_EPS;
    // β = N⁺1 from the kept eigenpairs.
    let ones = DVector::from_element(m, 1.0);
    let mut beta = DVector::zeros(m);
    for l in 0..m {
        let lambda = eig.eigenvalues[l];
        if lambda > tol {
            let v = eig.eigenvectors.column(l);
            beta += v * (v.dot(&ones) / lambda);
        }
    }
    // x = Σ β_a u_a, ‖x‖² = βᵀNβ; the projections g_j·x = Σ_a β_a G_ja / n_a.
    // ‖x‖² = 1ᵀN⁺1 is at least 1/λ_max ≥ 1/m unless 1 is (numerically) outside N's range:
    // opposed tasks, no direction with equal positive cosines.
    let x_norm_sq = beta.dot(&(&n * &beta));
    if x_norm_sq <= RANK_EPS {
        return c;
    }
    let x_norm = x_norm_sq.sqrt();
    let projections: f64 = (0..k)
        .map(|j| {
            live.iter()
                .enumerate()
                .map(|(a, &i)| beta[a] * gram.get(j, i) / norms[i])
                .sum::<f64>()
        })
        .sum::<f64>()
        / x_norm;
    // Update (1/K)(Σ g_j·ĝ) ĝ with ĝ = x/‖x‖ = Σ β_a g_a/(n_a ‖x‖).
    let factor = projections / (k as f64 * x_norm);
    for (a, &i) in live.iter().enumerate() {
        c[i] = factor * beta[a] / norms[i];
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On the rows of a K = 3 example: the update has equal cosine with every task gradient,
    /// and its length is the mean of the tasks' projections on its direction.
    #[test]
    fn update_has_equal_cosines_and_the_mean_projection() {
        let rows = [
            vec![1.0f32, 0.2, 0.0, 0.3],
            vec![-0.5, 1.5, 0.4, 0.0],
            vec![0.3, 0.1, 2.0, -1.0],
        ];
        let c = conflict_free(&Gram::from_rows(&rows));
        let rows: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| r.iter().map(|&x| f64::from(x)).collect())
            .collect();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let d: Vec<f64> = (0..4)
            .map(|x| (0..3).map(|k| c[k] * rows[k][x]).sum())
            .collect();
        let dn = dot(&d, &d).sqrt();
        let cos: Vec<f64> = rows
            .iter()
            .map(|r| dot(r, &d) / (dot(r, r).sqrt() * dn))
            .collect();
        for v in &cos {
            assert!((v - cos[0]).abs() < 1e-9, "{cos:?}");
        }
        assert!(cos[0] > 0.0);
        let mean_projection = rows.iter().map(|r| dot(r, &d) / dn).sum::<f64>() / 3.0;
        assert!(
            (dn - mean_projection).abs() < 1e-9 * dn,
            "{dn} vs {mean_projection}"
        );
    }
}
