//! MGDA: task weights λ from the min-norm point of the convex hull of the per-task gradients
//! w.r.t. the shared parameters.
//!
//! Papers: J.-A. Désidéri, "Multiple-gradient descent algorithm (MGDA) for multiobjective
//! optimization", Comptes Rendus Mathématique 350 (2012); O. Sener and V. Koltun, "Multi-Task
//! Learning as Multi-Objective Optimization", NeurIPS 2018, <https://arxiv.org/abs/1810.04650>.
//! Each step solves λ* = argmin_{λ ∈ Δ} ‖Σ_k λ_k g_k / c_k‖² on the Gram matrix of the
//! normalised gradients: closed form for K = 2, an exact active-set solve (Wolfe's min-norm-point
//! algorithm) for K ≥ 3 where the paper's Algorithm 2 runs Frank–Wolfe; see
//! [`solver::min_norm`](mod@crate::solver::min_norm). The
//! trainer then back-propagates Σ_k λ_k L_k on the **raw** losses, as the reference code does;
//! −Σ λ_k g_k is a common descent direction unless the point is Pareto-stationary.
//!
//! Our reading, where the paper leaves room:
//! - The normalisation c_k is that of the reference code's `gradient_normalizers`
//!   ([`Normalization`]), and its default here is `loss+`, the value in the reference code's
//!   MultiMNIST configuration; the paper's Algorithm 2 uses raw gradients (`none`). With `l2`
//!   and K = 2 the answer is always λ = (½, ½) (the min-norm point of two unit vectors), i.e.
//!   uniform weights.
//! - A zero gradient (every λ optimal) gives uniform weights when all gradients are zero, and
//!   otherwise all weight on the zero-gradient task(s), split equally — the point is
//!   Pareto-stationary.
//! - Ties between equally good weights are broken towards uniform weights and equal shares for
//!   duplicated tasks (see the solver's docs), so K identical gradients with equal losses give
//!   λ = 1/K for every normalisation.
//! - A Gram matrix with non-finite entries is an error (diverged gradients), not a fallback.
//!
//! `mgda-ub` ([`crate::mgda_ub`]) is the same solve on gradients w.r.t. the shared
//! representation; both share [`MinNormWeighting`].
//!
//! Hyper-parameters:
//! - `normalization`: `none | l2 | loss | loss+`, default `loss+`.
//! - `max_iter`: cap on the exact solver's major cycles (K ≥ 3), integer ≥ 1, default 250; the
//!   solve needs about as many as the optimum has active tasks.
//! - `tol`: retired, float > 0, default 1e-5, no effect. It was the stopping tolerance of the
//!   Frank–Wolfe loop the exact solver replaced, and stays accepted so that configurations and
//!   records written before keep their identity.
//! - `min_weight`: two tasks only, clamp the weights to [`min_weight`, 1 − `min_weight`], float
//!   in [0, ½], default 0 (the exact min-norm point). `0.001` reproduces the reference code,
//!   whose K = 2 solver answers 0.999 / 0.001 instead of 1 / 0 when the min-norm point is one
//!   of the two gradients (`_min_norm_element_from2` in `min_norm_solvers.py`), so no task's
//!   weight ever reaches 0. Refused for K ≠ 2, where the reference applies no such floor to
//!   the answer.
//! - `heads`: `weighted | own`, default `weighted`. What head k receives: λ_k ∇L_k, the
//!   reference code's backward of Σ λ_k L_k, or ∇L_k, the paper's Algorithm 2 (task-specific
//!   parameters descend their own loss). With `weighted` and `min_weight = 0` a two-task vertex
//!   λ = (1, 0) leaves the other head without gradient for that step; either remedy keeps
//!   every head training (`bench-suite/src/step.rs`,
//!   `mgda_ub_heads_keep_training_under_the_floor_or_their_own_gradients`).
//!
//! Cost per step: K backward passes through the whole network (one per task gradient w.r.t. the
//! shared parameters θ) plus the weighted backward, and an O(K·D) Gram matrix; the solve itself
//! is negligible (O(K²)).
//!
//! The shared 2-task example, g_1 = (1, 0) and g_2 = (0, 2), without normalisation:
//! ```
//! use mtl_methods::{find, Gram, StepInput, Update};
//! let mut mgda = find("mgda")?.build(&serde_json::json!({"normalization": "none"}), 2)?;
//! let gram = Gram::from_rows(&[vec![1.0f32, 0.0], vec![0.0, 2.0]]);
//! let step = StepInput::new(0, &[1.0, 1.0], Some(&gram));
//! let w = mgda.step(&step)?.into_weights().unwrap();
//! // The min-norm point of the segment is 0.8·g_1 + 0.2·g_2 = (0.8, 0.4).
//! assert!((w.as_slice()[0] - 0.8).abs() < 1e-12 && (w.as_slice()[1] - 0.2).abs() < 1e-12);
//! # Ok::<(), mtl_methods::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use serde_json::{json, Value};

