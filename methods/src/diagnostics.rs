//! Gradient diagnostics of one step, from the Gram matrix M = G Gᵀ alone.
//!
//! The multi-task-optimisation metrics that AutoScale weighs (DESIGN.md §4) and that reports plot
//! next to the weights, for K task gradients g_k:
//! - per-task norms ‖g_k‖ = √M_kk;
//! - pairwise cosine similarity cos(i, j) = M_ij / (‖g_i‖ ‖g_j‖), clamped to [−1, 1];
//! - pairwise gradient magnitude similarity GMS(i, j) = 2‖g_i‖‖g_j‖ / (‖g_i‖² + ‖g_j‖²) ∈ [0, 1]
//!   (1 for equal norms) and its mean over the pairs i < j;
//! - the condition number of G, σ_max / σ_min = √(λ_max / λ_min) from the eigenvalues of M
//!   (cyclic Jacobi, exact to rounding for the K ≤ ~128 used here; kept rather than nalgebra's
//!   `SymmetricEigen`, which agrees to 1e-14 of λ_max but bit for bit on only 8% of the
//!   eigenvalues of random Gram matrices: the condition numbers in records would move at
//!   rounding level, and records must stay byte-identical);
//! - the conflict rate, the fraction of pairs i < j with cos(i, j) < 0.
//!
//! Conventions, where the formulas have no value:
//! - A **zero gradient** is one with M_kk ≤ 0 (exactly zero up to the Gram's rounding). Its
//!   cosine with anything, itself included, is 0: it neither agrees nor conflicts. Its GMS is 0
//!   with a non-zero gradient (the formula's limit) and 1 with another zero gradient (equal
//!   magnitudes). The diagonals are cos(i, i) = 1 (0 for a zero gradient) and GMS(i, i) = 1.
//! - The **condition number** is `None` when G is rank-deficient: λ_min ≤ 1e-12 · λ_max
//!   ([`RANK_TOL`]), including all-zero gradients, any zero gradient and K > D. K = 1 gives
//!   `Some(1.0)` for a non-zero gradient.
//! - With **K = 1** there are no pairs: `gms_mean` is 1 and `conflict_rate` 0.
//! - A Gram matrix with non-finite entries gives NaN in the statistics that read them and a
//!   `None` condition number; callers treat such a step as diverged before asking.
//!
//! Everything is invariant to scaling all gradients by one c > 0 except the norms, which scale by
//! c; per-task scaling changes only the norms, GMS and the condition number.
//!
//! ```
//! use mtl_methods::{Diagnostics, Gram};
//! // g1 = (1, 0), g2 = (0, 2): orthogonal, norms 1 and 2.
//! let d = Diagnostics::from_gram(&Gram::from_rows(&[vec![1.0f32, 0.0], vec![0.0, 2.0]]));
//! assert_eq!(d.norms, vec![1.0, 2.0]);
//! assert_eq!(d.cosine[0][1], 0.0);
//! assert!((d.gms_mean - 0.8).abs() < 1e-12); // 2·1·2 / (1 + 4)
//! assert!((d.condition_number.unwrap() - 2.0).abs() < 1e-12);
//! assert_eq!(d.conflict_rate, 0.0);
//! ```

use serde::{Deserialize, Serialize};

use crate::Gram;

/// G counts as rank-deficient when λ_min(M) ≤ `RANK_TOL` · λ_max(M) (condition number > 1e6).
pub const RANK_TOL: f64 = 1e-12;

/// Most Jacobi sweeps; cyclic Jacobi converges quadratically, K = 128 needs about ten.
const MAX_SWEEPS: usize = 64;

/// Gradient diagnostics of one step (see the module docs for the definitions and conventions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// ‖g_k‖, task order.
    pub norms: Vec<f64>,
    /// K×K cosine similarities, symmetric, in [−1, 1].
    pub cosine: Vec<Vec<f64>>,
    /// Mean GMS over the pairs i < j; 1 for K = 1.
    pub gms_mean: f64,
    /// K×K gradient magnitude similarities, symmetric, in [0, 1], ones on the diagonal.
    pub gms: Vec<Vec<f64>>,
    /// σ_max / σ_min of G; `None` when G is rank-deficient.
    pub condition_number: Option<f64>,
    /// Fraction of pairs i < j with a negative cosine; 0 for K = 1.
    pub conflict_rate: f64,
}

