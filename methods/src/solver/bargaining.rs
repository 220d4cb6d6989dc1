//! The weights α > 0 with (G + εI)α = α^{−q} element-wise: Nash-MTL's bargaining solution
//! (q = 1) and FairGrad's α-fair allocations (q = 1/a).
//!
//! The equations are the stationarity conditions of the strictly convex
//! f(α) = ½αᵀ(G + εI)α − φ_q(α) on α > 0, with φ_1(α) = Σ log α_k and
//! φ_q(α) = Σ α_k^{1−q}/(1 − q) otherwise (φ_q'' = −q α^{−q−1} < 0), so damped Newton steps
//! with a positivity-keeping backtracking line search converge to machine precision (full
//! steps once the Newton decrement is below f's rounding).
//!
//! G is scaled to max |entry| 1 for the solve and α scaled back (by s^{−1/(1+q)} for a scale
//! s); the ridge ε = [`RIDGE`] on the unit-scaled matrix keeps a solution where the exact
//! equations have none (opposite gradients, Gv = 0 for some v ≥ 0), and moves α by about ε
//! relative where they have one. All-zero G gives the mean 1/K.

use nalgebra::{DMatrix, DVector};

use crate::Gram;

/// Ridge added to the diagonal of the unit-scaled Gram matrix.
pub const RIDGE: f64 = 1e-6;

/// The solution for exponent `q` > 0.
pub fn solve(gram: &Gram, q: f64) -> Vec<f64> {
    let k = gram.k();
    let scale = gram.max_abs();
    if scale == 0.0 || !scale.is_finite() {
        return vec![1.0 / k as f64; k];
    }
    let g = DMatrix::from_fn(k, k, |i, j| {
        gram.get(i, j) / scale + if i == j { RIDGE } else { 0.0 }
    });
    let phi = |a: &DVector<f64>| -> f64 {
        if q == 1.0 {
            a.iter().map(|x| x.ln()).sum()
        } else {
            a.iter().map(|x| x.powf(1.0 - q) / (1.0 - q)).sum()
        }
    };
    let f = |a: &DVector<f64>| 0.5 * a.dot(&(&g * a)) - phi(a);
    // Start where each task alone would be solved: G_kk α_k = α_k^{−q} over K tasks.
    let mut a = DVector::from_fn(k, |i, _| (k as f64 * g[(i, i)]).powf(-1.0 / (1.0 + q)));
    for _ in 0..200 {
        let grad = &g * &a - a.map(|x| x.powf(-q));
        let hess = &g + DMatrix::from_diagonal(&a.map(|x| q * x.powf(-q - 1.0)));
        let Some(chol) = hess.cholesky() else { break };
        let step = chol.solve(&grad);
        let decrement = grad.dot(&step);
        if decrement <= 1e-26 {
            break;
        }
        let f0 = f(&a);
        let mut t = 1.0;
        loop {
            let next = &a - t * &step;
            // Near the optimum the decrease is below f's rounding: take the full step there.
            let close = decrement <= 1e-10 * (1.0 + f0.abs());
            if next.iter().all(|x| *x > 0.0) && (close || f(&next) <= f0 - 0.25 * t * decrement) {
                a = next;
                break;
            }
            t *= 0.5;
            if t < 1e-20 {
                break;
            }
        }
        if t < 1e-20 {
            break;
        }
    }
    let back = scale.powf(-1.0 / (1.0 + q));
    a.iter().map(|x| x * back).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ridged equations to rounding, for both exponents, on a K = 4 example; the exact
    /// equations to the ridge's size.
    #[test]
    fn weights_solve_their_equations() {
        let rows = [
            vec![1.0f32, 0.3, -0.2, 0.5],
            vec![-0.4, 2.0, 0.1, 0.0],
            vec![0.2, -0.5, 0.7, 1.5],
            vec![0.9, 0.9, 0.9, -3.0],
        ];
        let gram = Gram::from_rows(&rows);
        let eps = RIDGE * gram.max_abs();
        for q in [1.0, 0.5, 2.0] {
            let a = solve(&gram, q);
            for i in 0..4 {
                let ga: f64 = (0..4).map(|j| gram.get(i, j) * a[j]).sum();
                let want = a[i].powf(-q);
                assert!((ga + eps * a[i] - want).abs() < 1e-12 * want, "q {q}, {i}");
                assert!((ga - want).abs() < 1e-4 * want, "q {q}, {i}");
            }
        }
    }
}
