//! UW: uncertainty weighting, each task's loss divided by a learned variance.
//!
//! Paper: A. Kendall, Y. Gal and R. Cipolla, "Multi-Task Learning Using Uncertainty to Weigh
//! Losses for Scene Geometry and Semantics", CVPR 2018, <https://arxiv.org/abs/1705.07115>.
//! With s_k = log σ_k² trained with the model, the loss is
//! Σ_k ½·e^{−s_k}·L_k + ½·s_k, so the method answers the free loss weights w_k = ½·e^{−s_k}
//! and owns the parameters s, which the run's optimiser trains on
//! ∂/∂s_k = ½ − ½·e^{−s_k}·L_k (at the optimum e^{s_k} = L_k).
//!
//! Our reading: one form for every task, the paper's regression form (its classification form
//! differs by a factor 2 on L_k, which only shifts s_k by log 2 at the optimum); s starts at
//! `init` (default 0, σ = 1: weights ½). The parameters are trained by the run's optimiser
//! with the run's learning rate and schedule but their own optimiser state, and come back with
//! the method's state. Cost: one backward pass per step.
//!
//! Hyper-parameters: `init`, float in [−10, 10], default 0.

use serde::{Deserialize, Serialize};

use crate::method::{
    restore_state, typed_state, GradSource, Method, MethodConfig, Needs, ParamDoc, StepInput, Update,
    UpdateKind,
};
use crate::step_checks::losses;
use crate::{Gram, Result};

/// Hyper-parameters of `uw`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UwConfig {
    /// Initial log-variance s_k = log σ_k² of every task; default 0.
    pub init: f64,
}

impl MethodConfig for UwConfig {
    fn params() -> &'static [ParamDoc] {
        &[ParamDoc {
            name: "init",
            kind: "float in [-10, 10]",
            help: "initial log-variance s_k = log σ_k² of every task (weights ½·e^(−s_k))",
        }]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(-10.0..=10.0).contains(&self.init) {
            return Err(format!(
                "field `init` must be in [-10, 10], got {}; the default is 0",
                self.init
            ));
        }
        Ok(())
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        Ok(Box::new(Uw {
            k: num_tasks,
            state: UwState {
                log_var: vec![self.init; num_tasks],
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
            ("init -1".to_owned(), serde_json::json!({"init": -1.0})),
        ]
    }

    fn two_task_reference(
        &self,
        _: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Err("the weights come from log-variances the optimiser trains over the run")
    }
}

/// The log-variances and the gradient of the last step w.r.t. them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UwState {
    log_var: Vec<f64>,
    grad: Vec<f64>,
}

/// The running method.
struct Uw {
    k: usize,
    state: UwState,
}

impl Method for Uw {
    fn needs(&self) -> Needs {
        Needs::grads(GradSource::None)
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        let losses = losses("uw", self.k, input)?;
        let weights: Vec<f64> = self
            .state
            .log_var
            .iter()
            .map(|s| 0.5 * (-s).exp())
            .collect();
        self.state.grad = weights
            .iter()
            .zip(losses)
            .map(|(w, l)| 0.5 - w * l)
            .collect();
        Ok(Update::FreeWeights(weights))
    }

    fn parameters(&self) -> Vec<f64> {
        self.state.log_var.clone()
    }

    fn parameter_grads(&self) -> Vec<f64> {
        self.state.grad.clone()
    }

    fn set_parameters(&mut self, values: &[f64]) {
        self.state.log_var = values.to_vec();
    }

    fn state(&self) -> serde_json::Value {
        typed_state(&self.state)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<()> {
        self.state = restore_state(
            state,
            |state: &UwState| state.log_var.len() == self.k && state.grad.len() == self.k,
            || format!("uw keeps {} log-variances", self.k),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The objective ½e^{−s}L + ½s: weights and the reported gradient against central finite
    /// differences of it (an independent computation).
    #[test]
    fn weights_and_parameter_gradient_follow_the_objective() {
        let mut m = UwConfig { init: 0.3 }.build(2).unwrap();
        m.set_parameters(&[0.3, -1.2]);
        let losses = [2.5, 0.4];
        let u = m.step(&StepInput::new(0, &losses, None)).unwrap();
        let grads = m.parameter_grads();
        let objective = |s: f64, l: f64| 0.5 * (-s).exp() * l + 0.5 * s;
        for (k, s) in [0.3f64, -1.2].into_iter().enumerate() {
            assert!((u.coefficients().unwrap()[k] - 0.5 * (-s).exp()).abs() < 1e-15);
            let h = 1e-6;
            let fd = (objective(s + h, losses[k]) - objective(s - h, losses[k])) / (2.0 * h);
            assert!((grads[k] - fd).abs() < 1e-8, "{k}: {} vs {fd}", grads[k]);
        }
    }
}
