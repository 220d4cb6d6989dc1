//! Aligned-MTL: the task gradients' system made well conditioned by equalising its singular
//! values, then combined.
//!
//! Paper: D. Senushkin, N. Patakin, A. Kuznetsov and A. Konushin, "Independent Component
//! Alignment for Multi-Task Learning", CVPR 2023, <https://arxiv.org/abs/2305.19000>, §4 and
//! Algorithm 1. With the Gram matrix G = V Λ Vᵀ of the K task gradients (rank r, Λ its positive
//! eigenvalues), B = σ_min V Λ^{-1/2} Vᵀ with σ_min = √λ_min turns the Jacobian's rows into an
//! orthogonal system whose singular values all equal σ_min: Jᵀ B = σ_min U Vᵀ for J = V Σ Uᵀ.
//! The update is Jᵀ B w for task weights w, i.e. the combination c = B w.
//!
//! Our reading:
//! - w = 1/K (the paper's and LibMTL's use sum the rows of B, K times this), so identical
//!   gradients give the mean.
//! - Eigenvalues at or below λ_max·K·ε₃₂ (ε₃₂ = 2^-23, gradients are float32) count as zero
//!   and their directions are dropped, as the authors' code does with its float32 tolerance.
//! - Heads receive their own task's gradient (`own`). `gradients`: `params` or
//!   `representation` (the paper's cheaper variant, Aligned-MTL-UB).
//!
//! Cost per step: that of the chosen gradients plus a K×K eigendecomposition.

use nalgebra::{DMatrix, SymmetricEigen};
use serde::{Deserialize, Serialize};

use crate::method::MethodConfig;
use crate::gradients::Gradients;
use crate::Gram;

/// Relative eigenvalue tolerance per task (float32 machine epsilon).
const RANK_EPS: f64 = f32::EPSILON as f64;

/// Hyper-parameters of `aligned-mtl`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlignedMtlConfig {
    /// Gradients w.r.t. `params` (default) or `representation`.
    pub gradients: Gradients,
}

impl MethodConfig for AlignedMtlConfig {
    gradients_only_combination!("aligned-mtl", aligned);

    /// K = 2 with the 2×2 eigendecomposition by hand: λ± = m ± √(h² + b²) with m the mean and
    /// h the half-difference of the diagonal, eigenvector (b, λ − a) (or the axes when b = 0).
    fn two_task_reference(
        &self,
        gram: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        let (a, b, d) = (gram.get(0, 0), gram.get(0, 1), gram.get(1, 1));
        let (m, h) = (0.5 * (a + d), 0.5 * (a - d));
        let root = (h * h + b * b).sqrt();
        let lambdas = [m + root, m - root];
        let tol = lambdas[0] * 2.0 * RANK_EPS;
        if lambdas[0] <= 0.0 {
            return Ok(vec![0.5, 0.5]);
        }
        let vector = |l: f64| -> [f64; 2] {
            let v = if b.abs() > 0.0 {
                [b, l - a]
            } else if (l - a).abs() <= (l - d).abs() {
                [1.0, 0.0]
            } else {
                [0.0, 1.0]
            };
            let n = (v[0] * v[0] + v[1] * v[1]).sqrt();
            [v[0] / n, v[1] / n]
        };
        let kept: Vec<f64> = lambdas.iter().copied().filter(|l| *l > tol).collect();
        let sigma_min = kept.last().copied().unwrap_or(0.0).sqrt();
        // c = B·(½, ½) with B = σ_min Σ_l v_l v_lᵀ / √λ_l.
        let mut c = [0.0; 2];
        for l in kept {
            let v = vector(l);
            let along = 0.5 * (v[0] + v[1]) * sigma_min / l.sqrt();
            c[0] += along * v[0];
            c[1] += along * v[1];
        }
        Ok(c.to_vec())
    }
}

/// c = B·(1/K) for one Gram matrix.
fn aligned(gram: &Gram) -> Vec<f64> {
    let k = gram.k();
    let scale = gram.max_abs();
    if scale == 0.0 {
        return vec![1.0 / k as f64; k];
    }
    let g = DMatrix::from_fn(k, k, |i, j| 0.5 * (gram.get(i, j) + gram.get(j, i)) / scale);
    let eig = SymmetricEigen::new(g);
    let max = eig.eigenvalues.max();
    let tol = max * k as f64 * RANK_EPS;
    let kept: Vec<usize> = (0..k).filter(|&i| eig.eigenvalues[i] > tol).collect();
    let sigma_min = kept
        .iter()
        .map(|&i| eig.eigenvalues[i])
        .fold(f64::INFINITY, f64::min)
        .sqrt();
    let mut c = vec![0.0; k];
    for &l in &kept {
        let v = eig.eigenvectors.column(l);
        let along = v.sum() / k as f64 * sigma_min / eig.eigenvalues[l].sqrt();
        for (c, x) in c.iter_mut().zip(v.iter()) {
            *c += along * x;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defining property on the rows: the aligned system Jᵀ B has orthogonal columns of
    /// equal norm σ_min (B J Jᵀ B = σ_min² I on the kept space), checked with the rows of a
    /// full-rank K = 3 example.
    #[test]
    fn aligned_system_is_orthogonal_with_equal_norms() {
        let rows = [
            vec![1.0f32, 0.2, 0.0, 0.3],
            vec![-0.5, 1.5, 0.4, 0.0],
            vec![0.3, 0.1, 2.0, -1.0],
        ];
        let gram = Gram::from_rows(&rows);
        let c = aligned(&gram);
        // c = B·(1/3), so Jᵀc has norm² = (1/3)ᵀ B G B (1/3) = σ_min²·‖1/3‖² = σ_min²/3.
        let d: Vec<f64> = (0..4)
            .map(|x| (0..3).map(|k| c[k] * f64::from(rows[k][x])).sum())
            .collect();
        let norm_sq: f64 = d.iter().map(|v| v * v).sum();
        let eig = SymmetricEigen::new(DMatrix::from_fn(3, 3, |i, j| gram.get(i, j)));
        let sigma_min_sq = eig.eigenvalues.min();
        assert!(
            (norm_sq - sigma_min_sq / 3.0).abs() < 1e-9 * sigma_min_sq,
            "{norm_sq}"
        );
    }
}
