//! The problem: K task vectors, the noise and the shared width, reduced to coordinates in
//! the span of the task vectors, where every subspace that matters lives.
//!
//! Normalised losses: ℓ̃_k(P) = 1 − ‖P t̂_k‖² with t̂_k = t_k / ‖t_k‖, the squared sine of the
//! angle between task k and the encoder's subspace (0 for a zero task vector). The raw loss
//! is L_k = σ² + ‖t_k‖² ℓ̃_k. Only the cosines between the tasks and q decide the normalised
//! geometry; the scales and σ only stretch and shift it. A subspace outside the span of the
//! task vectors is never better: its compression to the span has rank ≤ q and loses no
//! task's projection, so the analysis works in r = rank coordinates.

use nalgebra::{DMatrix, SymmetricEigen};

use crate::{Error, Result};

/// Most tasks the analysis takes (its grids grow like (steps)^(K−1)).
pub const MAX_TASKS: usize = 6;

/// Eigenvalues below this fraction of the largest count as zero when finding the rank.
const RANK_TOL: f64 = 1e-10;

/// A linear multi-task problem with optimal heads: task k's population loss for the encoder
/// subspace P (the row space of W ∈ R^{q×d}) is L_k(P) = σ² + ‖t_k‖² − t_kᵀ P t_k.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearProblem {
    /// The scaled task vectors t_k = s_k θ_k, one row of d numbers per task.
    pub task_vectors: Vec<Vec<f64>>,
    /// The noise standard deviation σ (each loss is at least σ²).
    pub noise: f64,
    /// The shared width q (dimension of the encoder's subspace).
    pub width: usize,
}

impl LinearProblem {
    /// Checks the shape and values: 1..=[`MAX_TASKS`] rows of equal length ≥ 1, finite
    /// entries, σ finite and ≥ 0, q ≥ 1.
    pub fn validate(&self) -> Result<()> {
        let bad = |message: String| Err(Error::InvalidProblem { message });
        let k = self.task_vectors.len();
        if !(1..=MAX_TASKS).contains(&k) {
            return bad(format!(
                "`task_vectors` has {k} rows; the analysis takes 1 to {MAX_TASKS} tasks"
            ));
        }
        let d = self.task_vectors[0].len();
        if d == 0 {
            return bad("`task_vectors` rows are empty; give d ≥ 1 numbers per task".into());
        }
        for (i, row) in self.task_vectors.iter().enumerate() {
            if row.len() != d {
                return bad(format!(
                    "`task_vectors` row {} has {} numbers but row 1 has {d}",
                    i + 1,
                    row.len()
                ));
            }
            if row.iter().any(|v| !v.is_finite()) {
                return bad(format!(
                    "`task_vectors` row {} has a non-finite entry",
                    i + 1
                ));
            }
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return bad(format!(
                "`noise` must be finite and ≥ 0, got {}",
                self.noise
            ));
        }
        if self.width == 0 {
            return bad("`width` must be ≥ 1".into());
        }
        Ok(())
    }

    /// The population losses L_k for the subspace spanned by `basis` (rows of d numbers,
    /// linearly independent, at most `width` of them; orthonormalised here).
    pub fn losses(&self, basis: &[Vec<f64>]) -> Result<Vec<f64>> {
        self.validate()?;
        let d = self.task_vectors[0].len();
        if basis.len() > self.width || basis.iter().any(|b| b.len() != d) {
            return Err(Error::InvalidProblem {
                message: format!(
                    "the subspace basis must be at most {} rows of {d} numbers",
                    self.width
                ),
            });
        }
        let ortho = orthonormal_rows(basis).ok_or_else(|| Error::InvalidProblem {
            message: "the subspace basis rows are linearly dependent".into(),
        })?;
        Ok(self
            .task_vectors
            .iter()
            .map(|t| {
                let kept: f64 = ortho.iter().map(|b| dot(b, t).powi(2)).sum();
                self.noise * self.noise + dot(t, t) - kept
            })
            .collect())
    }
}

/// The problem in coordinates of the span of the task vectors.
#[derive(Debug, Clone)]
pub(crate) struct Reduced {
    /// t̂_k in r orthonormal coordinates (the zero vector for a zero task).
    pub units: Vec<Vec<f64>>,
    /// ‖t̂_k‖² ∈ {0, 1}: the normalised loss of task k with nothing of it kept.
    pub worst: Vec<f64>,
    /// ‖t_k‖² (1 for a zero task, whose loss does not move): raw = σ² + scale · normalised.
    pub scale: Vec<f64>,
    /// σ².
    pub floor: f64,
    /// Rank r of the task vectors.
    pub rank: usize,
    /// Effective width min(q, r).
    pub width: usize,
}

