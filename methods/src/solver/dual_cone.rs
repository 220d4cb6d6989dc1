//! Projection onto the dual cone of the task gradients, in weight space.
//!
//! For the rows g_k of a Jacobian J and weights u, the projection of Jᵀu onto the dual cone
//! {x : J x ≥ 0} (every task improves) is Jᵀv with v = argmin_{v ≥ u} vᵀGv, G = J Jᵀ the Gram
//! matrix (TorchJD's weight-space form, Quinton & Rey, 2024). This is a non-negative least
//! squares problem in x = v − u: with G = AᵀA it is min ‖A x + A u‖², x ≥ 0, which we solve
//! with the Lawson–Hanson active-set algorithm (1974) written on G alone: the gradient of
//! ½‖Ax + Au‖² is G(x + u), and each passive-set subproblem G_PP z_P = −(Gu)_P is solved with
//! a pseudo-inverse, so a singular G (duplicated or dependent gradients) is fine: the
//! right-hand side always lies in the range of G_PP.
//!
//! G is scaled to max |entry| 1 first (the answer does not depend on the scale). The loop ends
//! when every inactive coordinate's gradient is ≥ −1e-12 (KKT to rounding), after at most 3K
//! outer steps.

use nalgebra::{DMatrix, DVector};

use crate::Gram;

/// KKT tolerance on the unit-scaled problem.
const TOL: f64 = 1e-12;

/// v = argmin_{v ≥ u} vᵀGv for one weight vector `u` (length K).
pub fn project(gram: &Gram, u: &[f64]) -> Vec<f64> {
    let k = gram.k();
    let scale = gram.max_abs();
    if scale == 0.0 || !scale.is_finite() {
        return u.to_vec();
    }
    let g = DMatrix::from_fn(k, k, |i, j| gram.get(i, j) / scale);
    let u = DVector::from_column_slice(u);
    let gu = &g * &u;
    let mut x = DVector::<f64>::zeros(k);
    let mut passive = vec![false; k];
    // Descent direction of the objective: w = −G(x + u).
    let grad = |x: &DVector<f64>| -(&gu + &g * x);
    for _ in 0..3 * k {
        let w = grad(&x);
        let Some(j) = (0..k)
            .filter(|&i| !passive[i] && w[i] > TOL)
            .max_by(|&a, &b| w[a].total_cmp(&w[b]))
        else {
            break;
        };
        passive[j] = true;
        loop {
            let z = passive_solution(&g, &gu, &passive);
            let blocking: Vec<usize> = (0..k).filter(|&i| passive[i] && z[i] <= 0.0).collect();
            if blocking.is_empty() {
                x = z;
                break;
            }
            let alpha = blocking
                .iter()
                .map(|&i| x[i] / (x[i] - z[i]))
                .fold(f64::INFINITY, f64::min);
            x = &x + alpha * (&z - &x);
            for i in 0..k {
                if passive[i] && x[i] <= TOL * x.amax().max(1.0) {
                    passive[i] = false;
                    x[i] = 0.0;
                }
            }
            if !passive.iter().any(|&p| p) {
                break;
            }
        }
    }
    (0..k).map(|i| u[i] + x[i].max(0.0)).collect()
}

/// The minimiser over the passive coordinates (the others held at 0): the minimum-norm
/// solution of G_PP z_P = −(Gu)_P.
fn passive_solution(g: &DMatrix<f64>, gu: &DVector<f64>, passive: &[bool]) -> DVector<f64> {
    let idx: Vec<usize> = (0..passive.len()).filter(|&i| passive[i]).collect();
    let n = idx.len();
    let gpp = DMatrix::from_fn(n, n, |a, b| g[(idx[a], idx[b])]);
    let rhs = DVector::from_fn(n, |a, _| -gu[idx[a]]);
    let svd = gpp.svd(true, true);
    let eps = 1e-12 * svd.singular_values.max();
    let zp = svd.solve(&rhs, eps).unwrap_or_else(|_| DVector::zeros(n));
    let mut z = DVector::zeros(passive.len());
    for (a, &i) in idx.iter().enumerate() {
        z[i] = zp[a];
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    /// KKT of the projection on random K = 6 problems in D = 4 (rank-deficient G): v ≥ u,
    /// Gv ≥ 0 to rounding, and (v − u)_i (Gv)_i = 0.
    #[test]
    fn projections_satisfy_kkt() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            ((seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        for _ in 0..50 {
            let rows: Vec<Vec<f32>> = (0..6)
                .map(|_| (0..4).map(|_| next() as f32).collect())
                .collect();
            let gram = Gram::from_rows(&rows);
            let u: Vec<f64> = (0..6).map(|_| next().abs()).collect();
            let v = project(&gram, &u);
            let scale = gram.max_abs();
            for i in 0..6 {
                let gv: f64 = (0..6).map(|j| gram.get(i, j) * v[j]).sum();
                assert!(v[i] >= u[i], "{v:?} {u:?}");
                assert!(gv >= -1e-9 * scale, "{i}: {gv}");
                assert!(((v[i] - u[i]) * gv).abs() < 1e-9 * scale, "{i}: {gv}");
            }
        }
    }
}