use crate::method::{
    GradSource, HeadScaling, Method, MethodConfig, Needs, ParamDoc, ScaleInvariance, StepInput,
    Update,
};
use crate::solver::min_norm::{min_norm, MinNormConfig, MinNormSolution, DEFAULT_MAX_ITER};
use crate::solver::Normalization;
use crate::{Error, Gram, Result, Weights};

/// Hyper-parameters of `mgda` (and, wrapped, of `mgda-ub`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MgdaConfig {
    /// Gradient scaling before the solve; default `loss+` (the reference code's).
    pub normalization: Normalization,
    /// Cap on the exact solver's major cycles (K ≥ 3), ≥ 1; default 250.
    pub max_iter: usize,
    /// Retired (no effect), > 0; default 1e-5: the Frank–Wolfe tolerance before the exact
    /// solver, still accepted and written so that older cell ids stay.
    pub tol: f64,
    /// Two tasks only: clamp λ to [`min_weight`, 1 − `min_weight`], in [0, ½]; default 0.
    /// Left out of the canonical JSON at 0, so cell ids of configurations without it stay.
    #[serde(skip_serializing_if = "is_zero")]
    pub min_weight: f64,
    /// What the task heads receive: `weighted` (λ_k ∇L_k, the reference code's backward of
    /// Σ λ_k L_k; default) or `own` (∇L_k, the paper's Algorithm 2). Left out of the canonical
    /// JSON at its default, so cell ids of configurations without it stay.
    #[serde(skip_serializing_if = "HeadScaling::is_weighted")]
    pub heads: HeadScaling,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// Default of the retired `tol` field (the Frank–Wolfe tolerance of the reference code).
pub const DEFAULT_TOL: f64 = 1e-5;

impl Default for MgdaConfig {
    fn default() -> Self {
        Self {
            normalization: Normalization::LossPlus,
            max_iter: DEFAULT_MAX_ITER,
            tol: DEFAULT_TOL,
            min_weight: 0.0,
            heads: HeadScaling::Weighted,
        }
    }
}

impl MgdaConfig {
    /// The solver settings.
    pub fn min_norm(&self) -> MinNormConfig {
        MinNormConfig {
            max_iter: self.max_iter,
            min_weight: self.min_weight,
        }
    }

    /// The hyper-parameter docs shared by `mgda` and `mgda-ub`.
    pub const PARAMS: &'static [ParamDoc] = &[
        ParamDoc {
            name: "normalization",
            kind: "none | l2 | loss | loss+",
            help: "gradient scaling before the min-norm solve: 1, ‖g_k‖, L_k or L_k·‖g_k‖",
        },
        ParamDoc {
            name: "max_iter",
            kind: "integer ≥ 1",
            help: "cap on the exact min-norm solver's major cycles for K ≥ 3 tasks",
        },
        ParamDoc {
            name: "tol",
            kind: "float > 0",
            help: "retired, no effect: the Frank–Wolfe tolerance before the exact solver (kept so that older configs and records keep their identity)",
        },
        ParamDoc {
            name: "min_weight",
            kind: "float in [0, 0.5]",
            help: "2 tasks only: clamp λ to [min_weight, 1 − min_weight]; 0.001 = Sener & Koltun's code (default 0: exact)",
        },
        ParamDoc {
            name: "heads",
            kind: "weighted | own",
            help: "what head k gets: λ_k ∇L_k (the reference code's backward of Σ λ_k L_k) or ∇L_k (the paper's Algorithm 2, every head trains at every step); default weighted",
        },
    ];

    /// Range checks shared by `mgda` and `mgda-ub`; the message names the field.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.max_iter < 1 {
            return Err(format!(
                "field `max_iter` must be at least 1, got {}; the default is {DEFAULT_MAX_ITER}",
                self.max_iter
            ));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(format!(
                "field `tol` must be a finite number > 0, got {}; the default is {DEFAULT_TOL:e}",
                self.tol
            ));
        }
        if !(0.0..=0.5).contains(&self.min_weight) {
            return Err(format!(
                "field `min_weight` must be in [0, 0.5], got {}; the default is 0 and Sener & Koltun's code uses 0.001",
                self.min_weight
            ));
        }
        Ok(())
    }
}

