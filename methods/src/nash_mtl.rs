//! Nash-MTL: the tasks bargain over the update; the Nash bargaining solution weights them.
//!
//! Paper: A. Navon, A. Shamsian, I. Achituve, H. Maron, K. Kawaguchi, G. Chechik and E. Fetaya,
//! "Multi-Task Learning as a Bargaining Game", ICML 2022, <https://arxiv.org/abs/2202.01017>.
//! The update Σ_k α_k g_k uses the α > 0 solving Gα = 1/α (element-wise), G the Gram matrix of
//! the task gradients; it is applied as the loss weights α (the authors' code back-propagates
//! Σ α_k L_k), so heads are weighted by α.
//!
//! How we solve it: Gα = 1/α is the stationarity condition of the strictly convex
//! f(α) = ½αᵀGα − Σ_k log α_k on α > 0, which we minimise by damped Newton steps to machine
//! precision ([`bargaining`]); the authors approximate it with 20 convex-concave iterations of
//! a cvxpy solve.
//!
//! Our reading:
//! - We solve (G + εI)α = 1/α with ε = 1e-6·max|G|. Where the exact solution exists that moves
//!   α by about 1e-6 relative; where it does not (opposite gradients, Gv = 0 for some v ≥ 0:
//!   the point is Pareto-stationary) it keeps the weights finite, about 1/√ε, and the solve
//!   well conditioned. G is scaled to max |entry| 1 for the solve (α scales back by
//!   1/√scale). All-zero gradients give the mean 1/K.
//! - `update_weights_every` n: the weights are recomputed every n-th step and reused between,
//!   and the gradients are only computed on those steps (the authors' option of that name).
//! - The authors' code also clips the shared gradient's norm to 1; clipping is a trainer
//!   setting, not part of the method, and is not done here.
//! - `gradients`: `params` (the paper) or `representation`.
//!
//! Cost per step: that of the chosen gradients on refresh steps (one backward otherwise), plus
//! an O(K³) Newton solve.

use serde::{Deserialize, Serialize};

use crate::method::{
    restore_state, typed_state, GradSource, Method, MethodConfig, Needs, ParamDoc, ScaleInvariance,
    StepInput, Update, UpdateKind,
};
use crate::gradients::Gradients;
use crate::solver::bargaining::{self, RIDGE};
use crate::step_checks::{gram, losses, require_tasks};
use crate::{Gram, Result};

/// Hyper-parameters of `nash-mtl`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NashMtlConfig {
    /// Recompute the weights every n steps (≥ 1); default 1.
    pub update_weights_every: u64,
    /// Gradients w.r.t. `params` (default) or `representation`.
    pub gradients: Gradients,
}

impl Default for NashMtlConfig {
    fn default() -> Self {
        Self {
            update_weights_every: 1,
            gradients: Gradients::Params,
        }
    }
}

impl MethodConfig for NashMtlConfig {
    fn params() -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "update_weights_every",
                kind: "integer ≥ 1",
                help: "recompute the bargaining weights every n steps, reuse them between (gradients only on those steps)",
            },
            Gradients::DOC,
        ]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.update_weights_every < 1 {
            return Err("field `update_weights_every` must be at least 1; the default is 1".into());
        }
        Ok(())
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        require_tasks("nash-mtl", num_tasks)?;
        Ok(Box::new(NashMtl {
            config: *self,
            k: num_tasks,
            state: NashState {
                steps: 0,
                alpha: vec![1.0 / num_tasks as f64; num_tasks],
            },
        }))
    }

    fn update_kind() -> UpdateKind {
        UpdateKind::FreeWeights
    }

    fn examples(_: usize) -> Vec<(String, serde_json::Value)> {
        let mut out = Gradients::examples();
        out.push((
            "update_weights_every 3".to_owned(),
            serde_json::json!({"update_weights_every": 3}),
        ));
        out
    }

    /// α scales as 1/c under one common factor c: no invariance, by definition.
    fn scale_invariance(&self) -> ScaleInvariance {
        ScaleInvariance::NONE
    }

    /// K = 2 by hand, with the ridge ε: subtracting the two equations (G + εI)α = 1/α gives
    /// (G₁₁ + ε)α₁² = (G₂₂ + ε)α₂², so α₂ = rα₁ with r = √((G₁₁ + ε)/(G₂₂ + ε)) and
    /// α₁ = 1/√(G₁₁ + ε + G₁₂r). None for steps between refreshes.
    fn two_task_reference(
        &self,
        gram: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        if self.update_weights_every != 1 {
            return Err("weights between refreshes are those of an earlier step");
        }
        let max = gram.max_abs();
        if max == 0.0 {
            return Ok(vec![0.5, 0.5]);
        }
        let eps = RIDGE * max;
        let (a, b, d) = (gram.get(0, 0) + eps, gram.get(0, 1), gram.get(1, 1) + eps);
        let r = (a / d).sqrt();
        let a1 = 1.0 / (a + b * r).sqrt();
        Ok(vec![a1, r * a1])
    }
}

/// Steps taken and the weights in use.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NashState {
    steps: u64,
    alpha: Vec<f64>,
}

/// The running method.
struct NashMtl {
    config: NashMtlConfig,
    k: usize,
    state: NashState,
}

impl NashMtl {
    fn refreshing(&self) -> bool {
        self.state.steps % self.config.update_weights_every == 0
    }
}

impl Method for NashMtl {
    fn needs(&self) -> Needs {
        if self.refreshing() {
            Needs::grads(self.config.gradients.source())
        } else {
            Needs::grads(GradSource::None)
        }
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        losses("nash-mtl", self.k, input)?;
        if self.refreshing() {
            self.state.alpha = bargaining::solve(gram("nash-mtl", self.k, input)?, 1.0);
        }
        self.state.steps += 1;
        Ok(Update::FreeWeights(self.state.alpha.clone()))
    }

    fn state(&self) -> serde_json::Value {
        typed_state(&self.state)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<()> {
        self.state = restore_state(
            state,
            |state: &NashState| state.alpha.len() == self.k,
            || format!("nash-mtl keeps {} weights", self.k),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refreshes every third step: gradients asked for and weights changed only then.
    #[test]
    fn weights_refresh_on_their_interval() {
        let mut m = NashMtlConfig {
            update_weights_every: 3,
            ..Default::default()
        }
        .build(2)
        .unwrap();
        let grams = [
            Gram::from_rows(&[vec![1.0f32, 0.0], vec![0.0, 2.0]]),
            Gram::from_rows(&[vec![3.0f32, 0.0], vec![1.0, 1.0]]),
        ];
        let mut seen = Vec::new();
        for step in 0..6u64 {
            let needs = m.needs().grads;
            let gram = (needs != GradSource::None).then_some(&grams[(step / 3) as usize]);
            assert_eq!(gram.is_some(), step % 3 == 0, "step {step}");
            let u = m.step(&StepInput::new(step, &[1.0, 1.0], gram)).unwrap();
            seen.push(u.coefficients().unwrap().to_vec());
        }
        assert_eq!(seen[0], seen[2]);
        assert_ne!(seen[2], seen[3]);
        assert_eq!(seen[3], seen[5]);
    }
}
