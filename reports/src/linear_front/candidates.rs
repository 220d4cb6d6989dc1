//! The candidate subspaces: for every grid weight w, the span of every q-subset of
//! M(w)'s eigenvectors (every Pareto-critical subspace is one of these for some w), and the
//! families of subspaces between tied eigenvalues.

use std::collections::BTreeMap;

use super::problem::{eigen, Reduced};
use super::search::{
    compass, grassmann_samples, simplex, simplex_grid, simplex_pair, PRECISE, ROUGH,
};
use super::{Resolution, ScalarizedPoint};

/// Eigenvalues closer than this (M(w) has trace ≤ 1) are tied.
const TIE: f64 = 1e-9;

/// Every candidate with the grid it came from.
#[derive(Debug, Clone)]
pub(super) struct Pool {
    /// The weight grid (weights on the normalised losses).
    pub grid: Vec<Vec<f64>>,
    /// min over subspaces of Σ w_k ℓ̃_k for each grid weight.
    pub optimum: Vec<f64>,
    /// Grid candidates, then tie-family samples.
    pub candidates: Vec<Candidate>,
    /// The tie families.
    pub families: Vec<TieFamily>,
}

impl Pool {
    /// All candidates of `red` at `resolution`.
    pub fn new(red: &Reduced, resolution: &Resolution) -> Self {
        let grid = simplex_grid(red.tasks(), resolution.weight_steps);
        let mut candidates = Vec::new();
        let mut optimum = Vec::with_capacity(grid.len());
        let mut spectra = Vec::with_capacity(grid.len());
        for w in &grid {
            let (values, vectors) = eigen(&red.weighted(w), red.rank);
            optimum.push(red.weighted_optimum(w, &values));
            for subset in subsets(red.rank, red.width) {
                let basis: Vec<Vec<f64>> = subset.iter().map(|&i| vectors[i].clone()).collect();
                candidates.push(Candidate {
                    normalised: red.normalised(&basis),
                    basis,
                    weights: w.clone(),
                    top: subset.iter().enumerate().all(|(a, &b)| a == b),
                    origin: Origin::Grid { subset },
                });
            }
            spectra.push(values);
        }
        let families = tie_families(red, &grid, &spectra, resolution);
        for (f, family) in families.iter().enumerate() {
            let (j, c) = (family.j, family.tied.len());
            let count = resolution.tie_samples * (j * (c - j)).max(1);
            for coefficients in grassmann_samples(j, c, count) {
                let basis = family.member(&coefficients);
                candidates.push(Candidate {
                    normalised: red.normalised(&basis),
                    basis,
                    weights: family.weights.clone(),
                    top: family.top,
                    origin: Origin::Tie {
                        family: f,
                        coefficients,
                    },
                });
            }
        }
        Self {
            grid,
            optimum,
            candidates,
            families,
        }
    }

    /// Scalarization's solutions: the candidates that minimise their weights' weighted sum.
    pub fn scalarization_set(&self, red: &Reduced) -> Vec<ScalarizedPoint> {
        self.candidates
            .iter()
            .filter(|c| c.top)
            .map(|c| ScalarizedPoint {
                weights: red.raw_weights(&c.weights),
                losses: red.raw(&c.normalised),
                tie: matches!(c.origin, Origin::Tie { .. }),
            })
            .collect()
    }
}

/// Where a candidate subspace came from.
#[derive(Debug, Clone)]
pub(super) enum Origin {
    /// The eigenvectors of M(w) of these ranks (0 = largest eigenvalue), w a grid weight.
    Grid { subset: Vec<usize> },
    /// A member of tie family `family` with these coefficients on its tied eigenvectors.
    Tie {
        /// Index into [`Pool::families`].
        family: usize,
        /// Orthonormal coefficient rows on the family's tied eigenvectors.
        coefficients: Vec<Vec<f64>>,
    },
}

/// A candidate subspace.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub normalised: Vec<f64>,
    pub basis: Vec<Vec<f64>>,
    /// Normalised-loss weights it belongs to.
    pub weights: Vec<f64>,
    /// Whether it minimises those weights' weighted sum.
    pub top: bool,
    pub origin: Origin,
}

/// Subspaces between tied eigenvalues: span(fixed) ⊕ a j-dimensional subspace of
/// span(tied).
#[derive(Debug, Clone)]
pub(super) struct TieFamily {
    pub weights: Vec<f64>,
    pub fixed: Vec<Vec<f64>>,
    pub tied: Vec<Vec<f64>>,
    pub j: usize,
    pub top: bool,
}

