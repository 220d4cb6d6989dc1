//! The min-norm point of the convex hull of K gradients, from their Gram matrix alone.
//!
//! Solves λ* = argmin_{λ ∈ Δ} λᵀMλ = argmin_{λ ∈ Δ} ‖Σ_k λ_k g_k‖², where Δ is the probability
//! simplex and M = G Gᵀ the Gram matrix of the gradients g_k.
//!
//! Algorithm:
//! - K = 1: λ = (1).
//! - K = 2: closed form λ_1 = clamp((M₂₂ − M₁₂) / (M₁₁ + M₂₂ − 2M₁₂), 0, 1) ([`two_task_weight`]),
//!   as in Sener & Koltun (NeurIPS 2018, "Multi-Task Learning as Multi-Objective Optimization",
//!   <https://arxiv.org/abs/1810.04650>, Algorithm 1).
//! - K ≥ 3: **exactly**, with Wolfe's min-norm-point algorithm (an active-set method; see
//!   [`wolfe`]). It stops when the Frank–Wolfe duality gap λᵀMλ − min_i (Mλ)_i is
//!   below 1e-12 · max_k ‖g_k‖², which bounds λᵀMλ − optimum by twice that; the tests check
//!   the answer against an independent interior-point QP (`clarabel`) for K up to 128.
//!
//! Where we differ from the reference code, on purpose:
//! - **Exact, not Frank–Wolfe.** Sener & Koltun's Algorithm 2 (and `find_min_norm_element_FW`
//!   in their public code) runs at most 250 Frank–Wolfe steps and stops when one moves λ by
//!   less than 1e-5 (L1). On conflicting gradients that often stops early: λᵀMλ above the
//!   optimum by up to 1e-4 · max_k ‖g_k‖², a tenth of the optimum. This crate used that loop
//!   (with away steps) until the exact solver replaced it.
//! - The closed form clamps to exactly 0 or 1; the reference returns 0.001 / 0.999 there, which
//!   keeps every task slightly active. For K = 2, [`MinNormConfig::min_weight`] (default 0)
//!   restores it as an option: the weight is clamped to [`min_weight`, 1 − `min_weight`], so
//!   `min_weight = 0.001` gives the reference's answer at a vertex. (The reference changes only
//!   the vertex cases; a clamp also lifts an interior weight below 0.001 to 0.001, a difference
//!   of less than 0.001 in λ.) K ≥ 3 is not affected.
//! - A segment whose end points coincide (denominator ≈ 0 relative to the diagonal) is
//!   degenerate: the K = 2 closed form answers (½, ½).
//! - M is symmetrised and divided by its largest absolute entry before solving, so the answer
//!   does not depend on the gradients' scale (1e-8 or 1e8 alike) and nothing overflows; the
//!   reported norm is scaled back. The result is renormalised onto the simplex.
//! - A zero Gram matrix (all gradients zero: every λ is optimal) gives uniform weights.
//!
//! Ties (the optimum is not unique) are broken so that the answer does not depend on task
//! order wherever that is cheap, since the reference code's "first pair wins" is not
//! permutation-equivariant:
//! - **Uniform wins.** For K ≥ 3 the uniform point λ = 1/K replaces the solver's answer when
//!   its norm is no worse, up to [`TIE_TOL`] times the largest squared gradient norm: K
//!   identical gradients give λ = 1/K (not (1, 0, …)), and so do gradients that cancel in the
//!   mean, e.g. (g, −g, h, −h).
//! - **Duplicate tasks share.** After the solve, tasks whose gradients coincide
//!   (‖g_i − g_j‖² ≤ 1e-10 · max(‖g_i‖², ‖g_j‖²), the degenerate-segment test) split their total
//!   weight equally. The point Σ λ_k g_k does not move, and duplicated tasks get equal weights
//!   whatever their position: (g, g, h) gives λ_1 = λ_2.
//! - **Remaining ties**, still broken by index: several distinct optimal points of which the
//!   uniform point is not one, e.g. g_1 = −g_2 and g_3 = −2 g_4 (both pairs reach norm 0; the
//!   solver starts at the vertex of least norm, first index on ties), or a face of optimal points
//!   spanned by affinely dependent but distinct gradients. Swapping such tasks can move the
//!   weights between equally good answers; the norm ‖Σ λ_k g_k‖ is the same either way.
//!
//! Cost: O(K·s) per major cycle of the active-set loop (s the support size) plus O(s²) per
//! point added or dropped; about as many cycles as the optimum has active tasks. K = 128
//! random gradients take about a millisecond (`cargo bench --bench min_norm`).

