//! Deterministic search tools: the weight simplex grid, compass (pattern) search on the
//! simplex and on the Grassmannian, and low-discrepancy samples of a Grassmannian.

use super::problem::{complete_basis, orthonormal_rows};

/// Every weight vector with entries i/steps on the K-simplex, in lexicographic order.
pub fn simplex_grid(k: usize, steps: usize) -> Vec<Vec<f64>> {
    let mut out = Vec::new();
    let mut counts = vec![0usize; k];
    fill(&mut counts, 0, steps, &mut |c| {
        out.push(c.iter().map(|&v| v as f64 / steps as f64).collect())
    });
    out
}

fn fill(counts: &mut [usize], i: usize, left: usize, emit: &mut dyn FnMut(&[usize])) {
    if i + 1 == counts.len() {
        counts[i] = left;
        emit(counts);
        return;
    }
    for v in (0..=left).rev() {
        counts[i] = v;
        fill(counts, i + 1, left - v, emit);
    }
}

/// When a compass search stops: step below `min_step` or `max_evals` evaluations.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Smallest step tried.
    pub min_step: f64,
    /// Most objective evaluations.
    pub max_evals: usize,
}

/// For values reported as results.
pub const PRECISE: Budget = Budget {
    min_step: 1e-11,
    max_evals: 20_000,
};

/// For the early stages of a search that a precise one finishes.
pub const ROUGH: Budget = Budget {
    min_step: 1e-7,
    max_evals: 1_500,
};

/// For a front point's gap: a reached point needs none (its own weight shows it), an
/// unreached one only an estimate.
pub const GAP: Budget = Budget {
    min_step: 1e-9,
    max_evals: 600,
};

/// For placing points (a front point's position inside its cell).
pub const POLISH: Budget = Budget {
    min_step: 1e-5,
    max_evals: 400,
};

/// A move: from a point along direction `dir` by a signed step (None when impossible).
pub type Move<'a, P> = &'a dyn Fn(&P, usize, f64) -> Option<P>;

/// A pattern move: from `base` and `x`, the point beyond `x` (None when impossible).
pub type Pattern<'a, P> = &'a dyn Fn(&P, &P) -> Option<P>;

/// Where a compass search moves: `dirs` move directions, `moves(x, dir, ±step)` (None when
/// impossible) and optionally `extrapolate(base, x)`, the point beyond x as far from x as x
/// is from base (Hooke–Jeeves pattern move, which speeds travel along curved valleys).
pub struct Space<'a, P> {
    /// Number of move directions.
    pub dirs: usize,
    /// The move along direction `dir` by a signed step.
    pub moves: Move<'a, P>,
    /// The pattern move, where the space has one.
    pub extrapolate: Option<Pattern<'a, P>>,
}

/// The weight simplex of `k` tasks.
pub fn simplex(k: usize) -> Space<'static, Vec<f64>> {
    Space {
        dirs: k * (k - 1),
        moves: &simplex_move,
        extrapolate: Some(&simplex_extrapolate),
    }
}

/// Compass search (Hooke–Jeeves): from `start`, tries every move by ±step around the base,
/// takes improvements, repeats a successful displacement while it helps, halves the step
/// when nothing helps. Returns the best point and its value.
pub fn compass<P: Clone>(
    space: &Space<P>,
    start: P,
    step: f64,
    budget: Budget,
    f: &dyn Fn(&P) -> f64,
) -> (P, f64) {
    let evals = std::cell::Cell::new(0usize);
    let mut eval = |x: &P| {
        evals.set(evals.get() + 1);
        f(x)
    };
    let fx = eval(&start);
    let (mut base, mut fbase) = (start, fx);
    let mut step = step;
    // One sweep of moves around x; returns the improved point, if any.
    let explore = |x: &P, fx: f64, step: f64, eval: &mut dyn FnMut(&P) -> f64| {
        let (mut x, mut fx, mut improved) = (x.clone(), fx, false);
        for dir in 0..space.dirs {
            for s in [step, -step] {
                if let Some(y) = (space.moves)(&x, dir, s) {
                    let fy = eval(&y);
                    if fy < fx {
                        (x, fx, improved) = (y, fy, true);
                    }
                }
            }
        }
        improved.then_some((x, fx))
    };
    while step > budget.min_step && evals.get() < budget.max_evals {
        let Some((mut x, mut fx)) = explore(&base, fbase, step, &mut eval) else {
            step *= 0.5;
            continue;
        };
        while let Some(y) = space.extrapolate.and_then(|e| e(&base, &x)) {
            if evals.get() >= budget.max_evals {
                break;
            }
            let fy = eval(&y);
            let (z, fz) = explore(&y, fy, step, &mut eval).unwrap_or((y, fy));
            if fz >= fx {
                break;
            }
            (base, x, fx) = (x, z, fz);
        }
        (base, fbase) = (x, fx);
    }
    (base, fbase)
}

