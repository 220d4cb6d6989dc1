//! IMTL-G: impartial gradient combination, equal projection onto every task's direction.
//!
//! Paper: L. Liu, Y. Li, Z. Kuang, J.-H. Xue, Y. Chen, W. Yang, Q. Liao and W. Zhang, "Towards
//! Impartial Multi-task Learning", ICLR 2021, <https://openreview.net/forum?id=IMPnRXEWpvr>,
//! §3.1. The shared update g = Σ_k α_k g_k with Σ α_k = 1 has the same projection onto every
//! unit gradient u_k = g_k/‖g_k‖: g·(u_1 − u_j) = 0 for j = 2..K. With D the rows g_1 − g_j and
//! U the rows u_1 − u_j, α_{2..K} = g_1 Uᵀ (D Uᵀ)⁻¹ and α_1 = 1 − Σ_{j≥2} α_j. Every product
//! there is an inner product of gradients, so the method runs on the Gram matrix.
//!
//! Our reading:
//! - IMTL-G alone (the paper's IMTL-L loss scaling is a separate method); heads receive their
//!   own task's gradient (`own`), as the paper updates task-specific parameters by their own
//!   losses.
//! - Where the solution is not unique — D Uᵀ singular (reciprocal condition below 1e-12:
//!   identical or duplicated directions) or a zero gradient — the answer is the mean α = 1/K,
//!   which then also has equal projections wherever any α does.
//! - `gradients`: `params` (the paper) or `representation`.
//!
//! Cost per step: that of the chosen gradients plus an O(K³) solve.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::method::MethodConfig;
use crate::gradients::Gradients;
use crate::Gram;

/// Reciprocal condition number below which D Uᵀ counts as singular.
const SINGULAR: f64 = 1e-12;

/// Hyper-parameters of `imtl-g`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImtlGConfig {
    /// Gradients w.r.t. `params` (default) or `representation`.
    pub gradients: Gradients,
}

impl MethodConfig for ImtlGConfig {
    gradients_only_combination!("imtl-g", alpha);

    /// K = 2 by hand: α₂ = g₁·(u₁ − u₂) / ((g₁ − g₂)·(u₁ − u₂)), with
    /// g₁·(u₁ − u₂) = G₁₁/n₁ − G₁₂/n₂ and (g₁ − g₂)·(u₁ − u₂) = G₁₁/n₁ − G₁₂/n₂ − G₁₂/n₁ + G₂₂/n₂
    /// (n_k = ‖g_k‖); the mean where that denominator vanishes.
    fn two_task_reference(
        &self,
        gram: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        let (g11, g12, g22) = (gram.get(0, 0), gram.get(0, 1), gram.get(1, 1));
        let (n1, n2) = (g11.sqrt(), g22.sqrt());
        if n1 == 0.0 || n2 == 0.0 {
            return Ok(vec![0.5, 0.5]);
        }
        let num = g11 / n1 - g12 / n2;
        let den = num - g12 / n1 + g22 / n2;
        if den.abs() <= SINGULAR * (g11 / n1 + g22 / n2) {
            return Ok(vec![0.5, 0.5]);
        }
        let a2 = num / den;
        Ok(vec![1.0 - a2, a2])
    }
}

/// α for one Gram matrix.
fn alpha(gram: &Gram) -> Vec<f64> {
let k = gram.k();
    let mean = vec![1.0 / k as f64; k];
    let n: Vec<f64> = (0..k).map(|i| gram.get(i, i).sqrt()).collect();
    if k == 1 || n.contains(&0.0) {
        return mean;
    }
    // ⟨g_a, u_1 − u_j⟩ = G_a1/n_1 − G_aj/n_j.
    let proj = |a: usize, j: usize| gram.get(a, 0) / n[0] - gram.get(a, j) / n[j];
    let m = k - 1;
    let du = DMatrix::from_fn(m, m, |i, j| proj(0, j + 1) - proj(i + 1, j + 1));
    let rhs = DVector::from_fn(m, |j, _| proj(0, j + 1));
    // α_{2..K} (a row vector) solves α (D Uᵀ) = g_1 Uᵀ, i.e. (D Uᵀ)ᵀ αᵀ = (g_1 Uᵀ)ᵀ.
    let svd = du.transpose().svd(true, true);
    let (max, min) = (svd.singular_values.max(), svd.singular_values.min());
    if min.partial_cmp(&(SINGULAR * max)) != Some(std::cmp::Ordering::Greater) {
        return mean;
    }
    let Ok(tail) = svd.solve(&rhs, 0.0) else {
        return mean;
    };
    let mut alpha = Vec::with_capacity(k);
    alpha.push(1.0 - tail.sum());
    alpha.extend(tail.iter());
    if alpha.iter().all(|a| a.is_finite()) {
        alpha
    } else {
        mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StepInput;

    /// The defining property on random rows: the combined gradient's projections onto every
    /// unit task gradient are equal, and Σ α = 1 (checked on the rows, not the Gram matrix).
    #[test]
    fn projections_onto_every_task_direction_are_equal() {
        let rows = [
            vec![1.0f32, 0.3, -0.2, 0.5],
            vec![-0.4, 2.0, 0.1, 0.0],
            vec![0.2, -0.5, 0.7, 1.5],
            vec![0.9, 0.9, 0.9, -3.0],
        ];
        let mut m = ImtlGConfig::default().build(4).unwrap();
        let gram = Gram::from_rows(&rows);
        let u = m.step(&StepInput::new(0, &[1.0; 4], Some(&gram))).unwrap();
        let a = u.coefficients().unwrap();
        assert!((a.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let g: Vec<f64> = (0..4)
            .map(|x| (0..4).map(|k| a[k] * f64::from(rows[k][x])).sum())
            .collect();
        let proj: Vec<f64> = rows
            .iter()
            .map(|r| {
                let r: Vec<f64> = r.iter().map(|&x| f64::from(x)).collect();
                let n = r.iter().map(|x| x * x).sum::<f64>().sqrt();
                g.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>() / n
            })
            .collect();
        for p in &proj {
            assert!((p - proj[0]).abs() < 1e-9 * proj[0].abs(), "{proj:?}");
        }
        assert!(proj[0] > 0.0);
    }

    /// Golden value by hand: g₁ = (1, 0), g₂ = (0, 2): u = e₁, e₂; equal projections of
    /// α₁g₁ + α₂g₂ = (α₁, 2α₂) need α₁ = 2α₂, so α = (⅔, ⅓).
    #[test]
    fn orthogonal_pair_by_hand() {
        let mut m = ImtlGConfig::default().build(2).unwrap();
        let gram = Gram::from_rows(&[vec![1.0f32, 0.0], vec![0.0, 2.0]]);
        let u = m
            .step(&StepInput::new(0, &[1.0, 1.0], Some(&gram)))
            .unwrap();
        let a = u.coefficients().unwrap();
        assert!((a[0] - 2.0 / 3.0).abs() < 1e-12 && (a[1] - 1.0 / 3.0).abs() < 1e-12);
    }
}