impl TieFamily {
    pub fn member(&self, coefficients: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let mut basis = self.fixed.clone();
        for c in coefficients {
            let mut v = vec![0.0; self.tied[0].len()];
            for (ci, e) in c.iter().zip(&self.tied) {
                v.iter_mut().zip(e).for_each(|(a, b)| *a += ci * b);
            }
            basis.push(v);
        }
        basis
    }
}

/// Every `size`-subset of 0..n in lexicographic order.
fn subsets(n: usize, size: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut current = Vec::with_capacity(size);
    fn go(start: usize, n: usize, size: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == size {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            go(i + 1, n, size, cur, out);
            cur.pop();
        }
    }
    go(0, n, size, &mut current, &mut out);
    out
}

/// The tie families: for each adjacent eigenvalue pair, local minima of their difference on
/// the grid are refined by compass search; where it reaches 0 the tied eigenvectors give a
/// family for every way a q-subset can take part of the tied block.
fn tie_families(
    red: &Reduced,
    grid: &[Vec<f64>],
    spectra: &[Vec<f64>],
    resolution: &Resolution,
) -> Vec<TieFamily> {
    let k = red.tasks();
    let steps = resolution.weight_steps as f64;
    let index: BTreeMap<Vec<i64>, usize> = grid
        .iter()
        .enumerate()
        .map(|(i, w)| (lattice(w, steps), i))
        .collect();
    let mut found: Vec<(usize, Vec<f64>)> = Vec::new();
    for pair in 0..red.rank.saturating_sub(1) {
        let gap = |i: usize| spectra[i][pair] - spectra[i][pair + 1];
        for (i, w) in grid.iter().enumerate() {
            let here = gap(i);
            if here > 4.0 * k as f64 / steps {
                continue;
            }
            let at = lattice(w, steps);
            let local_min = (0..k * (k - 1)).all(|dir| {
                let mut n = at.clone();
                let (a, b) = simplex_pair(k, dir);
                n[a] += 1;
                n[b] -= 1;
                index.get(&n).is_none_or(|&j| gap(j) >= here)
            });
            if !local_min {
                continue;
            }
            let f = |w: &Vec<f64>| {
                let (v, _) = eigen(&red.weighted(w), red.rank);
                v[pair] - v[pair + 1]
            };
            // A rough search tells crossings (the gap goes to 0 like a cone) from avoided
            // ones; only new crossings are located precisely.
            let (w, g) = compass(&simplex(k), w.clone(), 1.0 / steps, ROUGH, &f);
            let near = |w: &[f64], tol: f64| {
                found
                    .iter()
                    .any(|(p, v)| *p == pair && v.iter().zip(w).all(|(a, b)| (a - b).abs() <= tol))
            };
            if g > 1e-5 || near(&w, 1e-4) {
                continue;
            }
            let (w, g) = compass(&simplex(k), w, 1e-6, PRECISE, &f);
            if g <= TIE && !near(&w, 1e-6) {
                found.push((pair, w));
            }
        }
    }
    let q = red.width;
    let mut families = Vec::new();
    for (pair, w) in found {
        let (values, vectors) = eigen(&red.weighted(&w), red.rank);
        let (mut a, mut b) = (pair, pair + 1);
        while a > 0 && values[a - 1] - values[a] <= 1e3 * TIE {
            a -= 1;
        }
        while b + 1 < red.rank && values[b] - values[b + 1] <= 1e3 * TIE {
            b += 1;
        }
        let tied: Vec<Vec<f64>> = vectors[a..=b].to_vec();
        let outside: Vec<usize> = (0..red.rank).filter(|i| *i < a || *i > b).collect();
        for j in 1..tied.len() {
            if j > q || q - j > outside.len() {
                continue;
            }
            for pick in subsets(outside.len(), q - j) {
                let fixed_ids: Vec<usize> = pick.iter().map(|&p| outside[p]).collect();
                let top = a < q && q <= b && fixed_ids == (0..a).collect::<Vec<_>>();
                families.push(TieFamily {
                    weights: w.clone(),
                    fixed: fixed_ids.iter().map(|&i| vectors[i].clone()).collect(),
                    tied: tied.clone(),
                    j,
                    top,
                });
            }
        }
    }
    families
}

/// Integer grid coordinates of a grid weight.
fn lattice(w: &[f64], steps: f64) -> Vec<i64> {
    w.iter().map(|v| (v * steps).round() as i64).collect()
}