/// The simplex move number `dir` of `k(k − 1)`: shift `s` of weight from one coordinate to
/// another, shortened at the boundary; `None` when nothing can move.
// `&Vec`: the signature of a `Move` over weight vectors.
#[allow(clippy::ptr_arg)]
fn simplex_move(w: &Vec<f64>, dir: usize, s: f64) -> Option<Vec<f64>> {
    let (a, b) = simplex_pair(w.len(), dir);
    let (to, from) = if s > 0.0 { (a, b) } else { (b, a) };
    let s = s.abs().min(w[from]);
    if s <= 0.0 {
        return None;
    }
    let mut v = w.clone();
    v[to] += s;
    v[from] -= s;
    Some(v)
}

/// The ordered coordinate pair (a, b), a ≠ b, of simplex move `dir` < k(k − 1).
pub fn simplex_pair(k: usize, dir: usize) -> (usize, usize) {
    let (a, b) = (dir / (k - 1), dir % (k - 1));
    (a, if b >= a { b + 1 } else { b })
}

/// x + (x − base), shortened to stay on the simplex; `None` when it cannot move.
#[allow(clippy::ptr_arg)]
fn simplex_extrapolate(base: &Vec<f64>, x: &Vec<f64>) -> Option<Vec<f64>> {
    let d: Vec<f64> = x.iter().zip(base).map(|(a, b)| a - b).collect();
    let t = x
        .iter()
        .zip(&d)
        .filter(|(_, d)| **d < 0.0)
        .map(|(x, d)| -x / d)
        .fold(1.0, f64::min);
    (t > 0.0).then(|| {
        x.iter()
            .zip(&d)
            .map(|(x, d)| (x + t * d).max(0.0))
            .collect()
    })
}

/// A subspace of R^r as an orthonormal basis of R^r whose first `width` rows span it.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Orthonormal rows; the first `width` span the subspace.
    pub rows: Vec<Vec<f64>>,
    /// The subspace's dimension.
    pub width: usize,
}

impl Frame {
    /// The frame of the subspace with orthonormal basis `basis` in R^r.
    pub fn new(basis: &[Vec<f64>], r: usize) -> Self {
        Self {
            rows: complete_basis(basis, r),
            width: basis.len(),
        }
    }

    /// The subspace's orthonormal basis.
    pub fn basis(&self) -> &[Vec<f64>] {
        &self.rows[..self.width]
    }

    /// Number of rotation moves: one per (inside, outside) pair of basis rows.
    pub fn dirs(&self) -> usize {
        self.width * (self.rows.len() - self.width)
    }

    /// The rotations of this frame as a search space.
    pub fn space(&self) -> Space<'static, Frame> {
        Space {
            dirs: self.dirs(),
            moves: &Frame::rotated,
            extrapolate: Some(&Frame::extrapolated),
        }
    }

    /// The frame reached by rotating `x` again as `base` was rotated into `x`: rows X Q with
    /// Q = Bᵀ X (B, X the frames' rows as matrices).
    pub fn extrapolated(base: &Frame, x: &Frame) -> Option<Frame> {
        let r = x.rows.len();
        let q: Vec<Vec<f64>> = (0..r)
            .map(|i| {
                (0..r)
                    .map(|j| (0..r).map(|a| base.rows[a][i] * x.rows[a][j]).sum())
                    .collect()
            })
            .collect();
        let rows: Vec<Vec<f64>> = x
            .rows
            .iter()
            .map(|row| {
                (0..r)
                    .map(|j| (0..r).map(|i| row[i] * q[i][j]).sum())
                    .collect()
            })
            .collect();
        // Re-orthonormalised: repeated pattern moves would amplify rounding.
        Some(Frame {
            rows: orthonormal_rows(&rows)?,
            width: x.width,
        })
    }

    /// Rotates inside row `dir / outside` towards outside row `dir % outside` by angle `s`.
    pub fn rotated(&self, dir: usize, s: f64) -> Option<Self> {
        let outside = self.rows.len() - self.width;
        if outside == 0 {
            return None;
        }
        let (i, o) = (dir / outside, self.width + dir % outside);
        let (c, sn) = (s.cos(), s.sin());
        let (x, y) = (&self.rows[i], &self.rows[o]);
        let turned = x.iter().zip(y).map(|(a, b)| c * a + sn * b).collect();
        let away = x.iter().zip(y).map(|(a, b)| -sn * a + c * b).collect();
        let mut next = self.clone();
        next.rows[i] = turned;
        next.rows[o] = away;
        Some(next)
    }
}

/// First primes: the bases of the Halton sequence.
const PRIMES: [u64; 16] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53];

/// The radical inverse of `i` in `base` (one coordinate of the Halton sequence).
fn radical_inverse(mut i: u64, base: u64) -> f64 {
    let (mut f, mut x) = (1.0, 0.0);
    while i > 0 {
        f /= base as f64;
        x += f * (i % base) as f64;
        i /= base;
    }
    x
}