impl MethodConfig for MgdaConfig {
    fn params() -> &'static [ParamDoc] {
        Self::PARAMS
    }

    fn validate(&self) -> std::result::Result<(), String> {
        self.check()
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        Ok(Box::new(MinNormWeighting::new(
            "mgda",
            *self,
            num_tasks,
            GradSource::Params,
        )?))
    }

    fn examples(num_tasks: usize) -> Vec<(String, Value)> {
        Self::variants(num_tasks)
    }

    fn scale_invariance(&self) -> ScaleInvariance {
        self.scaling()
    }

    fn head_scaling(&self) -> HeadScaling {
        self.heads
    }

    fn two_task_reference(
        &self,
        gram: &Gram,
        losses: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Ok(self.two_task_closed_form(gram, losses))
    }
}

/// What the shared property suite checks of `mgda` and `mgda-ub` (both declare these).
impl MgdaConfig {
    /// One variant per normalisation, the reference code's `loss+` first; for K = 2 also `none`
    /// and `loss+` with the reference code's `min_weight = 0.001`.
    pub fn variants(num_tasks: usize) -> Vec<(String, Value)> {
        let mut order = vec![Normalization::LossPlus];
        order.extend(
            Normalization::ALL
                .iter()
                .filter(|n| **n != Normalization::LossPlus),
        );
        let mut variants: Vec<(String, Value)> = order
            .iter()
            .map(|n| {
                (
                    n.as_str().to_owned(),
                    json!({ "normalization": n.as_str() }),
                )
            })
            .collect();
        variants.push((
            "loss+ heads own".to_owned(),
            json!({ "normalization": "loss+", "heads": "own" }),
        ));
        // Sener & Koltun's two-task floor, defined for K = 2 only.
        if num_tasks == 2 {
            for n in [Normalization::None, Normalization::LossPlus] {
                variants.push((
                    format!("{} min_weight 0.001", n.as_str()),
                    json!({ "normalization": n.as_str(), "min_weight": 0.001 }),
                ));
            }
        }
        variants
    }

    /// The min-norm point of c·G is c times that of G, at the same λ. Per-task factors change
    /// the hull unless the normalisation divides them out (‖g_k‖ in `l2` and `loss+`, where it
    /// is guarded apart from L_k, so it divides out even when the guard rejects the loss).
    pub fn scaling(&self) -> ScaleInvariance {
        ScaleInvariance {
            common: true,
            per_task: matches!(
                self.normalization,
                Normalization::L2 | Normalization::LossPlus
            ),
        }
    }

