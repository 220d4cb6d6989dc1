//! The exact Pareto front of the `synthetic-linear` benchmark and the part of it linear
//! scalarization can reach (after Hu, Xian, Wu, Fan, Yin, Zhao, NeurIPS 2023, "Revisiting
//! Scalarization in Multi-Task Learning: A Theoretical Perspective",
//! <https://arxiv.org/abs/2308.13985>) — from the closed form, not from training.
//!
//! With optimal heads, task k's population loss (mean squared error, no ½: the trainer's
//! convention) for the encoder subspace P (q-dimensional) is
//! L_k(P) = σ² + ‖t_k‖² − t_kᵀ P t_k, t_k = s_k θ_k the scaled task vector.
//!
//! **Front.** A Pareto-optimal P admits weights w ≥ 0 with Σ w_k ∇L_k = 0 (no common
//! descent direction), i.e. P is spanned by *some* q eigenvectors of M(w) = Σ w_k t̂_k t̂_kᵀ;
//! scalarization with weights w gets the *top* q. So the candidates are, for every w on a
//! simplex grid, the span of every q-subset of M(w)'s eigenvectors, plus, where two
//! eigenvalues meet (found by compass search on their difference), the whole family of
//! subspaces between them. In normalised losses ℓ̃_k = 1 − ‖P t̂_k‖² (the squared sine
//! between task k and P) the front projects one-to-one onto the plane orthogonal to the
//! diagonal (1, …, 1); that plane is cut into square cells of side 1 / `front_cells`, and each
//! cell keeps one non-dominated point, moved along its eigenvector sheet onto the cell's
//! centre line (cells the grid missed are filled from their neighbours the same way).
//!
//! **Reached.** A front point ℓ̃ is reached by scalarization iff some w makes it a minimiser
//! of Σ w_k ℓ̃_k, i.e. iff its *gap* min_w [w·ℓ̃ − min_P w·ℓ̃(P)] is 0 (the inner minimum is
//! exact: Σ w_k minus the q largest eigenvalues of M(w); the outer one is convex in w, found
//! on the grid and refined by compass search). Ties are included by construction: a point
//! on the tie family of w minimises w's weighted sum. A point counts as reached when its
//! gap is at most [`REACH_TOLERANCE`] (normalised loss units: a fraction of each task's
//! explainable variance). The **fraction reached** is the share of front cells whose point
//! is reached: the share of the front's area seen along the diagonal.
//!
//! **Balanced point.** min over all P of max_k L_k (raw) and of max_k ℓ̃_k (normalised),
//! from the best candidate refined by compass search over rotations of P (the maximum
//! smoothed by log-sum-exp with sharpening temperature); beside it the best max loss over
//! the scalarization set (grid weights and tie families, refined the same way).
//!
//! ```
//! use mtl_reports::linear_front::{analyse, LinearProblem, Resolution};
//!
//! // Two tasks at 60° in the plane, one shared direction (q = 1).
//! let a = std::f64::consts::FRAC_PI_3;
//! let problem = LinearProblem {
//!     task_vectors: vec![vec![1.0, 0.0], vec![a.cos(), a.sin()]],
//!     noise: 0.1,
//!     width: 1,
//! };
//! let front = analyse(&problem, &Resolution::coarse(2)).unwrap();
//! assert_eq!(front.fraction_reached, 1.0);
//! // The balanced point splits the angle: max loss σ² + sin²(30°).
//! assert!((front.balanced.max_loss - (0.01 + 0.25)).abs() < 1e-6);
//! ```

mod candidates;
mod cells;
mod dots;
mod minmax;
mod plot;
mod problem;
mod search;
mod table;

pub use plot::{front_svg, RunPoint};
pub use problem::{LinearProblem, MAX_TASKS};
pub use table::front_sheet;

use crate::{Error, Result};
use candidates::Pool;
use minmax::{balanced, best_scalarization, Objective};
use problem::Reduced;

/// Largest normalised gap of a front point that still counts as reached by scalarization.
pub const REACH_TOLERANCE: f64 = 1e-6;

/// Sampling density of the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    /// Weight grid: w_k = i / weight_steps on the simplex.
    pub weight_steps: usize,
    /// Cells per unit length of the front's projection on the plane ⟂ (1, …, 1) (one
    /// front point per cell).
    pub front_cells: usize,
    /// Samples of each one-parameter tie family (more for larger families).
    pub tie_samples: usize,
}

impl Resolution {
    /// The study's resolution for `tasks` tasks (in a debug build, measured on a loaded
    /// 2-core machine: 1–15 s per K = 3 configuration, 5–90 s per K = 4 one).
    pub fn fine(tasks: usize) -> Self {
        match tasks {
            0..=2 => Self::new(400, 200, 256),
            3 => Self::new(150, 40, 256),
            4 => Self::new(40, 14, 128),
            _ => Self::new(16, 6, 64),
        }
    }

    /// A coarse resolution for tests (a fraction of a second to a second in a debug build).
    pub fn coarse(tasks: usize) -> Self {
        match tasks {
            0..=2 => Self::new(60, 30, 64),
            3 => Self::new(36, 12, 64),
            4 => Self::new(14, 5, 32),
            _ => Self::new(6, 3, 16),
        }
    }