use super::wolfe;
use crate::Gram;

/// Default cap on the active-set loop's major cycles (points added), K ≥ 3. The loop needs
/// about as many as the optimum has active tasks, so any K ≤ 128 ends well before it.
pub const DEFAULT_MAX_ITER: usize = 250;

/// A segment is degenerate when ‖a − b‖² ≤ `DEGENERATE_REL` · max(‖a‖², ‖b‖²): its end points
/// coincide up to rounding, and any point on it has the same norm to about 1e-10 relative.
const DEGENERATE_REL: f64 = 1e-10;

/// The uniform point wins a tie with the solver's answer (K ≥ 3) when its squared norm exceeds
/// the answer's by at most `TIE_TOL` · max_k ‖g_k‖²: rounding in λᵀMλ is about K ε times that.
pub const TIE_TOL: f64 = 1e-12;

/// Settings of the solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinNormConfig {
    /// Most major cycles of the active-set loop (K ≥ 3); at least 1 for a useful solve.
    pub max_iter: usize,
    /// K = 2 only: the weights are clamped to [`min_weight`, 1 − `min_weight`]; in [0, ½].
    /// 0 (the default) keeps the exact min-norm point; 0.001 is the reference code's floor.
    pub min_weight: f64,
}

impl Default for MinNormConfig {
    fn default() -> Self {
        Self {
            max_iter: DEFAULT_MAX_ITER,
            min_weight: 0.0,
        }
    }
}

/// The solver's answer: the weights and how it got there.
#[derive(Debug, Clone, PartialEq)]
pub struct MinNormSolution {
    /// λ, task order: finite, non-negative, summing to 1.
    pub weights: Vec<f64>,
    /// Major cycles of the active-set loop (0 for K ≤ 2, which are solved in closed form).
    pub iterations: usize,
    /// False when the loop hit `max_iter` before its duality gap fell to 1e-10 · max_k ‖g_k‖²,
    /// or when the Gram matrix had non-finite entries (then the weights are uniform).
    pub converged: bool,
    /// λᵀMλ = ‖Σ λ_k g_k‖² in the units of the input Gram matrix (NaN for non-finite input).
    pub norm_sq: f64,
}

impl MinNormSolution {
    fn uniform(k: usize, converged: bool, norm_sq: f64) -> Self {
        Self {
            weights: vec![1.0 / k.max(1) as f64; k],
            iterations: 0,
            converged,
            norm_sq,
        }
    }
}

/// The weight λ_1 of the min-norm point of the segment between g_1 and g_2, given
/// M₁₁ = ‖g_1‖², M₁₂ = ⟨g_1, g_2⟩ and M₂₂ = ‖g_2‖²; λ_2 = 1 − λ_1.
///
/// λ_1 = clamp((M₂₂ − M₁₂) / (M₁₁ + M₂₂ − 2M₁₂), 0, 1). When g_1 and g_2 coincide (the
/// denominator ‖g_1 − g_2‖² is zero up to rounding) every point of the segment is optimal and
/// the answer is ½. Always finite and in [0, 1]; non-finite input gives ½.
///
/// ```
/// use mtl_methods::solver::two_task_weight;
/// // g1 = (1, 0), g2 = (0, 2): λ = (0.8, 0.2), the point (0.8, 0.4).
/// assert!((two_task_weight(1.0, 0.0, 4.0) - 0.8).abs() < 1e-12);
/// ```
pub fn two_task_weight(m11: f64, m12: f64, m22: f64) -> f64 {
    segment_min(m11, m12, m22).unwrap_or(0.5)
}