impl Reduced {
    /// Reduces a validated problem.
    pub fn new(p: &LinearProblem) -> Self {
        let k = p.task_vectors.len();
        let norms: Vec<f64> = p.task_vectors.iter().map(|t| dot(t, t).sqrt()).collect();
        let unit = |i: usize| -> Vec<f64> {
            if norms[i] > 0.0 {
                p.task_vectors[i].iter().map(|v| v / norms[i]).collect()
            } else {
                p.task_vectors[i].clone()
            }
        };
        let hats: Vec<Vec<f64>> = (0..k).map(unit).collect();
        let mut gram = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..k {
                gram[i * k + j] = dot(&hats[i], &hats[j]);
            }
        }
        let (values, vectors) = eigen(&gram, k);
        let top = values.first().copied().unwrap_or(0.0);
        let rank = values.iter().filter(|&&v| v > RANK_TOL * top).count();
        // t̂_i · t̂_j = Σ_c μ_c V_ic V_jc: coordinates √μ_c V_ic.
        let units = (0..k)
            .map(|i| {
                (0..rank)
                    .map(|c| values[c].sqrt() * vectors[c][i])
                    .collect()
            })
            .collect();
        Self {
            units,
            worst: norms
                .iter()
                .map(|&n| if n > 0.0 { 1.0 } else { 0.0 })
                .collect(),
            scale: norms
                .iter()
                .map(|&n| if n > 0.0 { n * n } else { 1.0 })
                .collect(),
            floor: p.noise * p.noise,
            rank,
            width: p.width.min(rank),
        }
    }

    /// Number of tasks.
    pub fn tasks(&self) -> usize {
        self.units.len()
    }

    /// Normalised losses of the subspace with orthonormal basis `basis` (columns as rows).
    pub fn normalised(&self, basis: &[Vec<f64>]) -> Vec<f64> {
        self.units
            .iter()
            .zip(&self.worst)
            .map(|(u, w)| {
                let kept: f64 = basis.iter().map(|b| dot(b, u).powi(2)).sum();
                (w - kept).max(0.0)
            })
            .collect()
    }

    /// Raw losses from normalised ones.
    pub fn raw(&self, normalised: &[f64]) -> Vec<f64> {
        normalised
            .iter()
            .zip(&self.scale)
            .map(|(l, s)| self.floor + s * l)
            .collect()
    }

    /// Weights on the raw losses equivalent to weights `w` on the normalised ones
    /// (λ_k ∝ w_k / ‖t_k‖²), on the simplex.
    pub fn raw_weights(&self, w: &[f64]) -> Vec<f64> {
        let v: Vec<f64> = w.iter().zip(&self.scale).map(|(w, s)| w / s).collect();
        let sum: f64 = v.iter().sum();
        v.iter().map(|x| x / sum).collect()
    }

    /// The weighted task matrix M(w) = Σ w_k t̂_k t̂_kᵀ (r×r, row-major).
    pub fn weighted(&self, w: &[f64]) -> Vec<f64> {
        let r = self.rank;
        let mut m = vec![0.0; r * r];
        for (u, &wk) in self.units.iter().zip(w) {
            for i in 0..r {
                for j in 0..r {
                    m[i * r + j] += wk * u[i] * u[j];
                }
            }
        }
        m
    }

    /// min over subspaces of Σ w_k ℓ̃_k: Σ w_k ‖t̂_k‖² minus the q largest eigenvalues of M(w).
    pub fn weighted_optimum(&self, w: &[f64], values: &[f64]) -> f64 {
        let base: f64 = w.iter().zip(&self.worst).map(|(a, b)| a * b).sum();
        base - values[..self.width].iter().sum::<f64>()
    }
}

/// Eigenvalues (descending) and unit eigenvectors of the symmetric n×n row-major `m`
/// (nalgebra's symmetric QR algorithm).
pub(crate) fn eigen(m: &[f64], n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    if n == 0 {
        return (Vec::new(), Vec::new());
    }
    let e = SymmetricEigen::new(DMatrix::from_row_slice(n, n, m));
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        e.eigenvalues[b]
            .total_cmp(&e.eigenvalues[a])
            .then(a.cmp(&b))
    });
    let values = order.iter().map(|&i| e.eigenvalues[i]).collect();
    let vectors = order
        .iter()
        .map(|&i| e.eigenvectors.column(i).iter().copied().collect())
        .collect();
    (values, vectors)
}

