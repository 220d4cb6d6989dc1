//! CAGrad: conflict-averse gradient descent, the update that best improves the worst task
//! within a ball around the mean gradient.
//!
//! Paper: B. Liu, X. Liu, X. Jin, P. Stone and Q. Liu, "Conflict-Averse Gradient Descent for
//! Multi-task Learning", NeurIPS 2021, <https://arxiv.org/abs/2110.14048>. With g_0 the mean
//! task gradient and c ∈ [0, 1), the dual problem is
//! min_{w ∈ Δ} F(w) = g_wᵀ g_0 + c‖g_0‖·‖g_w‖ (g_w = Σ w_k g_k), and the update is
//! d = g_0 + (c‖g_0‖ / ‖g_w‖) g_w, divided by 1 + c² as the authors' code does by default.
//!
//! How we solve the dual exactly: at the optimum w*, with t* = c‖g_0‖ / ‖g_w*‖, w* is also the
//! minimiser over the simplex of ‖g_w + g_0/t*‖², the min-norm point of the shifted gradients
//! g_k + g_0/t* (both problems are convex and their KKT conditions coincide: the partial
//! derivatives are g_k·(g_0 + t* g_w) up to a positive factor).
//! So the method bisects on log t for t·‖g_{w(t)}‖ = c‖g_0‖, each w(t) an exact min-norm solve
//! ([`min_norm`](fn@crate::solver::min_norm)) on the shifted Gram matrix G + (b1ᵀ + 1bᵀ)/t + ‖g_0‖²11ᵀ/t² with
//! b = G1/K. The authors' code runs SLSQP on F instead.
//!
//! Our reading:
//! - The answer is the combination c_k = (1/K + λ w_k) / (1 + c²) with λ = c‖g_0‖/‖g_w‖.
//! - g_0 = 0 gives c_k = 1/K / (1 + c²) (the update is 0 either way); a min-norm optimum with
//!   g_w = 0 adds nothing to g_0 (the authors' code divides by ‖g_w‖ + 1e-8).
//! - Heads receive their own task's gradient (`own`), as in the authors' code, which replaces
//!   only the shared parameters' gradient.
//! - `gradients`: `params` (the paper) or `representation`.
//!
//! Hyper-parameters: `c`, float in [0, 1), default 0.5 (LibMTL's and the authors' MTL default);
//! `gradients`. Cost per step: that of the chosen gradients plus about 100 small min-norm solves.

use serde::{Deserialize, Serialize};

use crate::combination::GramCombination;
use crate::method::{Method, MethodConfig, ParamDoc};
use crate::gradients::Gradients;
use crate::solver::{min_norm, MinNormConfig};
use crate::{Gram, Result};

/// Hyper-parameters of `cagrad`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaGradConfig {
    /// Radius factor c ∈ [0, 1); default 0.5.
    pub c: f64,
    /// Gradients w.r.t. `params` (default) or `representation`.
    pub gradients: Gradients,
}

impl Default for CaGradConfig {
    fn default() -> Self {
        Self {
            c: 0.5,
            gradients: Gradients::Params,
        }
    }
}

impl MethodConfig for CaGradConfig {
    fn params() -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "c",
                kind: "float in [0, 1)",
                help: "radius of the ball around the mean gradient, in units of its norm (0: the mean)",
            },
            Gradients::DOC,
        ]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(0.0..1.0).contains(&self.c) {
            return Err(format!(
                "field `c` must be in [0, 1), got {}; the default is 0.5",
                self.c
            ));
        }
        Ok(())
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        let c = self.c;
        GramCombination::boxed(
            "cagrad",
            num_tasks,
            self.gradients,
            Box::new(move |gram| combination(c, gram)),
        )
    }

    combination_declarations!();

    fn examples(_: usize) -> Vec<(String, serde_json::Value)> {
        let mut out = Gradients::examples();
        out.push(("c 0.2".to_owned(), serde_json::json!({"c": 0.2})));
        out.push(("c 0".to_owned(), serde_json::json!({"c": 0.0})));
        out
    }

    /// K = 2 by another route: w = (t, 1 − t), F(t) = t·(g₁ − g₂)·g₀ + const + c‖g₀‖√q(t),
    /// q(t) = ‖t g₁ + (1 − t) g₂‖², minimised by bisection on F′ over [0, 1] (convex F); when
    /// g₁ and g₂ coincide every t is optimal and the tasks share, t = ½.
    fn two_task_reference(
        &self,
        gram: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        let (a, b, d) = (gram.get(0, 0), gram.get(0, 1), gram.get(1, 1));
        let c = self.c;
        let rescale = 1.0 + c * c;
        let g0_norm = (0.25 * (a + 2.0 * b + d)).max(0.0).sqrt();
        if g0_norm == 0.0 {
            return Ok(vec![0.5 / rescale; 2]);
        }
        // g_k·g₀ = ½(G_k1 + G_k2).
        let slope = 0.5 * (a + b) - 0.5 * (b + d);
        let q = |t: f64| t * t * a + 2.0 * t * (1.0 - t) * b + (1.0 - t) * (1.0 - t) * d;
        let dq = |t: f64| 2.0 * t * a + 2.0 * (1.0 - 2.0 * t) * b - 2.0 * (1.0 - t) * d;
        let df = |t: f64| slope + c * g0_norm * dq(t) / (2.0 * q(t).max(f64::MIN_POSITIVE).sqrt());
        // Coinciding gradients: every w gives the same g_w; duplicates share, as in min-norm.
        let t = if a + d - 2.0 * b <= 1e-10 * a.max(d) {
            0.5
        } else if df(0.0) >= 0.0 {
            0.0
        } else if df(1.0) <= 0.0 {
            1.0
        } else {
            let (mut lo, mut hi) = (0.0, 1.0);
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                if df(mid) < 0.0 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            0.5 * (lo + hi)
        };
        let gw = q(t).max(0.0).sqrt();
        let lambda = if gw > 1e-12 * g0_norm {
            c * g0_norm / gw
        } else {
            0.0
        };
        Ok(vec![
            (0.5 + lambda * t) / rescale,
            (0.5 + lambda * (1.0 - t)) / rescale,
        ])
    }
}

