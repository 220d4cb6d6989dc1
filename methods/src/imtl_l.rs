//! IMTL-L: impartial loss scaling, each loss multiplied by a learned e^{s_k} that the
//! regulariser −s_k keeps from collapsing.
//!
//! Paper: L. Liu, Y. Li, Z. Kuang, J.-H. Xue, Y. Chen, W. Yang, Q. Liao and W. Zhang, "Towards
//! Impartial Multi-task Learning", ICLR 2021, <https://openreview.net/forum?id=IMPnRXEWpvr>,
//! §3.2. Each task's loss becomes e^{s_k} L_k − s_k with s_k trained alongside the model; at
//! the optimum e^{s_k} = 1/L_k, so every scaled loss is 1 and no task dominates by its scale.
//! The method answers the free loss weights e^{s_k}/K and owns s, trained by the run's
//! optimiser on ∂/∂s_k = (e^{s_k} L_k − 1)/K.
//!
//! Our reading: the mean over tasks (the paper sums), so that s = 0 is `uniform`; s starts at
//! 0; the loss-scale half alone (`imtl-g` is the gradient half). Cost: one backward pass per
//! step. No hyper-parameters.

use serde::{Deserialize, Serialize};

use crate::method::{
    restore_state, typed_state, GradSource, Method, MethodConfig, Needs, ParamDoc, StepInput,
    Update, UpdateKind,
};
use crate::step_checks::losses;
use crate::{Gram, Result};

/// `imtl-l` takes no hyper-parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImtlLConfig {}

impl MethodConfig for ImtlLConfig {
    fn params() -> &'static [ParamDoc] {
        &[]
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        Ok(Box::new(ImtlL {
            state: ImtlLState {
                scales: vec![0.0; num_tasks],
                grad: vec![0.0; num_tasks],
            },
        }))
    }

    fn update_kind() -> UpdateKind {
        UpdateKind::FreeWeights
    }

    fn two_task_reference(
        &self,
        _: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Err("the weights come from log-scales the optimiser trains over the run")
    }
}

/// The log-scales s and the last step's gradient w.r.t. them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImtlLState {
    scales: Vec<f64>,
    grad: Vec<f64>,
}

/// The running method.
struct ImtlL {
    state: ImtlLState,
}

impl Method for ImtlL {
    fn needs(&self) -> Needs {
        Needs::grads(GradSource::None)
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        let k = self.state.scales.len();
        let losses = losses("imtl-l", k, input)?;
        let kf = k as f64;
        let weights: Vec<f64> = self.state.scales.iter().map(|s| s.exp() / kf).collect();
        self.state.grad = weights
            .iter()
            .zip(losses)
            .map(|(w, l)| w * l - 1.0 / kf)
            .collect();
        Ok(Update::FreeWeights(weights))
    }

    fn parameters(&self) -> Vec<f64> {
        self.state.scales.clone()
    }

    fn parameter_grads(&self) -> Vec<f64> {
        self.state.grad.clone()
    }

    fn set_parameters(&mut self, values: &[f64]) {
        self.state.scales = values.to_vec();
    }

    fn state(&self) -> serde_json::Value {
        typed_state(&self.state)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<()> {
        self.state = restore_state(
            state,
            |state: &ImtlLState| state.scales.len() == self.state.scales.len() && state.grad.len() == state.scales.len(),
            || format!("imtl-l keeps {} log-scales", self.state.scales.len()),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The objective (e^s L − s)/K: weights and the reported gradient against central
    /// differences of it, and the gradient vanishes at e^s = 1/L (hand derivation).
    #[test]
    fn gradient_follows_the_objective_and_vanishes_at_the_balance() {
        let mut m = ImtlLConfig {}.build(2).unwrap();
        let losses = [4.0, 0.5];
        m.set_parameters(&[0.3, (1.0f64 / 0.5).ln()]);
        let u = m.step(&StepInput::new(0, &losses, None)).unwrap();
        let g = m.parameter_grads();
        let objective = |s: f64, l: f64| (s.exp() * l - s) / 2.0;
        let h = 1e-6;
        let fd = (objective(0.3 + h, 4.0) - objective(0.3 - h, 4.0)) / (2.0 * h);
        assert!((g[0] - fd).abs() < 1e-8, "{} vs {fd}", g[0]);
        assert!(g[1].abs() < 1e-12, "balanced task: {}", g[1]);
        assert!((u.coefficients().unwrap()[0] - 0.3f64.exp() / 2.0).abs() < 1e-15);
    }
}
