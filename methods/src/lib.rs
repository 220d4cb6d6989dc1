//! Multi-task methods for mtlbench behind one contract.
//!
//! A method sees, each step, the per-task losses and (if it asks for them via [`Needs`]) the
//! Gram matrix of the per-task gradients, and answers with an [`Update`]: task weights λ that
//! the trainer back-propagates as Σ λ_k L_k. Methods are listed once in [`registry::METHODS`];
//! adding one is a file plus a registry line.
//!
//! This crate is pure arithmetic on `f64` slices: no tensors and no I/O, so solvers are fast
//! to test and to bench.

pub mod autoscale;
pub mod diagnostics;
pub mod error;
pub mod fixed;
pub mod gram;
pub mod method;
pub mod mgda;
pub mod mgda_ub;
pub mod registry;
pub mod search;
pub mod solver;
pub mod stl;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tuned;
pub mod uniform;
pub mod weights;

pub use diagnostics::Diagnostics;
pub use error::{Error, Result};
pub use gram::Gram;
pub use method::{
    GradSource, Method, MethodConfig, Needs, ParamDoc, Property, ScaleInvariance, StepInput, Update,
};
pub use registry::{find, MethodSpec, METHODS};
pub use weights::Weights;