/// The combination's coefficients for one Gram matrix with radius factor `c`.
fn combination(c: f64, gram: &Gram) -> Vec<f64> {
    let k = gram.k();
    let kf = k as f64;
    let rescale = 1.0 + c * c;
    let mean = vec![1.0 / kf / rescale; k];
    // Scale to max |entry| 1: w and λ do not change.
    let scale = gram.max_abs();
    if scale == 0.0 || c == 0.0 {
        return mean;
    }
    let g = |i: usize, j: usize| gram.get(i, j) / scale;
    // b_i = g_i·g₀ and ‖g₀‖².
    let b: Vec<f64> = (0..k)
        .map(|i| (0..k).map(|j| g(i, j)).sum::<f64>() / kf)
        .collect();
    let g0_sq = (b.iter().sum::<f64>() / kf).max(0.0);
    if g0_sq == 0.0 {
        return mean;
    }
    let target = c * g0_sq.sqrt();
    let solve = |t: f64| {
        let shifted: Vec<f64> = (0..k * k)
            .map(|x| {
                let (i, j) = (x / k, x % k);
                g(i, j) + (b[i] + b[j]) / t + g0_sq / (t * t)
            })
            .collect();
        let shifted = Gram::from_matrix(k, shifted).expect("K×K");
        let w = min_norm(&shifted, &MinNormConfig::default()).weights;
        let gw_sq: f64 = (0..k)
            .flat_map(|i| (0..k).map(move |j| (i, j)))
            .map(|(i, j)| w[i] * w[j] * g(i, j))
            .sum();
        (w, gw_sq.max(0.0).sqrt())
    };
    // Bisection on log t for t·‖g_w(t)‖ = c‖g₀‖.
    let (mut lo, mut hi) = (-40.0f64, 40.0f64);
    let (w_hi, gw_hi) = solve(hi.exp());
    let (w, gw) = if hi.exp() * gw_hi < target {
        (w_hi, gw_hi)
    } else {
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            let (_, gw) = solve(mid.exp());
            if mid.exp() * gw < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        solve((0.5 * (lo + hi)).exp())
    };
    let lambda = if gw > 1e-12 * g0_sq.sqrt() {
        target / gw
    } else {
        0.0
    };
    w.iter()
        .map(|wk| (1.0 / kf + lambda * wk) / rescale)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dual's optimum against a brute-force search over a fine simplex grid of K = 3 (an
    /// independent computation): no grid point has a lower F.
    #[test]
    fn dual_optimum_beats_a_grid_search() {
        let rows = [
            vec![1.0f32, 0.2, -0.3],
            vec![-0.9, 0.8, 0.1],
            vec![0.3, -0.7, 0.9],
        ];
        let gram = Gram::from_rows(&rows);
        let coeffs = combination(CaGradConfig::default().c, &gram);
        // Recover w from c_k = (1/3 + λ w_k)/(1 + c²): w ∝ c_k (1 + c²) − 1/3.
        let raw: Vec<f64> = coeffs.iter().map(|x| x * 1.25 - 1.0 / 3.0).collect();
        let sum: f64 = raw.iter().sum();
        let w: Vec<f64> = raw.iter().map(|x| x / sum).collect();
        let g = |i: usize, j: usize| gram.get(i, j);
        let b: Vec<f64> = (0..3)
            .map(|i| (0..3).map(|j| g(i, j)).sum::<f64>() / 3.0)
            .collect();
        let g0 = (b.iter().sum::<f64>() / 3.0).sqrt();
        let f = |w: &[f64]| {
            let lin: f64 = (0..3).map(|i| w[i] * b[i]).sum();
            let q: f64 = (0..9).map(|x| w[x / 3] * w[x % 3] * g(x / 3, x % 3)).sum();
            lin + 0.5 * g0 * q.max(0.0).sqrt()
        };
        let best = f(&w);
        let n = 300;
        for i in 0..=n {
            for j in 0..=n - i {
                let v = [
                    i as f64 / n as f64,
                    j as f64 / n as f64,
                    (n - i - j) as f64 / n as f64,
                ];
                assert!(f(&v) >= best - 1e-12, "{v:?}: {} < {best}", f(&v));
            }
        }
    }

    /// The update's worst-task improvement: with c → 0 it is the mean gradient.
    #[test]
    fn zero_radius_is_the_mean() {
        let gram = Gram::from_rows(&[vec![1.0f32, 0.0], vec![-0.5, 1.0]]);
        let coeffs = combination(0.0, &gram);
        assert_eq!(coeffs, [0.5, 0.5]);
    }
}
