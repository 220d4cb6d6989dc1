//! Wolfe's min-norm-point algorithm on a Gram matrix: the exact minimiser of λᵀAλ over the
//! probability simplex, for symmetric positive semi-definite A.
//!
//! P. Wolfe, "Finding the nearest point in a polytope", Mathematical Programming 11 (1976).
//! An active-set method: it keeps a *corral*, a set S of affinely independent points whose
//! affine minimiser (the point of least norm on their affine hull) lies inside their convex hull,
//! and the current point x = Σ_{s∈S} λ_s g_s.
//! - **Major cycle.** The vertex t = argmin_i (Aλ)_i = argmin_i ⟨x, g_i⟩ is the Frank–Wolfe
//!   vertex. When the duality gap λᵀAλ − (Aλ)_t is at most [`GAP_TOL`], x is optimal up to
//!   rounding (the gap bounds ½ (f(λ) − f*) for f = λᵀAλ); otherwise t joins S.
//! - **Minor cycle.** The affine minimiser y of S has weights α ∝ (11ᵀ + A_S)⁻¹ 1 (on the plane
//!   Σα = 1, αᵀ(11ᵀ + A_S)α = 1 + αᵀA_Sα, and 11ᵀ + A_S is positive definite exactly when S is
//!   affinely independent). If every α_s > 0, x moves to y and the major cycle repeats.
//!   Otherwise x moves towards y until the first weight reaches 0, that point leaves S, and the
//!   minor cycle repeats.
//!
//! The norm decreases strictly at every major cycle, so no corral repeats and the algorithm ends
//! after finitely many cycles with the exact optimum (up to rounding); in practice the number of
//! major cycles is close to the size of the optimal support.
//!
//! 11ᵀ + A_S is kept as its Cholesky factor RᵀR: adding a point appends a column (O(|S|²)),
//! removing one deletes a column and restores the triangle with Givens rotations (O(|S|²)), so
//! a cycle costs O(K·|S|) for Aλ plus O(|S|²), and K = 128 stays around a millisecond.
//!
//! The input is expected scaled to max |entry| = 1 (as [`min_norm`](fn@super::min_norm) does), so
//! the tolerances below are relative to the largest squared gradient norm.

/// The loop stops when the Frank–Wolfe duality gap λᵀAλ − min_i (Aλ)_i is at most this: far
/// below any accuracy a caller asks for, and well above the rounding in Aλ (about K·ε).
pub const GAP_TOL: f64 = 1e-12;

/// A solve counts as converged when its final duality gap is at most this; then λᵀAλ is within
/// 2·`ACCEPT_GAP` of the optimum.
pub const ACCEPT_GAP: f64 = 1e-10;

/// A point is affinely dependent on the corral (up to rounding) when its squared distance from
/// the corral's lifted span, the new pivot of R, is at most this times its lifted norm 1 + A_tt.
const DEPENDENT_REL: f64 = 1e-13;

/// The answer of [`solve`]: weights on the simplex and how the loop ended.
#[derive(Debug, Clone, PartialEq)]
pub struct WolfeSolution {
    /// λ, non-negative and summing to 1 (up to rounding).
    pub weights: Vec<f64>,
    /// Major cycles run: points added to the corral.
    pub iterations: usize,
    /// The final duality gap λᵀAλ − min_i (Aλ)_i, an upper bound on ½ (λᵀAλ − optimum).
    pub gap: f64,
}

/// The corral: its tasks, their weights and the Cholesky factor of 11ᵀ + A_S.
struct Corral<'a> {
    a: &'a [f64],
    k: usize,
    members: Vec<usize>,
    weights: Vec<f64>,
    /// Upper-triangular R with RᵀR = 11ᵀ + A_S, row-major with row stride `k`: r[i·k + j], i ≤ j.
    r: Vec<f64>,
}

impl<'a> Corral<'a> {
    fn new(a: &'a [f64], k: usize, start: usize) -> Self {
        let mut corral = Self {
            a,
            k,
            members: Vec::with_capacity(k),
            weights: Vec::with_capacity(k),
            r: vec![0.0; k * k],
        };
        corral
            .push(start)
            .expect("a single point is affinely independent");
        corral.weights[0] = 1.0;
        corral
    }

    fn lifted(&self, i: usize, j: usize) -> f64 {
        1.0 + self.a[i * self.k + j]
    }