    fn new(weight_steps: usize, front_cells: usize, tie_samples: usize) -> Self {
        Self {
            weight_steps,
            front_cells,
            tie_samples,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.weight_steps == 0 || self.front_cells == 0 || self.tie_samples == 0 {
            return Err(Error::InvalidProblem {
                message: format!("every resolution field must be ≥ 1, got {self:?}"),
            });
        }
        Ok(())
    }
}

/// A point of the Pareto front.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontPoint {
    /// Population losses L_k.
    pub losses: Vec<f64>,
    /// Normalised losses ℓ̃_k = (L_k − σ²) / ‖t_k‖² ∈ [0, 1].
    pub normalised: Vec<f64>,
    /// Whether some scalarization weight reaches it (gap ≤ [`REACH_TOLERANCE`]).
    pub reached: bool,
    /// Normalised gap: how far the point lies inside the weighted-sum optimum of the best
    /// weight (0 when reached).
    pub gap: f64,
    /// That weight, on the raw losses (what `fixed` weights would be): for a reached point a
    /// weight that reaches it.
    pub weights: Vec<f64>,
}

/// A solution of linear scalarization.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarizedPoint {
    /// The weights on the raw losses.
    pub weights: Vec<f64>,
    /// Population losses of a minimiser of Σ λ_k L_k.
    pub losses: Vec<f64>,
    /// Whether it is one of several minimisers (the q-th and (q+1)-th eigenvalues tie).
    pub tie: bool,
}

/// A min–max point: the subspace minimising the largest (raw or normalised) loss.
#[derive(Debug, Clone, PartialEq)]
pub struct MinMax {
    /// Population losses there.
    pub losses: Vec<f64>,
    /// Normalised losses there.
    pub normalised: Vec<f64>,
    /// The minimised maximum (raw losses, or normalised ones for the normalised variants).
    pub max_loss: f64,
    /// Raw-loss weights whose scalarization gives it (scalarization optima only).
    pub weights: Option<Vec<f64>>,
}

/// Everything [`analyse`] finds for one problem.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontAnalysis {
    /// Number of tasks K.
    pub tasks: usize,
    /// The shared width q asked for.
    pub width: usize,
    /// Rank of the task vectors (q ≥ rank fits every task: the front is one point).
    pub rank: usize,
    /// σ².
    pub noise_floor: f64,
    /// ‖t_k‖² (1 for a zero task): L_k = σ² + loss_scale_k · ℓ̃_k.
    pub loss_scale: Vec<f64>,
    /// The front, one point per cell of its projection along the diagonal, in cell order.
    pub front: Vec<FrontPoint>,
    /// Scalarization's solutions over the weight grid and the tie families.
    pub reachable: Vec<ScalarizedPoint>,
    /// Share of the front (by direction) that scalarization reaches, in [0, 1].
    pub fraction_reached: f64,
    /// min over the front of max_k L_k.
    pub balanced: MinMax,
    /// min over the front of max_k ℓ̃_k (each task's share of explainable variance lost).
    pub balanced_normalised: MinMax,
    /// The smallest max_k L_k any scalarization weight reaches.
    pub best_scalarization: MinMax,
    /// The smallest max_k ℓ̃_k any scalarization weight reaches.
    pub best_scalarization_normalised: MinMax,
    /// The resolution used.
    pub resolution: Resolution,
}

/// The exact front, the scalarization set and their summary numbers for `problem`.
pub fn analyse(problem: &LinearProblem, resolution: &Resolution) -> Result<FrontAnalysis> {
    problem.validate()?;
    resolution.validate()?;
    let red = Reduced::new(problem);
    if red.width == red.rank {
        return Ok(fits_every_task(problem, &red, resolution));
    }
    let pool = Pool::new(&red, resolution);
    let (front, fraction_reached) = cells::front(&red, &pool, resolution);
    let scalarized = |o| best_scalarization(&red, &pool, o, resolution);
    let (best_raw, best_normalised) = (
        scalarized(Objective::Raw),
        scalarized(Objective::Normalised),
    );
    // A scalarization optimum is a subspace too: the balanced point is never worse.
    let balanced_raw = balanced(&red, &pool, Objective::Raw).or(&best_raw);
    let balanced_normalised = balanced(&red, &pool, Objective::Normalised).or(&best_normalised);
    Ok(FrontAnalysis {
        tasks: red.tasks(),
        width: problem.width,
        rank: red.rank,
        noise_floor: red.floor,
        loss_scale: red.scale.clone(),
        front,
        reachable: pool.scalarization_set(&red),
        fraction_reached,
        balanced: balanced_raw,
        balanced_normalised,
        best_scalarization: best_raw,
        best_scalarization_normalised: best_normalised,
        resolution: *resolution,
    })
}

/// The analysis when q ≥ rank: the span of the tasks fits every task, so the front is the
/// one point (σ², …, σ²), which every weight reaches.
fn fits_every_task(
    problem: &LinearProblem,
    red: &Reduced,
    resolution: &Resolution,
) -> FrontAnalysis {
    let k = red.tasks();
    let uniform = vec![1.0 / k as f64; k];
    let point = MinMax {
        losses: vec![red.floor; k],
        normalised: vec![0.0; k],
        max_loss: red.floor,
        weights: None,
    };
    let normalised = MinMax {
        max_loss: 0.0,
        ..point.clone()
    };
    let with_weights = |m: &MinMax| MinMax {
        weights: Some(uniform.clone()),
        ..m.clone()
    };
    FrontAnalysis {
        tasks: k,
        width: problem.width,
        rank: red.rank,
        noise_floor: red.floor,
        loss_scale: red.scale.clone(),
        front: vec![FrontPoint {
            losses: point.losses.clone(),
            normalised: point.normalised.clone(),
            reached: true,
            gap: 0.0,
            weights: uniform.clone(),
        }],
        reachable: vec![ScalarizedPoint {
            weights: uniform.clone(),
            losses: point.losses.clone(),
            tie: false,
        }],
        fraction_reached: 1.0,
        best_scalarization: with_weights(&point),
        best_scalarization_normalised: with_weights(&normalised),
        balanced: point,
        balanced_normalised: normalised,
        resolution: *resolution,
    }
}

#[cfg(test)]
mod tests;
