//! Multi-task methods for mtlbench behind one contract.
//!
//! A method sees, each step, the per-task losses and (if it asks for them via [`Needs`]) the
//! Gram matrix of the per-task gradients (or the gradients themselves), and answers with an
//! [`Update`]: simplex weights, free loss weights, a combination of the task gradients, or a
//! per-coordinate direction, with a declared [`HeadScaling`] for the task heads.
//!
//! Adding a method is one file plus one line in the registry below, which declares its module
//! and lists it in [`METHODS`].
//!
//! This crate is pure arithmetic on `f64` slices: no tensors and no I/O, so solvers are fast
//! to test and to bench.

#[macro_use]
pub mod registry;
#[macro_use]
pub mod combination;

pub mod diagnostics;
pub mod error;
pub mod gradients;
pub mod gram;
pub mod method;
pub mod search;
pub mod solver;
pub mod step_checks;
#[cfg(feature = "testing")]
pub mod testing;
pub mod weights;

pub use diagnostics::Diagnostics;
pub use error::{Error, Result};
pub use gram::Gram;
pub use method::{
    parse_state, restore_state, typed_state, GradSource, HeadScaling, Method, MethodConfig, Needs,
    ParamDoc, Property, RunInfo, ScaleInvariance, StepInput, Update, UpdateKind,
};
pub use registry::{find, is_single_task_baseline, single_task_baseline, MethodSpec};
pub use weights::Weights;

// The registry: one line per method, `module::Config => "name", "help";`, in the order
// `mtlbench list` shows them.
methods! {
    uniform::UniformConfig => "uniform", "Uniform linear scalarization, λ_k = 1/K";
    fixed::FixedConfig => "fixed", "Linear scalarization with user-given weights on the simplex";
    tuned::TunedConfig => "tuned", "Linear scalarization with fixed weights searched on validation: grid, random or PBT (Kurin et al. 2022; Royer et al. 2023)";
    autoscale::AutoScaleConfig => "autoscale", "AutoScale: fixed weights from MTO metrics (gradient magnitude similarity, loss scales) measured in an exploration phase (Yang et al. 2025)";
    stl::StlConfig => "stl", "Single-task learning: one task alone with the same model and schedule, the Δm% baseline";
    mgda::MgdaConfig => "mgda", "MGDA: min-norm weights of the task gradients w.r.t. the shared parameters (Désidéri 2012; Sener & Koltun 2018)";
    mgda_ub::MgdaUbConfig => "mgda-ub", "MGDA-UB: min-norm weights of the task gradients w.r.t. the shared representation (Sener & Koltun, NeurIPS 2018)";
    chebyshev::ChebyshevConfig => "chebyshev", "Chebyshev: online weighted Tchebycheff scalarization, the gradient of max_k p_k L_k (Miettinen 1999; Hu et al. 2023)";
    stch::StchConfig => "stch", "STCH: smooth Tchebycheff scalarization μ log Σ exp(p_k L_k / μ) (Lin et al., ICML 2024)";
    rlw::RlwConfig => "rlw", "RLW: random loss weights λ = softmax(z), z ~ N(0, I) drawn every step (Lin et al., TMLR 2022)";
    dwa::DwaConfig => "dwa", "DWA: loss weights K·softmax(r/T) from each task's epoch loss ratio r (Liu et al., CVPR 2019)";
    gls::GlsConfig => "gls", "GLS: the geometric mean of the task losses, (Π L_k)^(1/K) (Chennupati et al., CVPRW 2019)";
    pcgrad::PcGradConfig => "pcgrad", "PCGrad: each task gradient projected off the task gradients it conflicts with, in random order (Yu et al., NeurIPS 2020)";
    graddrop::GradDropConfig => "graddrop", "GradDrop: per coordinate, only task gradients of one sign survive, drawn by the sign's purity (Chen et al., NeurIPS 2020)";
    gradvac::GradVacConfig => "gradvac", "GradVac: each task gradient turned towards the others up to a learned target cosine (Wang et al., ICLR 2021)";
    imtl_g::ImtlGConfig => "imtl-g", "IMTL-G: the gradient combination with equal projections onto every task's gradient direction (Liu et al., ICLR 2021)";
    imtl_l::ImtlLConfig => "imtl-l", "IMTL-L: each loss scaled by a learned e^(s_k), regularised by −s_k, so that scaled losses balance (Liu et al., ICLR 2021)";
    cagrad::CaGradConfig => "cagrad", "CAGrad: the update maximising the worst task's improvement within a ball around the mean gradient (Liu et al., NeurIPS 2021)";
    nash_mtl::NashMtlConfig => "nash-mtl", "Nash-MTL: loss weights α of the Nash bargaining solution, Gα = 1/α on the task gradients' Gram matrix (Navon et al., ICML 2022)";
    upgrad::UpGradConfig => "upgrad", "UPGrad: each task gradient projected onto the dual cone of all of them, then summed: conflicts with no task (Quinton & Rey 2024)";
    dualproj::DualProjConfig => "dualproj", "DualProj: the mean gradient projected onto the dual cone of the task gradients (Quinton & Rey 2024)";
    aligned_mtl::AlignedMtlConfig => "aligned-mtl", "Aligned-MTL: the task gradients' system aligned to equal singular values, then combined (Senushkin et al., CVPR 2023)";
    config::ConfigConfig => "config", "ConFIG: the direction with equal cosine to every task gradient, scaled by their projections (Liu et al., ICLR 2025)";
    fairgrad::FairGradConfig => "fairgrad", "FairGrad: loss weights of the α-fair allocation of progress among tasks, Gw = w^(−1/α) (Ban & Ji, ICML 2024)";
    gradnorm::GradNormConfig => "gradnorm", "GradNorm: loss weights trained so that weighted gradient norms follow each task's relative training rate (Chen et al., ICML 2018)";
    db_mtl::DbMtlConfig => "db-mtl", "DB-MTL: log losses, and running-average task gradients scaled to the largest norm (Lin et al. 2023)";
    famo::FamoConfig => "famo", "FAMO: loss weights from task logits trained so that every task's log-loss falls at the same rate; one extra forward per step (Liu et al., NeurIPS 2023)";
    uw::UwConfig => "uw", "UW: uncertainty weighting, Σ ½e^(−s_k) L_k + ½s_k with learned log-variances s (Kendall et al., CVPR 2018)";
}