    /// λ for two tasks, written out apart from the solver: Sener & Koltun (2018), Algorithm 1,
    /// on the Gram matrix of g_k / c_k, λ₁ = clamp((M₂₂ − M₁₂) / (M₁₁ + M₂₂ − 2M₁₂), 0, 1), or ½
    /// when the two normalised gradients coincide (denominator ≤ 1e-10 · max diagonal). The
    /// factors c_k follow the documented normalisation rule: each of L_k and ‖g_k‖ is used when
    /// finite and in [1e-150, 1e150], else replaced by 1, and the `loss+` product is clamped
    /// into that range. With `min_weight` m the smaller weight is raised to m (the reference
    /// code's 0.999 / 0.001 at a vertex, `_min_norm_element_from2` in `min_norm_solvers.py`).
    fn two_task_closed_form(&self, gram: &Gram, losses: &[f64]) -> Vec<f64> {
        let guarded = |c: f64| {
            if c.is_finite() && (1e-150..=1e150).contains(&c) {
                c
            } else {
                1.0
            }
        };
        let c: Vec<f64> = (0..2)
            .map(|i| {
                let (norm, loss) = (gram.get(i, i).sqrt(), losses[i]);
                match self.normalization {
                    Normalization::None => 1.0,
                    Normalization::L2 => guarded(norm),
                    Normalization::Loss => guarded(loss),
                    Normalization::LossPlus => (guarded(loss) * guarded(norm)).clamp(1e-150, 1e150),
                }
            })
            .collect();
        let m11 = gram.get(0, 0) / (c[0] * c[0]);
        let m12 = gram.get(0, 1) / (c[0] * c[1]);
        let m22 = gram.get(1, 1) / (c[1] * c[1]);
        let denom = m11 + m22 - 2.0 * m12;
        let l1 = if denom <= 1e-10 * m11.max(m22) {
            0.5
        } else {
            ((m22 - m12) / denom).clamp(0.0, 1.0)
        };
        let m = self.min_weight;
        if l1 < m {
            vec![m, 1.0 - m]
        } else if 1.0 - l1 < m {
            vec![1.0 - m, m]
        } else {
            vec![l1, 1.0 - l1]
        }
    }
}

/// Min-norm task weighting on a Gram matrix: the running form of `mgda` and `mgda-ub`, which
/// differ only in the gradients the trainer computes ([`GradSource`]).
#[derive(Debug, Clone)]
pub struct MinNormWeighting {
    name: &'static str,
    config: MgdaConfig,
    num_tasks: usize,
    source: GradSource,
}

impl MinNormWeighting {
    /// The weighting for `num_tasks` ≥ 1 tasks, registered as `name`, asking for `source`.
    pub fn new(
        name: &'static str,
        config: MgdaConfig,
        num_tasks: usize,
        source: GradSource,
    ) -> Result<Self> {
        if num_tasks == 0 {
            return Err(Error::InvalidConfig {
                method: name.to_owned(),
                message: "needs at least one task, got 0".to_owned(),
            });
        }
        if config.min_weight > 0.0 && num_tasks != 2 {
            return Err(Error::InvalidConfig {
                method: name.to_owned(),
                message: format!(
                    "field `min_weight` applies to 2 tasks only (the reference code's two-task closed form); this dataset has {num_tasks}. Remove it or set it to 0"
                ),
            });
        }
        Ok(Self {
            name,
            config,
            num_tasks,
            source,
        })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &MgdaConfig {
        &self.config
    }

    /// Normalises `gram` with the losses and solves the min-norm problem, with diagnostics.
    pub fn solve(&self, gram: &Gram, losses: &[f64]) -> Result<MinNormSolution> {
        let k = self.num_tasks;
        for got in [losses.len(), gram.k()] {
            if got != k {
                return Err(Error::TaskCount {
                    method: self.name.to_owned(),
                    expected: k,
                    got,
                });
            }
        }
        if gram.as_slice().iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteGram {
                method: self.name.to_owned(),
            });
        }
        let normalised = self.config.normalization.apply(gram, losses);
        Ok(min_norm(&normalised, &self.config.min_norm()))
    }

    /// The task weights λ for one step.
    pub fn weights(&self, gram: &Gram, losses: &[f64]) -> Result<Weights> {
        Weights::simplex(self.solve(gram, losses)?.weights)
    }
}

impl Method for MinNormWeighting {
    fn needs(&self) -> Needs {
        Needs::grads(self.source)
    }

    fn head_scaling(&self) -> HeadScaling {
        self.config.heads
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        if input.losses.len() != self.num_tasks {
            return Err(Error::TaskCount {
                method: self.name.to_owned(),
                expected: self.num_tasks,
                got: input.losses.len(),
            });
        }
        let gram = input.gram.ok_or_else(|| Error::MissingGram {
            method: self.name.to_owned(),
        })?;
        Ok(Update::Weights(self.weights(gram, input.losses)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_reference_code() {
        let c = MgdaConfig::default();
        assert_eq!(c.normalization, Normalization::LossPlus);
        assert_eq!((c.max_iter, c.tol), (250, 1e-5));
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"normalization": "loss+", "max_iter": 250, "tol": 1e-5})
        );
    }