/// Dot product.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Modified Gram–Schmidt on `rows`; `None` when they are (numerically) dependent.
pub(crate) fn orthonormal_rows(rows: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let mut out: Vec<Vec<f64>> = Vec::with_capacity(rows.len());
    for row in rows {
        let scale = dot(row, row).sqrt();
        let mut v = row.clone();
        for b in &out {
            let c = dot(&v, b);
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= c * y);
        }
        let n = dot(&v, &v).sqrt();
        if n.is_nan() || n <= 1e-10 * scale {
            return None;
        }
        v.iter_mut().for_each(|x| *x /= n);
        out.push(v);
    }
    Some(out)
}

/// `rows` (orthonormal) completed to an orthonormal basis of R^n by the standard basis.
pub(crate) fn complete_basis(rows: &[Vec<f64>], n: usize) -> Vec<Vec<f64>> {
    let mut out = rows.to_vec();
    for i in 0..n {
        if out.len() == n {
            break;
        }
        let mut e = vec![0.0; n];
        e[i] = 1.0;
        let mut candidate = out.clone();
        candidate.push(e);
        if let Some(b) = orthonormal_rows(&candidate) {
            out = b;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(rows: Vec<Vec<f64>>, width: usize) -> LinearProblem {
        LinearProblem {
            task_vectors: rows,
            noise: 0.5,
            width,
        }
    }

    #[test]
    fn losses_follow_the_closed_form() {
        let p = problem(vec![vec![3.0, 4.0, 0.0], vec![0.0, 0.0, 2.0]], 1);
        // P = projection on e1: task 1 keeps 9 of 25, task 2 nothing.
        let l = p.losses(&[vec![2.0, 0.0, 0.0]]).unwrap();
        assert!((l[0] - (0.25 + 25.0 - 9.0)).abs() < 1e-12);
        assert!((l[1] - (0.25 + 4.0)).abs() < 1e-12);
        let reduced = Reduced::new(&p);
        assert_eq!((reduced.rank, reduced.width), (2, 1));
        assert_eq!(reduced.scale, vec![25.0, 4.0]);
        assert!(p
            .losses(&[vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]])
            .is_err());
    }

    #[test]
    fn reduced_coordinates_keep_the_cosines() {
        let p = problem(
            vec![
                vec![1.0, 2.0, 0.0, 1.0],
                vec![0.0, 1.0, 1.0, 0.0],
                vec![1.0, 3.0, 1.0, 1.0],
                vec![0.0; 4],
            ],
            2,
        );
        let r = Reduced::new(&p);
        assert_eq!(r.rank, 2, "task 3 is the sum of tasks 1 and 2");
        let t = &p.task_vectors;
        for i in 0..3 {
            for j in 0..3 {
                let cos = dot(&t[i], &t[j]) / (dot(&t[i], &t[i]) * dot(&t[j], &t[j])).sqrt();
                assert!((dot(&r.units[i], &r.units[j]) - cos).abs() < 1e-12);
            }
        }
        assert_eq!(r.worst, vec![1.0, 1.0, 1.0, 0.0]);
        assert_eq!(r.units[3], vec![0.0, 0.0]);
    }

    #[test]
    fn bad_problems_name_the_field() {
        let e = |p: LinearProblem| p.validate().unwrap_err().to_string();
        assert!(e(problem(vec![vec![1.0], vec![1.0, 2.0]], 1)).contains("row 2 has 2 numbers"));
        assert!(e(problem(vec![vec![f64::NAN]], 1)).contains("non-finite"));
        assert!(e(problem(vec![vec![1.0]], 0)).contains("`width`"));
        assert!(e(problem(Vec::new(), 1)).contains("0 rows"));
        let mut p = problem(vec![vec![1.0]], 1);
        p.noise = -1.0;
        assert!(e(p).contains("`noise`"));
    }

    #[test]
    fn completed_bases_are_orthonormal() {
        let b = complete_basis(&[vec![0.6, 0.8, 0.0]], 3);
        assert_eq!(b.len(), 3);
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot(&b[i], &b[j]) - want).abs() < 1e-12);
            }
        }
    }
}