/// `count` deterministic, evenly spread `j`-dimensional subspaces of R^c (orthonormal bases,
/// coefficients on R^c): a circle of angles for j = 1, c = 2; otherwise Gaussian j×c
/// matrices from the Halton sequence (Box–Muller), orthonormalised, whose spans are spread
/// like the rotation-invariant measure.
pub fn grassmann_samples(j: usize, c: usize, count: usize) -> Vec<Vec<Vec<f64>>> {
    if j == 1 && c == 2 {
        return (0..count)
            .map(|s| {
                let t = std::f64::consts::PI * s as f64 / count as f64;
                vec![vec![t.cos(), t.sin()]]
            })
            .collect();
    }
    let n = j * c;
    let mut out = Vec::with_capacity(count);
    let mut i = 1u64;
    while out.len() < count && i < 100 * count as u64 + 100 {
        let mut g = Vec::with_capacity(n + 1);
        for pair in 0..n.div_ceil(2) {
            let u1 = radical_inverse(i, PRIMES[(2 * pair) % PRIMES.len()]).max(1e-300);
            let u2 = radical_inverse(i, PRIMES[(2 * pair + 1) % PRIMES.len()]);
            let r = (-2.0 * u1.ln()).sqrt();
            let t = 2.0 * std::f64::consts::PI * u2;
            g.push(r * t.cos());
            g.push(r * t.sin());
        }
        i += 1;
        let rows: Vec<Vec<f64>> = (0..j).map(|a| g[a * c..(a + 1) * c].to_vec()).collect();
        if let Some(b) = orthonormal_rows(&rows) {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::problem::dot;
    use super::*;

    #[test]
    fn simplex_grid_counts_and_sums() {
        let g = simplex_grid(3, 4);
        assert_eq!(g.len(), 15);
        assert!(g
            .iter()
            .all(|w| (w.iter().sum::<f64>() - 1.0).abs() < 1e-12));
        assert_eq!(g[0], vec![1.0, 0.0, 0.0]);
        assert_eq!(simplex_grid(4, 6).len(), 84);
    }

    #[test]
    fn compass_finds_a_simplex_minimum() {
        let target = [0.2, 0.3, 0.5];
        let f = |w: &Vec<f64>| -> f64 { w.iter().zip(target).map(|(a, b)| (a - b).abs()).sum() };
        let (w, v) = compass(&simplex(3), vec![1.0, 0.0, 0.0], 0.25, PRECISE, &f);
        assert!(v < 1e-9, "{w:?} {v}");
        // A narrow curved valley: the pattern moves follow it.
        let valley = |w: &Vec<f64>| -> f64 {
            let (x, y) = (w[0] - 0.3, w[1] - 0.2 - 4.0 * (w[0] - 0.3).powi(2));
            x * x + 1e4 * y * y
        };
        let (w, v) = compass(&simplex(3), vec![0.0, 0.0, 1.0], 0.1, PRECISE, &valley);
        assert!(v < 1e-12, "{w:?} {v}");
    }

    #[test]
    fn rotations_keep_frames_orthonormal() {
        let f = Frame::new(&[vec![1.0, 0.0, 0.0, 0.0], vec![0.0, 1.0, 0.0, 0.0]], 4);
        assert_eq!(f.dirs(), 4);
        let g = f.rotated(3, 0.7).unwrap().rotated(0, -1.1).unwrap();
        // Rotating twice by the same rotation equals one extrapolation.
        let once = f.rotated(1, 0.3).unwrap();
        let twice = once.rotated(1, 0.3).unwrap();
        let beyond = Frame::extrapolated(&f, &once).unwrap();
        for (a, b) in twice
            .rows
            .iter()
            .flatten()
            .zip(beyond.rows.iter().flatten())
        {
            assert!((a - b).abs() < 1e-12);
        }
        for a in 0..4 {
            for b in 0..4 {
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((dot(&g.rows[a], &g.rows[b]) - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn grassmann_samples_are_orthonormal_and_spread() {
        let s = grassmann_samples(1, 3, 500);
        assert_eq!(s.len(), 500);
        // Every direction has a sample within 0.2 rad (mod sign).
        for probe in [
            [1.0, 0.0, 0.0],
            [0.0, 0.6, 0.8],
            [0.57735, -0.57735, 0.57735],
        ] {
            let best = s
                .iter()
                .map(|b| dot(&b[0], &probe).abs())
                .fold(0.0, f64::max);
            assert!(best > 0.2f64.cos(), "{probe:?}: {best}");
        }
        for b in grassmann_samples(2, 4, 50) {
            assert!((dot(&b[0], &b[1])).abs() < 1e-12);
            assert!((dot(&b[1], &b[1]) - 1.0).abs() < 1e-12);
        }
    }
}