    #[test]
    fn validate_names_the_field() {
        let bad = MgdaConfig {
            max_iter: 0,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("max_iter"));
        for tol in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let bad = MgdaConfig {
                tol,
                ..Default::default()
            };
            assert!(bad.validate().unwrap_err().contains("tol"), "{tol}");
        }
        assert!(MgdaConfig::default().validate().is_ok());
    }

    #[test]
    fn min_weight_is_checked_and_left_out_at_zero() {
        for bad in [-0.1, 0.6, f64::NAN] {
            let c = MgdaConfig {
                min_weight: bad,
                ..Default::default()
            };
            assert!(c.validate().unwrap_err().contains("min_weight"), "{bad}");
        }
        let c = MgdaConfig {
            min_weight: 0.001,
            ..Default::default()
        };
        assert_eq!(serde_json::to_value(c).unwrap()["min_weight"], 0.001);
        assert!(c.build(2).is_ok());
        for k in [1, 3] {
            let err = c.build(k).err().unwrap().to_string();
            assert!(
                err.contains("min_weight") && err.contains("2 tasks"),
                "{err}"
            );
        }
    }

    #[test]
    fn min_weight_gives_the_reference_floor_at_a_vertex() {
        // g1 = (1, 0), g2 = (2, 1), no normalisation: the exact answer is (1, 0).
        let gram = Gram::from_rows(&[vec![1.0f32, 0.0], vec![2.0, 1.0]]);
        let weights = |min_weight: f64| {
            let config = MgdaConfig {
                normalization: Normalization::None,
                min_weight,
                ..Default::default()
            };
            MinNormWeighting::new("mgda", config, 2, GradSource::Params)
                .unwrap()
                .weights(&gram, &[1.0, 1.0])
                .unwrap()
                .into_vec()
        };
        assert_eq!(weights(0.0), vec![1.0, 0.0]);
        assert_eq!(weights(0.001), vec![0.999, 0.001]);
    }

    #[test]
    fn needs_parameter_gradients() {
        let m = MgdaConfig::default().build(3).unwrap();
        assert_eq!(m.needs().grads, GradSource::Params);
    }

    #[test]
    fn zero_tasks_is_rejected() {
        assert!(MgdaConfig::default().build(0).is_err());
    }

    #[test]
    fn step_checks_counts_and_gram() {
        let mut m = MgdaConfig::default().build(2).unwrap();
        let mut step_err = |losses: &[f64], gram: Option<&Gram>| {
            m.step(&StepInput::new(0, losses, gram)).unwrap_err()
        };
        let gram = Gram::from_rows(&[vec![1.0f32, 0.0], vec![0.0, 1.0]]);
        let three = Gram::from_rows(&[vec![1.0f32], vec![1.0], vec![1.0]]);
        let nan = Gram::from_matrix(2, vec![1.0, f64::NAN, f64::NAN, 1.0]).unwrap();
        let err = step_err(&[1.0], Some(&gram));
        assert!(
            matches!(
                err,
                Error::TaskCount {
                    expected: 2,
                    got: 1,
                    ..
                }
            ),
            "{err}"
        );
        let err = step_err(&[1.0, 1.0], Some(&three));
        assert!(
            matches!(
                err,
                Error::TaskCount {
                    expected: 2,
                    got: 3,
                    ..
                }
            ),
            "{err}"
        );
        let err = step_err(&[1.0, 1.0], None);
        assert!(matches!(err, Error::MissingGram { .. }), "{err}");
        let err = step_err(&[1.0, 1.0], Some(&nan));
        assert!(err.to_string().contains("non-finite"), "{err}");
    }

    #[test]
    fn loss_normalisation_shifts_weight_to_the_larger_loss() {
        // Orthogonal unit gradients; dividing by L_k shrinks the high-loss task's gradient,
        // and the min-norm point then leans on it: λ ∝ L_k² here.
        let w = MinNormWeighting::new(
            "mgda",
            MgdaConfig {
                normalization: Normalization::Loss,
                ..Default::default()
            },
            2,
            GradSource::Params,
        )
        .unwrap();
        let gram = Gram::from_rows(&[vec![1.0f32, 0.0], vec![0.0, 1.0]]);
        let lambda = w.weights(&gram, &[2.0, 1.0]).unwrap();
        assert!((lambda.as_slice()[0] - 0.8).abs() < 1e-12, "{lambda:?}");
    }
}