impl Diagnostics {
    /// The diagnostics of the gradients whose Gram matrix is `gram`. O(K³) for the eigenvalues.
    pub fn from_gram(gram: &Gram) -> Self {
        let k = gram.k();
        let norms = gram.norms();
        let mut cosine = vec![vec![0.0; k]; k];
        let mut gms = vec![vec![1.0; k]; k];
        let (mut gms_sum, mut conflicts) = (0.0, 0usize);
        for i in 0..k {
            cosine[i][i] = if norms[i] > 0.0 { 1.0 } else { 0.0 };
            for j in (i + 1)..k {
                let c = cosine_of(gram.get(i, j), norms[i], norms[j]);
                let m = magnitude_similarity(norms[i], norms[j]);
                (cosine[i][j], cosine[j][i]) = (c, c);
                (gms[i][j], gms[j][i]) = (m, m);
                gms_sum += m;
                conflicts += usize::from(c < 0.0);
            }
        }
        let pairs = k * k.saturating_sub(1) / 2;
        let (gms_mean, conflict_rate) = if pairs == 0 {
            (1.0, 0.0)
        } else {
            (gms_sum / pairs as f64, conflicts as f64 / pairs as f64)
        };
        Self {
            condition_number: condition_number(gram),
            norms,
            cosine,
            gms_mean,
            gms,
            conflict_rate,
        }
    }
}

/// M_ij / (‖g_i‖ ‖g_j‖) clamped to [−1, 1]; 0 when either gradient is zero. Divides twice so
/// that the product of two tiny norms cannot underflow.
fn cosine_of(mij: f64, ni: f64, nj: f64) -> f64 {
    if !(ni > 0.0 && nj > 0.0) {
        return if ni.is_nan() || nj.is_nan() || mij.is_nan() {
            f64::NAN
        } else {
            0.0
        };
    }
    let c = mij / ni / nj;
    if c.is_nan() {
        c
    } else {
        c.clamp(-1.0, 1.0)
    }
}

/// 2ab / (a² + b²) for norms a, b ≥ 0, as 2r / (1 + r²) with r = min / max so that nothing
/// overflows; 1 when both are zero.
fn magnitude_similarity(a: f64, b: f64) -> f64 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    if hi == 0.0 {
        return 1.0;
    }
    let r = lo / hi;
    2.0 * r / (1.0 + r * r)
}

/// √(λ_max / λ_min) of M, or `None` when λ_min ≤ `RANK_TOL` · λ_max or M is not finite.
fn condition_number(gram: &Gram) -> Option<f64> {
    let k = gram.k();
    let raw = gram.as_slice();
    if k == 0 || raw.iter().any(|v| !v.is_finite()) {
        return None;
    }
    // Symmetrise and scale to max |entry| = 1 (the ratio is scale-free; nothing overflows).
    let scale = gram.max_abs();
    if scale == 0.0 {
        return None;
    }
    let mut a = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..k {
            a[i * k + j] = 0.5 * (raw[i * k + j] / scale + raw[j * k + i] / scale);
        }
    }
    let eig = symmetric_eigenvalues(k, a);
    let max = eig.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = eig.iter().copied().fold(f64::INFINITY, f64::min);
    (max > 0.0 && min > RANK_TOL * max).then(|| (max / min).sqrt())
}

