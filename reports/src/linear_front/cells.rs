//! The front from the candidates. The front projects one-to-one onto the plane orthogonal
//! to the diagonal (1, …, 1) (two points on one diagonal line would dominate each other), so
//! that plane, cut into equal square cells of side 1/cells, parametrises it: each cell keeps,
//! among its candidates no candidate dominates, the best one for the Chebyshev scalarization
//! towards the cell's centre line (min max_k ℓ̃_k − z_k, z on that line); a candidate that
//! is not a scalarization optimum is then moved along its eigenvector sheet to that line's
//! front point. Cells the candidates missed (a sheet can move fast with the weights) are
//! filled from their neighbours by the same move. The fraction reached is the share of
//! cells whose point is reached.

use std::collections::{BTreeMap, BTreeSet};

use super::candidates::{Candidate, Origin, Pool};
use super::minmax::{smooth_max, SHARPNESS};
use super::problem::{dot, eigen, Reduced};
use super::search::{compass, simplex, GAP, POLISH};
use super::{FrontPoint, Resolution, REACH_TOLERANCE};
use crate::hypervolume::{dominates, non_dominated};

/// A front point in the making: normalised losses, the weights it was found for and the
/// eigenvalue ranks of its sheet (none for a tie-family member).
#[derive(Debug, Clone)]
struct Rep {
    normalised: Vec<f64>,
    weights: Vec<f64>,
    sheet: Option<Vec<usize>>,
}

/// The front points (in cell order) and the fraction of cells reached.
pub(super) fn front(red: &Reduced, pool: &Pool, resolution: &Resolution) -> (Vec<FrontPoint>, f64) {
    let cells = resolution.front_cells;
    let beaten = |l: &[f64]| pool.candidates.iter().any(|o| dominates(&o.normalised, l));
    let mut reps: BTreeMap<Vec<i64>, Rep> = BTreeMap::new();
    for (key, i) in front_cells(&pool.candidates, cells) {
        let c = &pool.candidates[i];
        let mut rep = Rep {
            normalised: c.normalised.clone(),
            weights: c.weights.clone(),
            sheet: match &c.origin {
                Origin::Grid { subset } => Some(subset.clone()),
                Origin::Tie { .. } => None,
            },
        };
        // A scalarization optimum stays as it is (its gap is exactly 0 at its weights).
        if !c.top {
            let z = centre_line(&key, cells);
            if let Some(moved) = polish(red, &rep, &z, resolution) {
                if towards(&moved.normalised, &z) < towards(&rep.normalised, &z)
                    && !beaten(&moved.normalised)
                {
                    rep = moved;
                }
            }
        }
        reps.insert(key, rep);
    }
    // Cells the candidates missed (where a sheet moves fast with the weights) are filled
    // from their neighbours, moving along the neighbour's sheet.
    let mut queue: BTreeSet<Vec<i64>> = reps
        .keys()
        .flat_map(|k| neighbours(k))
        .filter(|k| !reps.contains_key(k))
        .collect();
    let mut tried = BTreeSet::new();
    let mut budget = 4 * reps.len() + 16;
    while let Some(key) = queue.pop_first() {
        if budget == 0 {
            break;
        }
        budget -= 1;
        tried.insert(key.clone());
        let z = centre_line(&key, cells);
        let sources: Vec<Rep> = neighbours(&key)
            .iter()
            .filter_map(|n| reps.get(n))
            .filter(|r| r.sheet.is_some())
            .cloned()
            .collect();
        let filled = sources.iter().find_map(|src| {
            polish(red, src, &z, resolution)
                .filter(|r| cell_of(&r.normalised, cells) == key && !beaten(&r.normalised))
        });
        if let Some(rep) = filled {
            reps.insert(key.clone(), rep);
            for n in neighbours(&key) {
                if !reps.contains_key(&n) && !tried.contains(&n) {
                    queue.insert(n);
                }
            }
        }
    }
    let all: Vec<&Rep> = reps.values().collect();
    let losses: Vec<Vec<f64>> = all.iter().map(|r| r.normalised.clone()).collect();
    let points: Vec<FrontPoint> = non_dominated(&losses)
        .into_iter()
        .map(|i| {
            front_point(
                red,
                pool,
                all[i].normalised.clone(),
                all[i].weights.clone(),
                resolution,
            )
        })
        .collect();
    let reached = points.iter().filter(|p| p.reached).count();
    let fraction = if points.is_empty() {
        1.0
    } else {
        reached as f64 / points.len() as f64
    };
    (points, fraction)
}

/// The cells sharing a face with `key`.
fn neighbours(key: &[i64]) -> Vec<Vec<i64>> {
    (0..key.len())
        .flat_map(|j| {
            [-1, 1].map(|d| {
                let mut n = key.to_vec();
                n[j] += d;
                n
            })
        })
        .collect()
}

/// A point of the diagonal line through the centre of cell `key`.
fn centre_line(key: &[i64], cells: usize) -> Vec<f64> {
    let centre: Vec<f64> = key
        .iter()
        .map(|&f| (f as f64 + 0.5) / cells as f64)
        .collect();
    lift(&centre)
}

/// Coordinates of ℓ̃ in the plane orthogonal to (1, …, 1) (Helmert basis).
pub(super) fn project(l: &[f64]) -> Vec<f64> {
    (1..l.len())
        .map(|j| {
            let head: f64 = l[..j].iter().sum();
            (head - j as f64 * l[j]) / ((j * (j + 1)) as f64).sqrt()
        })
        .collect()
}

