//! Multi-task methods for mtlbench behind one contract.
//!
//! A method sees, each step, the per-task losses and (if it asks for them via [`Needs`]) the
//! Gram matrix of the per-task gradients (or the gradients themselves), and answers with an
//! [`Update`]: simplex weights, free loss weights, a combination of the task gradients, or a
//! per-coordinate direction, with a declared [`HeadScaling`] for the task heads. Methods are
//! listed once in [`registry::METHODS`];
//! adding one is a file plus a registry line.
//!
//! This crate is pure arithmetic on `f64` slices: no tensors and no I/O, so solvers are fast
//! to test and to bench.

pub mod aligned_mtl;
pub mod autoscale;
pub mod cagrad;
pub mod chebyshev;
pub mod config;
pub mod db_mtl;
pub mod diagnostics;
pub mod dualproj;
pub mod dwa;
pub mod error;
pub mod fairgrad;
pub mod famo;
pub mod fixed;
pub mod gls;
pub mod graddrop;
pub mod gradnorm;
pub mod gradvac;
pub mod gram;
pub mod imtl_g;
pub mod method;
pub mod mgda;
pub mod mgda_ub;
pub mod nash_mtl;
pub mod pcgrad;
pub mod registry;
pub mod rlw;
pub mod search;
pub mod solver;
pub mod stch;
pub mod step_checks;
pub mod stl;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tuned;
pub mod uniform;
pub mod upgrad;
pub mod uw;
pub mod weights;

pub use diagnostics::Diagnostics;
pub use error::{Error, Result};
pub use gram::Gram;
pub use method::{
    parse_state, typed_state, GradSource, HeadScaling, Method, MethodConfig, Needs, ParamDoc,
    Property, RunInfo, ScaleInvariance, StepInput, Update, UpdateKind,
};
pub use registry::{find, MethodSpec, METHODS};
pub use weights::Weights;