    /// Appends `t` with weight 0 and a new column of R; `None` (nothing changed) when `t` is
    /// affinely dependent on the corral up to rounding.
    fn push(&mut self, t: usize) -> Option<()> {
        let (k, n) = (self.k, self.members.len());
        // Solve Rᵀ x = (11ᵀ + A)_{S,t} by forward substitution into column n of R.
        let mut norm_sq = 0.0;
        for i in 0..n {
            let mut v = self.lifted(self.members[i], t);
            for l in 0..i {
                v -= self.r[l * k + i] * self.r[l * k + n];
            }
            v /= self.r[i * k + i];
            self.r[i * k + n] = v;
            norm_sq += v * v;
        }
        let lifted_norm = self.lifted(t, t);
        let pivot_sq = lifted_norm - norm_sq;
        // Also refuses a NaN pivot.
        if pivot_sq.is_nan() || pivot_sq <= DEPENDENT_REL * lifted_norm {
            return None;
        }
        self.r[n * k + n] = pivot_sq.sqrt();
        self.members.push(t);
        self.weights.push(0.0);
        Some(())
    }

    /// Removes member `c`: deletes column c of R and restores the triangle with Givens rotations.
    fn remove(&mut self, c: usize) {
        let (k, n) = (self.k, self.members.len());
        for i in 0..n {
            for j in c..n - 1 {
                self.r[i * k + j] = self.r[i * k + j + 1];
            }
        }
        // Columns c..n-1 now have one entry below the diagonal; rotate rows (i, i+1) to clear it.
        for i in c..n - 1 {
            let (x, y) = (self.r[i * k + i], self.r[(i + 1) * k + i]);
            let h = x.hypot(y);
            let (cos, sin) = (x / h, y / h);
            for j in i..n - 1 {
                let (u, v) = (self.r[i * k + j], self.r[(i + 1) * k + j]);
                self.r[i * k + j] = cos * u + sin * v;
                self.r[(i + 1) * k + j] = cos * v - sin * u;
            }
        }
        self.members.remove(c);
        self.weights.remove(c);
    }

    /// The weights α of the corral's affine minimiser: RᵀR α̃ = 1, α = α̃ / Σ α̃.
    fn affine_minimiser(&self) -> Vec<f64> {
        let (k, n) = (self.k, self.members.len());
        // Forward substitution Rᵀ z = 1, then back substitution R α̃ = z, in place.
        let mut y = vec![0.0; n];
        for i in 0..n {
            let done: f64 = (0..i).map(|l| self.r[l * k + i] * y[l]).sum();
            y[i] = (1.0 - done) / self.r[i * k + i];
        }
        for i in (0..n).rev() {
            let row = &self.r[i * k + i + 1..i * k + n];
            let done: f64 = row.iter().zip(&y[i + 1..]).map(|(r, v)| r * v).sum();
            y[i] = (y[i] - done) / self.r[i * k + i];
        }
        let sum: f64 = y.iter().sum();
        y.iter_mut().for_each(|v| *v /= sum);
        y
    }

    /// Runs minor cycles until the affine minimiser lies inside the corral's hull, and moves
    /// there. Returns false when the point added last was dropped at once (no progress is
    /// possible in floating point).
    fn settle(&mut self) -> bool {
        let newest = *self.members.last().expect("the corral is never empty");
        let mut first = true;
        loop {
            let alpha = self.affine_minimiser();
            if alpha.iter().all(|&v| v > 0.0) {
                self.weights = alpha;
                return true;
            }
            // The largest step θ towards α that keeps every weight ≥ 0.
            let mut theta = 1.0;
            let mut leaving = 0;
            for (s, (&w, &al)) in self.weights.iter().zip(&alpha).enumerate() {
                if al <= 0.0 {
                    let t = w / (w - al);
                    if t < theta {
                        (theta, leaving) = (t, s);
                    }
                }
            }
            if first && theta <= 0.0 && self.members[leaving] == newest {
                self.remove(leaving);
                return false;
            }
            first = false;
            for (w, al) in self.weights.iter_mut().zip(&alpha) {
                *w = (1.0 - theta) * *w + theta * al;
            }
            self.weights[leaving] = 0.0;
            for s in (0..self.members.len()).rev() {
                if self.weights[s] <= 0.0 {
                    self.remove(s);
                }
            }
        }
    }

    /// λ on all K tasks.
    fn lambda(&self) -> Vec<f64> {
        let mut lambda = vec![0.0; self.k];
        for (&s, &w) in self.members.iter().zip(&self.weights) {
            lambda[s] = w;
        }
        lambda
    }
}

/// Aλ, λᵀAλ and the Frank–Wolfe vertex argmin_i (Aλ)_i (first index on ties) of the corral.
fn evaluate(corral: &Corral<'_>) -> (f64, usize) {
    let k = corral.k;
    let mut m_lambda = vec![0.0; k];
    for (&s, &w) in corral.members.iter().zip(&corral.weights) {
        let row = &corral.a[s * k..(s + 1) * k];
        m_lambda.iter_mut().zip(row).for_each(|(m, &x)| *m += w * x);
    }
    let value: f64 = corral
        .members
        .iter()
        .zip(&corral.weights)
        .map(|(&s, &w)| w * m_lambda[s])
        .sum();
    let mut t = 0;
    for (i, &m) in m_lambda.iter().enumerate() {
        if m < m_lambda[t] {
            t = i;
        }
    }
    (value - m_lambda[t], t)
}