/// The point with projection `p` and coordinate sum 0 (inverse of [`project`] on the plane).
fn lift(p: &[f64]) -> Vec<f64> {
    let k = p.len() + 1;
    let mut l = vec![0.0; k];
    for (j, &c) in p.iter().enumerate() {
        let j = j + 1;
        let n = ((j * (j + 1)) as f64).sqrt();
        l[..j].iter_mut().for_each(|v| *v += c / n);
        l[j] -= c * j as f64 / n;
    }
    l
}

/// The cell of ℓ̃: floors of its projection times `cells`.
pub(super) fn cell_of(l: &[f64], cells: usize) -> Vec<i64> {
    project(l)
        .iter()
        .map(|v| (v * cells as f64).floor() as i64)
        .collect()
}

/// Chebyshev value of ℓ̃ towards the diagonal line through `z`.
fn towards(l: &[f64], z: &[f64]) -> f64 {
    l.iter()
        .zip(z)
        .map(|(a, b)| a - b)
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Per non-empty cell: its key and the chosen candidate, in cell order.
fn front_cells(candidates: &[Candidate], cells: usize) -> Vec<(Vec<i64>, usize)> {
    let sum = |i: usize| candidates[i].normalised.iter().sum::<f64>();
    // A dominating candidate has a smaller sum: only that prefix is searched.
    let mut by_sum: Vec<usize> = (0..candidates.len()).collect();
    by_sum.sort_by(|&a, &b| sum(a).total_cmp(&sum(b)).then(a.cmp(&b)));
    let sums: Vec<f64> = by_sum.iter().map(|&i| sum(i)).collect();
    let dominated = |i: usize| {
        let end = sums.partition_point(|&s| s < sum(i));
        by_sum[..end]
            .iter()
            .any(|&j| dominates(&candidates[j].normalised, &candidates[i].normalised))
    };
    let mut groups: BTreeMap<Vec<i64>, Vec<usize>> = BTreeMap::new();
    for (i, c) in candidates.iter().enumerate() {
        groups
            .entry(cell_of(&c.normalised, cells))
            .or_default()
            .push(i);
    }
    let mut out = Vec::new();
    for (key, group) in groups {
        let centre: Vec<f64> = key
            .iter()
            .map(|&f| (f as f64 + 0.5) / cells as f64)
            .collect();
        let z = lift(&centre);
        let mut ranked: Vec<(f64, usize)> = group
            .iter()
            .map(|&i| (towards(&candidates[i].normalised, &z), i))
            .collect();
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        if let Some(&(_, i)) = ranked.iter().find(|&&(_, i)| !dominated(i)) {
            out.push((key, i));
        }
    }
    out
}

/// `from` moved along its eigenvector sheet (the same eigenvalue ranks of M(w), w varied)
/// to its best point towards the diagonal line through `z`: exact on the sheet, so its gap
/// stays exact. `None` for a tie-family member.
fn polish(red: &Reduced, from: &Rep, z: &[f64], resolution: &Resolution) -> Option<Rep> {
    let subset = from.sheet.as_ref()?;
    let sheet = |w: &Vec<f64>| {
        let (_, vectors) = eigen(&red.weighted(w), red.rank);
        let basis: Vec<Vec<f64>> = subset.iter().map(|&i| vectors[i].clone()).collect();
        red.normalised(&basis)
    };
    let shifted = |l: &[f64]| -> Vec<f64> { l.iter().zip(z).map(|(a, b)| a - b).collect() };
    // Only the position inside the cell is at stake: a short, moderately sharp search.
    let f = |w: &Vec<f64>| smooth_max(&shifted(&sheet(w)), SHARPNESS[1]);
    let step = 1.0 / resolution.weight_steps as f64;
    let w = compass(
        &simplex(red.tasks()),
        from.weights.clone(),
        step,
        POLISH,
        &f,
    )
    .0;
    Some(Rep {
        normalised: sheet(&w),
        weights: w,
        sheet: Some(subset.clone()),
    })
}

/// The front point with normalised losses `l` (found for weights `own`) and its gap to the
/// scalarization set.
fn front_point(
    red: &Reduced,
    pool: &Pool,
    l: Vec<f64>,
    own: Vec<f64>,
    resolution: &Resolution,
) -> FrontPoint {
    let l = &l;
    let excess = |w: &Vec<f64>| {
        let (values, _) = eigen(&red.weighted(w), red.rank);
        (dot(w, l) - red.weighted_optimum(w, &values)).max(0.0)
    };
    // The best grid weight, or the point's own weight when that is better.
    let (mut w, mut gap) = pool
        .grid
        .iter()
        .zip(&pool.optimum)
        .map(|(w, &o)| (w.clone(), (dot(w, l) - o).max(0.0)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((own.clone(), 0.0));
    let at_own = excess(&own);
    if at_own < gap {
        (w, gap) = (own, at_own);
    }
    // The gap is convex in w with slopes in [−1, 1]: the grid minimum is within
    // K / steps of the true one, so only points that close to 0 are refined.
    let k = red.tasks();
    let slack = 2.0 * k as f64 / resolution.weight_steps as f64;
    if gap > 0.0 && gap <= slack + REACH_TOLERANCE {
        let step = 1.0 / resolution.weight_steps as f64;
        let (w2, g2) = compass(&simplex(k), w.clone(), step, GAP, &excess);
        if g2 < gap {
            (w, gap) = (w2, g2);
        }
    }
    FrontPoint {
        losses: red.raw(l),
        normalised: l.clone(),
        reached: gap <= REACH_TOLERANCE,
        gap,
        weights: red.raw_weights(&w),
    }
}