/// The weight on the first end point of the min-norm point of a segment, or `None` when the
/// segment is degenerate (or the input non-finite).
#[inline]
fn segment_min(aa: f64, ab: f64, bb: f64) -> Option<f64> {
    let denom = aa + bb - 2.0 * ab;
    let scale = aa.abs().max(bb.abs());
    if !(denom.is_finite() && scale.is_finite()) || denom <= DEGENERATE_REL * scale {
        return None;
    }
    let gamma = (bb - ab) / denom;
    // `clamp` keeps NaN; `denom > 0` and finite inputs rule it out, but be total anyway.
    Some(if gamma.is_nan() {
        0.5
    } else {
        gamma.clamp(0.0, 1.0)
    })
}

/// (γ, 1 − γ) with the smaller weight raised to at least `floor` (clamped into [0, ½]); the
/// raised weight is exactly `floor`, its partner 1 − `floor`.
fn floored_pair(gamma: f64, floor: f64) -> Vec<f64> {
    let floor = floor.clamp(0.0, 0.5);
    if gamma < floor {
        vec![floor, 1.0 - floor]
    } else if 1.0 - gamma < floor {
        vec![1.0 - floor, floor]
    } else {
        vec![gamma, 1.0 - gamma]
    }
}

/// ‖γ a + (1 − γ) b‖² from the 2×2 Gram of (a, b).
#[inline]
fn segment_cost(gamma: f64, aa: f64, ab: f64, bb: f64) -> f64 {
    let delta = 1.0 - gamma;
    gamma * gamma * aa + 2.0 * gamma * delta * ab + delta * delta * bb
}

/// The min-norm point of the convex hull of the gradients whose Gram matrix is `gram`.
///
/// Total: for any finite `gram` the weights are finite, non-negative and sum to 1. A Gram
/// matrix with a non-finite entry gives uniform weights, `converged: false` and a NaN norm;
/// callers that must not hide diverged gradients check the input first. K = 0 gives empty
/// weights.
///
/// ```
/// use mtl_methods::solver::{min_norm, MinNormConfig};
/// use mtl_methods::Gram;
/// // g1 = (1, 0), g2 = (0, 2), g3 = (-1, 0): the hull contains the origin.
/// let gram = Gram::from_rows(&[vec![1.0f32, 0.0], vec![0.0, 2.0], vec![-1.0, 0.0]]);
/// let sol = min_norm(&gram, &MinNormConfig::default());
/// assert!(sol.norm_sq < 1e-12);
/// assert!((sol.weights[0] - 0.5).abs() < 1e-6 && sol.weights[1] < 1e-6);
/// ```
pub fn min_norm(gram: &Gram, config: &MinNormConfig) -> MinNormSolution {
    let k = gram.k();
    let raw = gram.as_slice();
    if k == 0 {
        return MinNormSolution {
            weights: Vec::new(),
            iterations: 0,
            converged: true,
            norm_sq: 0.0,
        };
    }
    if raw.iter().any(|v| !v.is_finite()) {
        return MinNormSolution::uniform(k, false, f64::NAN);
    }
    if k == 1 {
        return MinNormSolution {
            weights: vec![1.0],
            iterations: 0,
            converged: true,
            norm_sq: raw[0].max(0.0),
        };
    }
    let scale = gram.max_abs();
    if scale == 0.0 {
        return MinNormSolution::uniform(k, true, 0.0);
    }

    // Symmetrise and scale to max |entry| = 1, entry by entry so that nothing overflows. Multiply
    // by 1/scale where that is finite (a subnormal scale has none) and divide otherwise.
    let inv = 1.0 / scale;
    let unit = |v: f64| if inv.is_finite() { v * inv } else { v / scale };
    let mut a = vec![0.0; k * k];
    for i in 0..k {
        for j in i..k {
            let v = 0.5 * (unit(raw[i * k + j]) + unit(raw[j * k + i]));
            a[i * k + j] = v;
            a[j * k + i] = v;
        }
    }

    if k == 2 {
        let gamma = two_task_weight(a[0], a[1], a[3]);
        let weights = floored_pair(gamma, config.min_weight);
        let gamma = weights[0];
        let norm_sq = segment_cost(gamma, a[0], a[1], a[3]).max(0.0) * scale;
        return MinNormSolution {
            weights,
            iterations: 0,
            converged: true,
            norm_sq,
        };
    }

    let solved = wolfe::solve(&a, k, config.max_iter);
    let converged = solved.gap <= wolfe::ACCEPT_GAP;
    let mut weights = renormalise(solved.weights);
    // The uniform point instead, when it is no worse (`a` is scaled to max |entry| = 1, the
    // largest squared gradient norm, so `TIE_TOL` is relative to that).
    let uniform_cost = a.iter().sum::<f64>() / (k * k) as f64;
    if uniform_cost <= quadratic_form(&a, k, &weights) + TIE_TOL {
        weights = vec![1.0 / k as f64; k];
    }
    share_among_duplicates(&a, k, &mut weights);
    let weights = renormalise(weights);
    let norm_sq = quadratic_form(&a, k, &weights).max(0.0) * scale;
    MinNormSolution {
        weights,
        iterations: solved.iterations,
        converged,
        norm_sq,
    }
}

