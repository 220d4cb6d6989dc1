//! Shared numerical pieces of the gradient-based methods, on small `f64` matrices only.
//!
//! - [`min_norm`](mod@min_norm): the min-norm point of the convex hull of K gradients given their Gram matrix
//!   (closed form for K = 2, exact active-set solve for K ≥ 3), as used by `mgda` and `mgda-ub`.
//! - [`bargaining`]: the α > 0 with Gα = α^(−q) (Nash-MTL's bargaining, FairGrad's α-fairness)
//!   by damped Newton on a convex potential.
//! - [`dual_cone`]: projection onto the dual cone of the task gradients in weight space
//!   (`upgrad`, `dualproj`), a non-negative least-squares problem on the Gram matrix.
//! - [`wolfe`]: Wolfe's min-norm-point algorithm, the exact solve behind it.
//! - [`normalization`]: per-task gradient scales (`none | l2 | loss | loss+`) applied to the Gram
//!   matrix before solving, ε-guarded in one place.
//!
//! Nothing here knows about tensors, trainers or I/O, so it is cheap to test and to bench.

pub mod bargaining;
pub mod dual_cone;
pub mod min_norm;
pub mod normalization;
pub mod wolfe;

pub use min_norm::{min_norm, two_task_weight, MinNormConfig, MinNormSolution};
pub use normalization::Normalization;