/// The minimiser of λᵀAλ over the simplex for a symmetric positive semi-definite row-major
/// K×K `a` (K ≥ 1), scaled to max |entry| = 1, with at most `max_iter` major cycles. Starts at
/// the vertex of least norm (first index on ties).
pub fn solve(a: &[f64], k: usize, max_iter: usize) -> WolfeSolution {
    let start = (0..k).fold(0, |best, i| {
        if a[i * k + i] < a[best * k + best] {
            i
        } else {
            best
        }
    });
    let mut corral = Corral::new(a, k, start);
    let mut iterations = 0;
    loop {
        let (gap, t) = evaluate(&corral);
        let stalled = gap <= GAP_TOL
            || iterations >= max_iter
            || corral.members.contains(&t)
            || corral.push(t).is_none();
        if stalled {
            return WolfeSolution {
                weights: corral.lambda(),
                iterations,
                gap: gap.max(0.0),
            };
        }
        iterations += 1;
        if !corral.settle() {
            let (gap, _) = evaluate(&corral);
            return WolfeSolution {
                weights: corral.lambda(),
                iterations,
                gap: gap.max(0.0),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gram(rows: &[&[f64]]) -> Vec<f64> {
        rows.iter()
            .flat_map(|a| {
                rows.iter()
                    .map(move |b| a.iter().zip(*b).map(|(x, y)| x * y).sum())
            })
            .collect()
    }

    #[test]
    fn the_centroid_of_orthonormal_vectors() {
        let a = gram(&[&[1.0, 0.0, 0.0], &[0.0, 1.0, 0.0], &[0.0, 0.0, 1.0]]);
        let sol = solve(&a, 3, 100);
        for w in &sol.weights {
            assert!((w - 1.0 / 3.0).abs() < 1e-15, "{:?}", sol.weights);
        }
        assert_eq!(sol.iterations, 2);
        assert!(sol.gap <= GAP_TOL);
    }

    #[test]
    fn a_minor_cycle_drops_a_point() {
        // g1 = (0, 2), g2 = (3, 0), g3 = (−2, 1). By hand: start at g1 (least norm); g2 joins
        // (⟨g1, g2⟩ = 0 < 4) and the segment's min-norm point is (9/13) g1 + (4/13) g2 =
        // (12/13, 18/13); g3 joins (⟨x, g3⟩ = −6/13 < ‖x‖²). The affine minimiser of all three
        // is the origin, whose barycentric weights are (−3/7, 4/7, 6/7): g1 leaves. The min-norm
        // point of the segment g2–g3 is (11/26) g2 + (15/26) g3 = (3/26, 15/26), optimal since
        // ⟨x, g1⟩ = 30/26 > ‖x‖² = 234/676.
        let a = gram(&[&[0.0, 2.0], &[3.0, 0.0], &[-2.0, 1.0]]);
        let sol = solve(&a, 3, 100);
        let want = [0.0, 11.0 / 26.0, 15.0 / 26.0];
        for (w, v) in sol.weights.iter().zip(want) {
            assert!((w - v).abs() < 1e-14, "{:?}", sol.weights);
        }
        assert_eq!(sol.iterations, 2);
        assert!(sol.gap <= GAP_TOL, "{sol:?}");
    }

    #[test]
    fn removing_a_column_keeps_the_factor() {
        // Corral of four random-ish points, remove the second, and compare RᵀR with 11ᵀ + A_S.
        let rows: [&[f64]; 4] = [
            &[1.0, 0.2, -0.3],
            &[0.1, 0.9, 0.4],
            &[-0.5, 0.3, 1.1],
            &[0.7, -0.8, 0.2],
        ];
        let a = gram(&rows);
        let mut corral = Corral::new(&a, 4, 0);
        for t in 1..4 {
            corral.push(t).unwrap();
        }
        corral.remove(1);
        let n = corral.members.len();
        for i in 0..n {
            for j in 0..n {
                let rtr: f64 = (0..n)
                    .map(|l| corral.r[l * 4 + i] * corral.r[l * 4 + j])
                    .sum();
                let want = corral.lifted(corral.members[i], corral.members[j]);
                assert!((rtr - want).abs() < 1e-13, "({i}, {j}): {rtr} vs {want}");
                if j < i {
                    assert_eq!(corral.r[i * 4 + j], 0.0);
                }
            }
        }
        assert_eq!(corral.members, [0, 2, 3]);
    }

    #[test]
    fn a_dependent_point_is_refused() {
        let a = gram(&[&[1.0, 0.0], &[0.0, 1.0], &[0.5, 0.5]]);
        let mut corral = Corral::new(&a, 3, 0);
        corral.push(1).unwrap();
        assert!(corral.push(2).is_none());
        assert_eq!(corral.members, [0, 1]);
    }
}