/// Splits the total weight of each group of coinciding gradients equally among its members
/// (‖g_i − g_j‖² ≤ `DEGENERATE_REL` · max(‖g_i‖², ‖g_j‖²), grouped with the lowest index of the
/// group), which leaves Σ λ_k g_k where it is. O(K²); allocates only when a group exists.
fn share_among_duplicates(a: &[f64], k: usize, lambda: &mut [f64]) {
    let coincide = |i: usize, j: usize| {
        let (aii, ajj) = (a[i * k + i], a[j * k + j]);
        aii + ajj - 2.0 * a[i * k + j] <= DEGENERATE_REL * aii.abs().max(ajj.abs())
    };
    // Tasks already placed in an earlier group; allocated at the first group found.
    let mut grouped: Vec<bool> = Vec::new();
    let free = |grouped: &[bool], j: usize| !grouped.get(j).copied().unwrap_or(false);
    for i in 0..k {
        if !free(&grouped, i) {
            continue;
        }
        let (mut n, mut total) = (1usize, lambda[i]);
        for (j, &lj) in lambda.iter().enumerate().skip(i + 1) {
            if free(&grouped, j) && coincide(i, j) {
                n += 1;
                total += lj;
            }
        }
        if n == 1 {
            continue;
        }
        if grouped.is_empty() {
            grouped = vec![false; k];
        }
        let share = total / n as f64;
        lambda[i] = share;
        let rest = lambda.iter_mut().zip(grouped.iter_mut()).enumerate();
        for (j, (lj, gj)) in rest.skip(i + 1) {
            if !*gj && coincide(i, j) {
                *lj = share;
                *gj = true;
            }
        }
    }
}

/// λᵀAλ for a symmetric row-major K×K `a`.
fn quadratic_form(a: &[f64], k: usize, lambda: &[f64]) -> f64 {
    lambda
        .iter()
        .enumerate()
        .filter(|(_, &li)| li != 0.0)
        .map(|(i, &li)| {
            let row = &a[i * k..(i + 1) * k];
            li * row.iter().zip(lambda).map(|(&x, &l)| x * l).sum::<f64>()
        })
        .sum()
}

