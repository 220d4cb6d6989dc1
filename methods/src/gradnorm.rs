//! GradNorm: loss weights trained so that the tasks' weighted gradient norms follow their
//! relative training rates.
//!
//! Paper: Z. Chen, V. Badrinarayanan, C.-Y. Lee and A. Rabinovich, "GradNorm: Gradient
//! Normalization for Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018,
//! <https://arxiv.org/abs/1711.02257>, §3. With n_k = ‖∇_W L_k‖ on the last shared layer W,
//! G_k = w_k n_k, their mean Ḡ, the inverse training rates r_k = L̃_k / mean(L̃) with
//! L̃_k = L_k(t)/L_k(0), the weights w descend L_grad = Σ_k |G_k − Ḡ r_k^α| with the target
//! Ḡ r_k^α held constant: ∂L_grad/∂w_k = sign(G_k − Ḡ r_k^α)·n_k. After each step the weights
//! are renormalised to Σ_k w_k = K.
//!
//! Our reading:
//! - The weights are the method's own parameters, trained by the run's optimiser (learning
//!   rate and schedule, own state), as the paper trains them with the network's; they are
//!   floored at 1e-8 before the renormalisation, which the paper leaves implicit.
//! - The answer is w/K, so that w = 1 is `uniform` (the mean) and learning rates compare.
//! - L(0) is the first step's training losses. `gradients`: `last-shared-layer` (the paper's,
//!   default), `params` or `representation`.
//!
//! Hyper-parameters: `alpha`, the asymmetry α ≥ 0, default 1.5; `gradients`. Cost per step: K
//! backward passes through the encoder (`representation`: one plus K through the heads).

use serde::{Deserialize, Serialize};

use crate::method::{
    restore_state, typed_state, Method, MethodConfig, Needs, ParamDoc, StepInput, Update, UpdateKind,
};
use crate::gradients::Gradients;
use crate::step_checks::{gram, losses, require_tasks};
use crate::{Gram, Result};

/// Hyper-parameters of `gradnorm`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GradNormConfig {
    /// Asymmetry α ≥ 0; default 1.5.
    pub alpha: f64,
    /// Gradients for the norms: `last-shared-layer` (default), `params` or `representation`.
    pub gradients: Gradients,
}

impl Default for GradNormConfig {
    fn default() -> Self {
        Self {
            alpha: 1.5,
            gradients: Gradients::LastSharedLayer,
        }
    }
}

impl MethodConfig for GradNormConfig {
    fn params() -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "alpha",
                kind: "float ≥ 0",
                help: "asymmetry α: how strongly slow tasks' gradient norms are pushed up (0: equal norms)",
            },
            Gradients::DOC,
        ]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(format!(
                "field `alpha` must be a finite number ≥ 0, got {}; the paper's default is 1.5",
                self.alpha
            ));
        }
        Ok(())
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        require_tasks("gradnorm", num_tasks)?;
        Ok(Box::new(GradNorm {
            config: *self,
            k: num_tasks,
            state: GradNormState {
                weights: vec![1.0; num_tasks],
                initial: None,
                grad: vec![0.0; num_tasks],
            },
        }))
    }

    fn update_kind() -> UpdateKind {
        UpdateKind::FreeWeights
    }

    fn examples(_: usize) -> Vec<(String, serde_json::Value)> {
        vec![
            ("defaults".to_owned(), serde_json::json!({})),
            (
                "params".to_owned(),
                serde_json::json!({"gradients": "params"}),
            ),
            ("alpha 0".to_owned(), serde_json::json!({"alpha": 0.0})),
        ]
    }

    fn two_task_reference(
        &self,
        _: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Err("the weights are parameters the optimiser trains over the run")
    }
}

/// The weights, the first step's losses and the last step's gradient w.r.t. the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GradNormState {
    weights: Vec<f64>,
    initial: Option<Vec<f64>>,
    grad: Vec<f64>,
}