/// The eigenvalues of the symmetric row-major n×n matrix `a`, ascending, by cyclic Jacobi
/// rotations (Golub & Van Loan, "Matrix Computations", 4th ed., Algorithm 8.5.3): each
/// rotation zeroes one off-diagonal entry; sweeps stop when the off-diagonal mass is below
/// rounding (‖off(A)‖_F ≤ ε ‖A‖_F) or after `MAX_SWEEPS`.
fn symmetric_eigenvalues(n: usize, mut a: Vec<f64>) -> Vec<f64> {
    let frob = a.iter().map(|v| v * v).sum::<f64>().sqrt();
    for _ in 0..MAX_SWEEPS {
        let off: f64 = (0..n)
            .flat_map(|p| ((p + 1)..n).map(move |q| (p, q)))
            .map(|(p, q)| 2.0 * a[p * n + q] * a[p * n + q])
            .sum();
        if off.sqrt() <= f64::EPSILON * frob {
            break;
        }
        for p in 0..n {
            for q in (p + 1)..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // tan φ of the rotation that zeroes a_pq: the smaller root of t² + 2θt − 1 = 0.
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + theta.hypot(1.0));
                let c = 1.0 / t.hypot(1.0);
                let s = t * c;
                // A ← Jᵀ A J: columns p, q, then rows p, q.
                for r in 0..n {
                    let (arp, arq) = (a[r * n + p], a[r * n + q]);
                    a[r * n + p] = c * arp - s * arq;
                    a[r * n + q] = s * arp + c * arq;
                }
                for r in 0..n {
                    let (apr, aqr) = (a[p * n + r], a[q * n + r]);
                    a[p * n + r] = c * apr - s * aqr;
                    a[q * n + r] = s * apr + c * aqr;
                }
                a[p * n + q] = 0.0;
                a[q * n + p] = 0.0;
            }
        }
    }
    let mut eig: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    eig.sort_by(f64::total_cmp);
    eig
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(rows: &[Vec<f32>]) -> Diagnostics {
        Diagnostics::from_gram(&Gram::from_rows(rows))
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn orthogonal_gradients() {
        let d = diag(&[vec![1.0, 0.0], vec![0.0, 2.0]]);
        assert_eq!(d.norms, vec![1.0, 2.0]);
        assert_eq!(d.cosine, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert!(close(d.gms[0][1], 0.8, 1e-15) && d.gms[1][0] == d.gms[0][1]);
        assert_eq!((d.gms[0][0], d.gms[1][1]), (1.0, 1.0));
        assert!(close(d.gms_mean, 0.8, 1e-15));
        assert!(close(d.condition_number.unwrap(), 2.0, 1e-12));
        assert_eq!(d.conflict_rate, 0.0);
    }

    #[test]
    fn opposite_gradients_conflict_and_are_rank_one() {
        let d = diag(&[vec![1.0, -2.0, 2.0], vec![-1.0, 2.0, -2.0]]);
        assert_eq!(d.norms, vec![3.0, 3.0]);
        assert_eq!(d.cosine[0][1], -1.0);
        assert_eq!(d.gms_mean, 1.0);
        assert_eq!(d.conflict_rate, 1.0);
        assert_eq!(d.condition_number, None);
    }

    #[test]
    fn scaled_copies_agree_but_differ_in_magnitude() {
        // g and 3g: cos 1, GMS = 2·3 / (1 + 9) = 0.6.
        let d = diag(&[vec![1.0, 2.0], vec![3.0, 6.0]]);
        assert!(close(d.cosine[0][1], 1.0, 1e-15));
        assert!(close(d.gms_mean, 0.6, 1e-15));
        assert_eq!(d.conflict_rate, 0.0);
        assert_eq!(d.condition_number, None);
    }

    #[test]
    fn three_tasks_conflict_rate_counts_pairs() {
        // g1 = (1, 0), g2 = (−1, 1), g3 = (0, 1): cos(1,2) < 0, cos(1,3) = 0, cos(2,3) > 0.
        let d = diag(&[vec![1.0, 0.0], vec![-1.0, 1.0], vec![0.0, 1.0]]);
        assert!(close(d.cosine[0][1], -(0.5f64.sqrt()), 1e-15));
        assert_eq!(d.cosine[0][2], 0.0);
        assert!(close(d.conflict_rate, 1.0 / 3.0, 1e-15));
        // K = 3 > D = 2: rank-deficient.
        assert_eq!(d.condition_number, None);
    }

    #[test]
    fn single_task_has_no_pairs() {
        let d = diag(&[vec![3.0, 4.0]]);
        assert_eq!(d.norms, vec![5.0]);
        assert_eq!(
            (d.cosine.clone(), d.gms.clone()),
            (vec![vec![1.0]], vec![vec![1.0]])
        );
        assert_eq!((d.gms_mean, d.conflict_rate), (1.0, 0.0));
        assert_eq!(d.condition_number, Some(1.0));
        assert_eq!(diag(&[vec![0.0, 0.0]]).condition_number, None);
    }

    #[test]
    fn zero_gradients_follow_the_documented_conventions() {
        let d = diag(&[vec![0.0, 0.0], vec![1.0, 0.0], vec![0.0, 0.0]]);
        assert_eq!(d.norms, vec![0.0, 1.0, 0.0]);
        assert_eq!(d.cosine[0], vec![0.0, 0.0, 0.0]);
        assert_eq!(d.cosine[1][1], 1.0);
        assert_eq!(d.gms[0][1], 0.0); // zero vs non-zero
        assert_eq!(d.gms[0][2], 1.0); // both zero
        assert!(close(d.gms_mean, 1.0 / 3.0, 1e-15));
        assert_eq!(d.conflict_rate, 0.0);
        assert_eq!(d.condition_number, None);
        let all_zero = diag(&vec![vec![0.0; 3]; 4]);
        assert_eq!((all_zero.gms_mean, all_zero.conflict_rate), (1.0, 0.0));
        assert_eq!(all_zero.condition_number, None);
    }

    #[test]
    fn eigenvalues_match_the_two_by_two_closed_form() {
        // [[a, b], [b, c]]: λ = (a + c)/2 ± √(((a − c)/2)² + b²).
        for (a, b, c) in [
            (2.0, 1.0, 3.0),
            (1.0, 0.0, 4.0),
            (5.0, -2.0, 5.0),
            (1e-3, 3e-4, 2.0),
        ] {
            let eig = symmetric_eigenvalues(2, vec![a, b, b, c]);
            let (mid, rad) = ((a + c) / 2.0, (((a - c) / 2.0f64).powi(2) + b * b).sqrt());
            assert!(close(eig[0], mid - rad, 1e-14), "{eig:?}");
            assert!(close(eig[1], mid + rad, 1e-14), "{eig:?}");
        }
    }

    #[test]
    fn eigenvalues_keep_trace_and_frobenius_norm() {
        // A 6×6 Gram of fixed, non-trivial rows: Σλ = tr M and Σλ² = ‖M‖_F².
        let rows: Vec<Vec<f32>> = (0..6)
            .map(|i| {
                (0..9)
                    .map(|j| ((i * 7 + j * 3) % 11) as f32 - 5.0)
                    .collect()
            })
            .collect();
        let gram = Gram::from_rows(&rows);
        let eig = symmetric_eigenvalues(6, gram.as_slice().to_vec());
        let trace: f64 = (0..6).map(|i| gram.get(i, i)).sum();
        let frob2: f64 = gram.as_slice().iter().map(|v| v * v).sum();
        assert!(close(eig.iter().sum(), trace, 1e-12), "{eig:?}");
        assert!(
            close(eig.iter().map(|l| l * l).sum(), frob2, 1e-12),
            "{eig:?}"
        );
        assert!(eig.windows(2).all(|w| w[0] <= w[1]));
        // A diagonal matrix is its own spectrum.
        let eig = symmetric_eigenvalues(3, vec![3.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 2.0]);
        assert_eq!(eig, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn condition_number_of_a_rotated_spectrum() {
        // M = H D H with the Householder reflection H = I − 2vvᵀ/‖v‖² and D = diag(1, …, 20):
        // a dense matrix whose condition number of G is √(20 / 1).
        let n = 20;
        let v: Vec<f64> = (0..n)
            .map(|i| 1.0 + (i % 3) as f64 - 0.1 * i as f64)
            .collect();
        let vv: f64 = v.iter().map(|x| x * x).sum();
        let h = |i: usize, j: usize| f64::from(u8::from(i == j)) - 2.0 * v[i] * v[j] / vv;
        let data: Vec<f64> = (0..n * n)
            .map(|idx| {
                let (i, j) = (idx / n, idx % n);
                (0..n).map(|m| h(i, m) * (m + 1) as f64 * h(m, j)).sum()
            })
            .collect();
        let gram = Gram::from_matrix(n, data).unwrap();
        let cond = Diagnostics::from_gram(&gram).condition_number.unwrap();
        assert!(close(cond, 20f64.sqrt(), 1e-12), "{cond}");
    }

    #[test]
    fn common_scale_changes_only_the_norms() {
        let rows = vec![
            vec![1.0f32, 0.5, -0.2],
            vec![-0.3, 1.0, 0.4],
            vec![0.2, 0.1, 2.0],
        ];
        let base = diag(&rows);
        for s in [1e-10f32, 1e15] {
            let d = diag(
                &rows
                    .iter()
                    .map(|r| r.iter().map(|x| x * s).collect())
                    .collect::<Vec<_>>(),
            );
            for (a, b) in d.norms.iter().zip(&base.norms) {
                assert!(close(a / f64::from(s), *b, 1e-6), "{s}");
            }
            for (ra, rb) in d.cosine.iter().zip(&base.cosine) {
                assert!(ra.iter().zip(rb).all(|(a, b)| close(*a, *b, 1e-6)), "{s}");
            }
            assert!(close(d.gms_mean, base.gms_mean, 1e-6));
            assert!(close(
                d.condition_number.unwrap(),
                base.condition_number.unwrap(),
                1e-6
            ));
        }
    }

    #[test]
    fn serde_round_trip_with_a_missing_condition_number() {
        let d = diag(&[vec![1.0, 0.0], vec![2.0, 0.0]]);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["condition_number"], serde_json::Value::Null);
        assert_eq!(serde_json::from_value::<Diagnostics>(json).unwrap(), d);
    }
}
