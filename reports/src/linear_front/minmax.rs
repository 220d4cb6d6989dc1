//! Min–max points: the balanced point (min over all subspaces of the largest loss) and
//! the best largest loss over scalarization's solutions.

use super::candidates::{Origin, Pool};
use super::problem::{eigen, Reduced};
use super::search::{compass, simplex, Frame, Space, PRECISE, ROUGH};
use super::{MinMax, Resolution};

/// What a min–max point minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Objective {
    /// max_k L_k, i.e. max_k ‖t_k‖² ℓ̃_k shifted by σ².
    Raw,
    /// max_k ℓ̃_k.
    Normalised,
}

impl Objective {
    /// The factor of each ℓ̃_k.
    fn scale(self, red: &Reduced) -> Vec<f64> {
        match self {
            Objective::Raw => red.scale.clone(),
            Objective::Normalised => vec![1.0; red.tasks()],
        }
    }
}

/// log-sum-exp smoothing of the maximum at sharpness `beta`.
pub(super) fn smooth_max(x: &[f64], beta: f64) -> f64 {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + x.iter().map(|v| (beta * (v - m)).exp()).sum::<f64>().ln() / beta
}

/// Sharpness schedule (times 1 / largest scale) of the smoothed min–max searches.
pub(super) const SHARPNESS: [f64; 3] = [1e2, 1e4, 1e6];

/// Minimises the largest of `values(x)` (scaled to at most about `top`) by compass search
/// on its log-sum-exp smoothing at growing sharpness: rough stages, then a precise one.
fn sharpened<P: Clone>(
    space: &Space<P>,
    start: P,
    step: f64,
    top: f64,
    values: &dyn Fn(&P) -> Vec<f64>,
) -> P {
    let mut x = start;
    for (n, s) in SHARPNESS.iter().enumerate() {
        let budget = if n + 1 == SHARPNESS.len() {
            PRECISE
        } else {
            ROUGH
        };
        let f = |p: &P| smooth_max(&values(p), s / top);
        x = compass(space, x, step, budget, &f).0;
    }
    x
}

/// max_k scale_k ℓ̃_k.
fn scaled_max(l: &[f64], scale: &[f64]) -> f64 {
    l.iter()
        .zip(scale)
        .map(|(a, b)| a * b)
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Minimises max_k scale_k ℓ̃_k(P) from `start` by compass search over rotations of P.
fn refine_subspace(red: &Reduced, start: &[Vec<f64>], scale: &[f64]) -> Vec<Vec<f64>> {
    let top = scale.iter().copied().fold(0.0, f64::max);
    let frame = Frame::new(start, red.rank);
    if frame.dirs() == 0 {
        return start.to_vec();
    }
    let values = |fr: &Frame| scaled(&red.normalised(fr.basis()), scale);
    let frame = sharpened(&frame.space(), frame.clone(), 0.05, top, &values);
    frame.basis().to_vec()
}

/// The balanced point: the subspace minimising the objective's maximum.
pub(super) fn balanced(red: &Reduced, pool: &Pool, objective: Objective) -> MinMax {
    let scale = &objective.scale(red);
    let best = pool
        .candidates
        .iter()
        .min_by(|a, b| {
            scaled_max(&a.normalised, scale).total_cmp(&scaled_max(&b.normalised, scale))
        })
        .map(|c| c.basis.clone())
        .unwrap_or_default();
    let refined = refine_subspace(red, &best, scale);
    let pick = [best, refined]
        .into_iter()
        .map(|b| red.normalised(&b))
        .min_by(|a, b| scaled_max(a, scale).total_cmp(&scaled_max(b, scale)))
        .unwrap_or_default();
    min_max(red, pick, objective, None)
}

impl MinMax {
    /// `self`, or `other` without its weights when that has the smaller maximum.
    pub(super) fn or(self, other: &MinMax) -> MinMax {
        if other.max_loss < self.max_loss {
            MinMax {
                weights: None,
                ..other.clone()
            }
        } else {
            self
        }
    }
}

fn min_max(red: &Reduced, normalised: Vec<f64>, objective: Objective, w: Option<&[f64]>) -> MinMax {
    let raw = red.raw(&normalised);
    let of = match objective {
        Objective::Raw => &raw,
        Objective::Normalised => &normalised,
    };
    let max_loss = of.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    MinMax {
        losses: raw,
        normalised,
        max_loss,
        weights: w.map(|w| red.raw_weights(w)),
    }
}

/// The best objective maximum over the scalarization set: the best grid or tie candidate,
/// refined over the weights (grid) or inside its tie family.
pub(super) fn best_scalarization(
    red: &Reduced,
    pool: &Pool,
    objective: Objective,
    resolution: &Resolution,
) -> MinMax {
    let k = red.tasks();
    let scale = &objective.scale(red);
    let top = scale.iter().copied().fold(0.0, f64::max);
    let value = |l: &[f64]| scaled_max(l, scale);
    let Some(best) = pool
        .candidates
        .iter()
        .filter(|c| c.top)
        .min_by(|a, b| value(&a.normalised).total_cmp(&value(&b.normalised)))
    else {
        return min_max(red, vec![0.0; k], objective, None);
    };
    let mut pick = (best.normalised.clone(), best.weights.clone());
    let mut consider = |l: Vec<f64>, w: Vec<f64>| {
        if value(&l) < value(&pick.0) {
            pick = (l, w);
        }
    };
    match &best.origin {
        Origin::Grid { .. } => {
            let solution = |w: &Vec<f64>| {
                let (_, vectors) = eigen(&red.weighted(w), red.rank);
                red.normalised(&vectors[..red.width])
            };
            let values = |w: &Vec<f64>| scaled(&solution(w), scale);
            let step = 1.0 / resolution.weight_steps as f64;
            let w = sharpened(&simplex(k), best.weights.clone(), step, top, &values);
            consider(solution(&w), w);
        }
        Origin::Tie {
            family,
            coefficients,
        } => {
            let fam = &pool.families[*family];
            let frame = Frame::new(coefficients, fam.tied.len());
            let values = |fr: &Frame| scaled(&red.normalised(&fam.member(fr.basis())), scale);
            let frame = sharpened(&frame.space(), frame.clone(), 0.05, top, &values);
            consider(
                red.normalised(&fam.member(frame.basis())),
                fam.weights.clone(),
            );
        }
    }
    min_max(red, pick.0, objective, Some(&pick.1))
}

fn scaled(l: &[f64], scale: &[f64]) -> Vec<f64> {
    l.iter().zip(scale).map(|(a, b)| a * b).collect()
}