/// Clamps at 0 and divides by the sum, so λ is on the simplex up to one rounding; a zero or
/// non-finite sum (impossible from the Frank–Wolfe loop) falls back to uniform.
fn renormalise(mut lambda: Vec<f64>) -> Vec<f64> {
    for l in &mut lambda {
        if !l.is_finite() || *l < 0.0 {
            *l = 0.0;
        }
    }
    let sum: f64 = lambda.iter().sum();
    if sum.is_finite() && sum > 0.0 {
        lambda.iter_mut().for_each(|l| *l /= sum);
    } else {
        let k = lambda.len() as f64;
        lambda.iter_mut().for_each(|l| *l = 1.0 / k);
    }
    lambda
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solve(rows: &[Vec<f32>]) -> MinNormSolution {
        min_norm(&Gram::from_rows(rows), &MinNormConfig::default())
    }

    /// Equal up to a few ulps (the active-set solve rounds in its linear algebra).
    fn assert_close(got: &[f64], want: &[f64]) {
        let close = got.iter().zip(want).all(|(a, b)| (a - b).abs() <= 1e-15);
        assert!(close && got.len() == want.len(), "{got:?} vs {want:?}");
    }

    fn assert_simplex(w: &[f64]) {
        assert!(w.iter().all(|x| x.is_finite() && *x >= 0.0), "{w:?}");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{w:?}");
    }

    #[test]
    fn two_tasks_orthogonal_unequal_norms() {
        // g1 = (1, 0), g2 = (0, 2): λ1 = (4 − 0) / (1 + 4) = 0.8, point (0.8, 0.4), norm² 0.8.
        let sol = solve(&[vec![1.0, 0.0], vec![0.0, 2.0]]);
        assert!((sol.weights[0] - 0.8).abs() < 1e-12, "{:?}", sol.weights);
        assert!((sol.weights[1] - 0.2).abs() < 1e-12, "{:?}", sol.weights);
        assert!((sol.norm_sq - 0.8).abs() < 1e-12, "{}", sol.norm_sq);
        assert!(sol.converged);
        assert_eq!(sol.iterations, 0);
    }

    #[test]
    fn two_tasks_identical_keeps_the_norm() {
        let sol = solve(&[vec![3.0, -4.0], vec![3.0, -4.0]]);
        assert_simplex(&sol.weights);
        assert!((sol.norm_sq - 25.0).abs() < 1e-9, "{}", sol.norm_sq);
        assert_eq!(sol.weights, vec![0.5, 0.5]);
    }

    #[test]
    fn two_tasks_opposite_equal_cancel() {
        let sol = solve(&[vec![1.0, 2.0], vec![-1.0, -2.0]]);
        assert_eq!(sol.weights, vec![0.5, 0.5]);
        assert!(sol.norm_sq.abs() < 1e-12, "{}", sol.norm_sq);
    }

    #[test]
    fn two_tasks_clamp_to_a_vertex() {
        // g1 = (1, 0), g2 = (2, 1): ⟨g1, g2⟩ = 2 ≥ ‖g1‖² = 1, so g1 itself is the min-norm point.
        let sol = solve(&[vec![1.0, 0.0], vec![2.0, 1.0]]);
        assert_eq!(sol.weights, vec![1.0, 0.0]);
        assert!((sol.norm_sq - 1.0).abs() < 1e-12);
        // Swapped: the weight goes to the second task.
        let sol = solve(&[vec![2.0, 1.0], vec![1.0, 0.0]]);
        assert_eq!(sol.weights, vec![0.0, 1.0]);
    }

    #[test]
    fn min_weight_floors_a_two_task_vertex() {
        // g1 = (1, 0), g2 = (2, 1): the unclamped weight of task 2 is 0.
        let floored = MinNormConfig {
            min_weight: 0.001,
            ..Default::default()
        };
        let gram = Gram::from_rows(&[vec![1.0f32, 0.0], vec![2.0, 1.0]]);
        let sol = min_norm(&gram, &floored);
        assert_eq!(sol.weights, vec![0.999, 0.001]);
        // ‖0.999 g1 + 0.001 g2‖² = 0.999² + 2·0.999·0.001·2 + 0.001²·5.
        let want = 0.999f64.powi(2) + 4.0 * 0.999 * 0.001 + 5.0 * 0.001f64.powi(2);
        assert!((sol.norm_sq - want).abs() < 1e-12, "{}", sol.norm_sq);
        let swapped = Gram::from_rows(&[vec![2.0f32, 1.0], vec![1.0, 0.0]]);
        assert_eq!(min_norm(&swapped, &floored).weights, vec![0.001, 0.999]);
        // Interior points, coinciding gradients and K ≥ 3 are left alone.
        let interior = Gram::from_rows(&[vec![1.0f32, 0.0], vec![0.0, 2.0]]);
        assert!((min_norm(&interior, &floored).weights[0] - 0.8).abs() < 1e-12);
        let same = Gram::from_rows(&[vec![3.0f32, -4.0], vec![3.0, -4.0]]);
        assert_eq!(min_norm(&same, &floored).weights, vec![0.5, 0.5]);
        let three = Gram::from_rows(&[vec![1.0f32, 0.0], vec![0.0, 5.0], vec![-1.0, 0.0]]);
        assert_close(&min_norm(&three, &floored).weights, &[0.5, 0.0, 0.5]);
    }

    #[test]
    fn two_task_weight_closed_form_values() {
        assert!((two_task_weight(1.0, 0.0, 4.0) - 0.8).abs() < 1e-15);
        assert!((two_task_weight(4.0, 0.0, 1.0) - 0.2).abs() < 1e-15);
        // Unit vectors at any angle: ½.
        assert!((two_task_weight(1.0, 0.3, 1.0) - 0.5).abs() < 1e-15);
        assert!((two_task_weight(1.0, -0.9, 1.0) - 0.5).abs() < 1e-15);
        // Degenerate and non-finite input.
        assert_eq!(two_task_weight(0.0, 0.0, 0.0), 0.5);
        assert_eq!(two_task_weight(2.0, 2.0, 2.0), 0.5);
        assert_eq!(two_task_weight(f64::NAN, 0.0, 1.0), 0.5);
        assert_eq!(two_task_weight(f64::INFINITY, 0.0, 1.0), 0.5);
    }

    #[test]
    fn single_task_is_one() {
        let sol = solve(&[vec![0.0, 7.0]]);
        assert_eq!(sol.weights, vec![1.0]);
        assert_eq!(sol.norm_sq, 49.0);
    }

    #[test]
    fn zero_gradients_give_uniform() {
        for k in [2, 3, 7] {
            let sol = solve(&vec![vec![0.0; 4]; k]);
            assert_eq!(sol.weights, vec![1.0 / k as f64; k]);
            assert_eq!(sol.norm_sq, 0.0);
            assert!(sol.converged);
        }
    }

    #[test]
    fn empty_and_non_finite_inputs() {
        let empty = min_norm(
            &Gram::from_matrix(0, vec![]).unwrap(),
            &MinNormConfig::default(),
        );
        assert!(empty.weights.is_empty());
        let nan =
            Gram::from_matrix(3, vec![1.0, 0.0, 0.0, 0.0, f64::NAN, 0.0, 0.0, 0.0, 1.0]).unwrap();
        let sol = min_norm(&nan, &MinNormConfig::default());
        assert_eq!(sol.weights, vec![1.0 / 3.0; 3]);
        assert!(!sol.converged && sol.norm_sq.is_nan());
    }

    #[test]
    fn three_tasks_known_solution() {
        // e1, e2, e3 in R³: the min-norm point is the centroid, norm² 1/3.
        let sol = solve(&[
            vec![1.0, 0.0, 0.0],
            vec![0.0, 1.0, 0.0],
            vec![0.0, 0.0, 1.0],
        ]);
        assert_simplex(&sol.weights);
        for w in &sol.weights {
            assert!((w - 1.0 / 3.0).abs() < 1e-4, "{:?}", sol.weights);
        }
        assert!((sol.norm_sq - 1.0 / 3.0).abs() < 1e-6, "{}", sol.norm_sq);
        assert!(sol.iterations >= 1);
    }

    #[test]
    fn three_tasks_opposite_pair_wins() {
        // g1 and g3 cancel; g2 is irrelevant.
        let sol = solve(&[vec![1.0, 0.0], vec![0.0, 5.0], vec![-1.0, 0.0]]);
        assert_close(&sol.weights, &[0.5, 0.0, 0.5]);
        assert!(sol.norm_sq < 1e-30, "{}", sol.norm_sq);
        assert!(sol.converged);
    }

    #[test]
    fn identical_gradients_give_uniform_weights() {
        let g = [0.6f32, -1.4, 0.3, 0.0];
        for k in [3, 4, 5, 16] {
            for s in [1e-10f32, 1.0, 1e15] {
                let rows: Vec<Vec<f32>> = vec![g.iter().map(|x| x * s).collect(); k];
                let sol = solve(&rows);
                assert!(sol.converged, "K={k} s={s}");
                for w in &sol.weights {
                    assert!(
                        (w - 1.0 / k as f64).abs() < 1e-15,
                        "K={k}: {:?}",
                        sol.weights
                    );
                }
                let norm_sq = rows[0].iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
                assert!((sol.norm_sq / norm_sq - 1.0).abs() < 1e-12, "K={k} s={s}");
            }
        }
    }

    #[test]
    fn uniform_point_wins_ties_with_the_best_pair() {
        // (g, −g, h, −h): the pairs {1, 2}, {3, 4} and the uniform point all reach 0.
        let sol = solve(&[
            vec![1.0, 2.0, 0.0],
            vec![-1.0, -2.0, 0.0],
            vec![0.0, 1.0, -3.0],
            vec![0.0, -1.0, 3.0],
        ]);
        assert_eq!(sol.weights, vec![0.25; 4]);
        assert_eq!(sol.norm_sq, 0.0);
    }

    #[test]
    fn duplicated_tasks_share_their_weight() {
        // g1 = g2 = (1, 0), g3 = (0, 1): the optimum is any λ with λ1 + λ2 = ½, λ3 = ½.
        let a = vec![1.0f32, 0.0];
        let b = vec![0.0f32, 1.0];
        for rows in [
            vec![a.clone(), a.clone(), b.clone()],
            vec![a.clone(), b.clone(), a.clone()],
            vec![b.clone(), a.clone(), a.clone()],
        ] {
            let sol = solve(&rows);
            for (w, row) in sol.weights.iter().zip(&rows) {
                let want = if *row == a { 0.25 } else { 0.5 };
                assert!((w - want).abs() < 1e-12, "{rows:?}: {:?}", sol.weights);
            }
            assert!((sol.norm_sq - 0.5).abs() < 1e-12);
        }
        // Two zero gradients next to a non-zero one share the whole weight.
        let sol = solve(&[vec![0.0, 0.0], vec![3.0, 1.0], vec![0.0, 0.0]]);
        assert_eq!(sol.weights, vec![0.5, 0.0, 0.5]);
    }

    #[test]
    fn scale_does_not_change_the_weights() {
        let rows = [
            vec![1.0f32, 0.2, 0.0],
            vec![-0.3, 1.0, 0.5],
            vec![0.1, -0.7, 1.2],
        ];
        let base = solve(&rows);
        for s in [1e-8f32, 1e-4, 1e4, 1e8] {
            let scaled: Vec<Vec<f32>> = rows
                .iter()
                .map(|r| r.iter().map(|x| x * s).collect())
                .collect();
            let sol = solve(&scaled);
            assert_simplex(&sol.weights);
            for (a, b) in sol.weights.iter().zip(&base.weights) {
                assert!(
                    (a - b).abs() < 1e-6,
                    "scale {s}: {:?} vs {:?}",
                    sol.weights,
                    base.weights
                );
            }
            let rel = sol.norm_sq / (base.norm_sq * f64::from(s) * f64::from(s));
            assert!((rel - 1.0).abs() < 1e-5, "scale {s}: {rel}");
        }
    }

    #[test]
    fn max_iter_caps_the_loop() {
        let rows: Vec<Vec<f32>> = (0..6)
            .map(|i| {
                (0..6)
                    .map(|j| if i == j { 1.0 + i as f32 } else { 0.1 })
                    .collect()
            })
            .collect();
        let sol = min_norm(
            &Gram::from_rows(&rows),
            &MinNormConfig {
                max_iter: 1,
                ..Default::default()
            },
        );
        assert_eq!(sol.iterations, 1);
        assert!(!sol.converged);
        assert_simplex(&sol.weights);
    }
}