/// The running method.
struct GradNorm {
    config: GradNormConfig,
    k: usize,
    state: GradNormState,
}

impl GradNorm {
    /// ∂L_grad/∂w at the current weights, for gradient norms `norms` and `losses`.
    fn weight_gradient(&self, norms: &[f64], losses: &[f64]) -> Vec<f64> {
        let k = self.k as f64;
        let initial = self.state.initial.as_deref().unwrap_or(losses);
        let ratio: Vec<f64> = losses
            .iter()
            .zip(initial)
            .map(|(l, l0)| if *l0 > 0.0 { l / l0 } else { 1.0 })
            .collect();
        let mean_ratio = ratio.iter().sum::<f64>() / k;
        let g: Vec<f64> = self
            .state
            .weights
            .iter()
            .zip(norms)
            .map(|(w, n)| w * n)
            .collect();
        let mean_g = g.iter().sum::<f64>() / k;
        (0..self.k)
            .map(|i| {
                let r = if mean_ratio > 0.0 {
                    ratio[i] / mean_ratio
                } else {
                    1.0
                };
                let target = mean_g * r.powf(self.config.alpha);
                let diff = g[i] - target;
                if diff > 0.0 {
                    norms[i]
                } else if diff < 0.0 {
                    -norms[i]
                } else {
                    0.0
                }
            })
            .collect()
    }
}

impl Method for GradNorm {
    fn needs(&self) -> Needs {
        Needs::grads(self.config.gradients.source())
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        let losses = losses("gradnorm", self.k, input)?;
        let norms = gram("gradnorm", self.k, input)?.norms();
        if self.state.initial.is_none() {
            self.state.initial = Some(losses.to_vec());
        }
        self.state.grad = self.weight_gradient(&norms, losses);
        let k = self.k as f64;
        Ok(Update::FreeWeights(
            self.state.weights.iter().map(|w| w / k).collect(),
        ))
    }

    fn parameters(&self) -> Vec<f64> {
        self.state.weights.clone()
    }

    fn parameter_grads(&self) -> Vec<f64> {
        self.state.grad.clone()
    }

    fn set_parameters(&mut self, values: &[f64]) {
        let floored: Vec<f64> = values.iter().map(|v| v.max(1e-8)).collect();
        let sum: f64 = floored.iter().sum();
        let k = self.k as f64;
        self.state.weights = floored.iter().map(|v| v * k / sum).collect();
    }

    fn state(&self) -> serde_json::Value {
        typed_state(&self.state)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<()> {
        self.state = restore_state(
            state,
            |state: &GradNormState| state.weights.len() == self.k && state.grad.len() == self.k,
            || format!("gradnorm keeps {} weights", self.k),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand, K = 2, α = 1: norms (2, 1), w = (1, 1), losses halved for task 1 and unchanged
    /// for task 2 since step 0: L̃ = (½, 1), r = (⅔, 4/3); G = (2, 1), Ḡ = 3/2, targets (1, 2):
    /// task 1 is above its target (gradient +2), task 2 below (−1). Renormalising (0.5, 2)
    /// gives (0.4, 1.6).
    #[test]
    fn slow_tasks_gain_weight() {
        let mut m = GradNormConfig {
            alpha: 1.0,
            ..Default::default()
        }
        .build(2)
        .unwrap();
        let gram = Gram::from_rows(&[vec![2.0f32, 0.0], vec![0.0, 1.0]]);
        m.step(&StepInput::new(0, &[2.0, 2.0], Some(&gram)))
            .unwrap();
        m.step(&StepInput::new(1, &[1.0, 2.0], Some(&gram)))
            .unwrap();
        assert_eq!(m.parameter_grads(), [2.0, -1.0]);
        m.set_parameters(&[0.5, 2.0]);
        let w = m.parameters();
        assert!(
            (w[0] - 0.4).abs() < 1e-12 && (w[1] - 1.6).abs() < 1e-12,
            "{w:?}"
        );
    }
}
