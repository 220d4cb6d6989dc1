//! DWA: dynamic weight average, loss weights from how fast each task's loss falls.
//!
//! Paper: S. Liu, E. Johns and A. J. Davison, "End-to-End Multi-Task Learning with Attention",
//! CVPR 2019, <https://arxiv.org/abs/1803.10704>, eq. (7):
//! w_k(t) = K · exp(r_k(t−1)/T) / Σ_i exp(r_i(t−1)/T), with r_k(t−1) = L_k(t−1) / L_k(t−2),
//! where L_k(t) is task k's mean training loss over epoch t and T the temperature. The first
//! two epochs use w_k = 1, as the paper sets.
//!
//! Our reading: the weights are free loss weights summing to K (not the simplex), so the
//! learning rate means what it means for the plain sum Σ L_k; a task whose earlier epoch loss
//! was 0 or not finite gets ratio 1 (no information). Cost: one backward pass per step.
//!
//! Hyper-parameters: `temperature`, float > 0, default 2 (the paper's).

use serde::{Deserialize, Serialize};

use crate::method::{
    restore_state, typed_state, GradSource, Method, MethodConfig, Needs, ParamDoc, StepInput, Update,
    UpdateKind,
};
use crate::step_checks::losses;
use crate::weights::softmax;
use crate::{Gram, Result};

/// Hyper-parameters of `dwa`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DwaConfig {
    /// Softmax temperature T > 0; default 2.
    pub temperature: f64,
}

impl Default for DwaConfig {
    fn default() -> Self {
        Self { temperature: 2.0 }
    }
}

impl MethodConfig for DwaConfig {
    fn params() -> &'static [ParamDoc] {
        &[ParamDoc {
            name: "temperature",
            kind: "float > 0",
            help: "softmax temperature T over the epoch loss ratios (the paper's 2)",
        }]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(format!(
                "field `temperature` must be a finite number > 0, got {}; the paper uses 2",
                self.temperature
            ));
        }
        Ok(())
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        Ok(Box::new(Dwa {
            config: *self,
            k: num_tasks,
            state: DwaState::default(),
        }))
    }

    fn update_kind() -> UpdateKind {
        UpdateKind::FreeWeights
    }

    fn examples(_: usize) -> Vec<(String, serde_json::Value)> {
        vec![
            ("defaults".to_owned(), serde_json::json!({})),
            (
                "temperature 0.5".to_owned(),
                serde_json::json!({"temperature": 0.5}),
            ),
        ]
    }

    fn two_task_reference(
        &self,
        _: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Err("the weights depend on the losses of earlier epochs")
    }
}

/// The mean training losses of the last two epochs, newest last.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DwaState {
    epoch_losses: Vec<Vec<f64>>,
}

/// The running method.
struct Dwa {
    config: DwaConfig,
    k: usize,
    state: DwaState,
}

impl Dwa {
    /// The weights for the current epoch.
    fn weights(&self) -> Vec<f64> {
        let [before, last] = match self.state.epoch_losses.as_slice() {
            [before, last] => [before, last],
            _ => return vec![1.0; self.k],
        };
        let ratio = |k: usize| {
            let r = last[k] / before[k];
            if r.is_finite() {
                r
            } else {
                1.0
            }
        };
        let z: Vec<f64> = (0..self.k)
            .map(|k| ratio(k) / self.config.temperature)
            .collect();
        softmax(&z).iter().map(|s| self.k as f64 * s).collect()
    }
}

impl Method for Dwa {
    fn needs(&self) -> Needs {
        Needs::grads(GradSource::None)
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        losses("dwa", self.k, input)?;
        Ok(Update::FreeWeights(self.weights()))
    }

    fn end_epoch(&mut self, _: usize, mean_losses: &[f64]) {
        let history = &mut self.state.epoch_losses;
        history.push(mean_losses.to_vec());
        if history.len() > 2 {
            history.remove(0);
        }
    }

    fn state(&self) -> serde_json::Value {
        typed_state(&self.state)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<()> {
        self.state = restore_state(
            state,
            |state: &DwaState| state.epoch_losses.len() <= 2 && state.epoch_losses.iter().all(|l| l.len() == self.k),
            || format!("dwa keeps up to 2 epochs of {} losses", self.k),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(m: &mut dyn Method) -> Vec<f64> {
        m.step(&StepInput::new(0, &[1.0, 1.0], None))
            .unwrap()
            .coefficients()
            .unwrap()
            .to_vec()
    }

    /// Golden values by hand: losses (2, 4) then (1, 3) give ratios (½, ¾); with T = 2,
    /// w₁ = 2·e^{1/4} / (e^{1/4} + e^{3/8}) = 2 / (1 + e^{1/8}) ≈ 0.93759.
    #[test]
    fn weights_follow_the_epoch_loss_ratios() {
        let mut m = DwaConfig::default().build(2).unwrap();
        assert_eq!(step(m.as_mut()), [1.0, 1.0], "first epoch");
        m.end_epoch(1, &[2.0, 4.0]);
        assert_eq!(step(m.as_mut()), [1.0, 1.0], "second epoch");
        m.end_epoch(2, &[1.0, 3.0]);
        let w = step(m.as_mut());
        let w1 = 2.0 / (1.0 + (0.125f64).exp());
        assert!(
            (w[0] - w1).abs() < 1e-12 && (w[1] - (2.0 - w1)).abs() < 1e-12,
            "{w:?}"
        );
        assert!((w[0] - 0.937_59).abs() < 1e-5);
    }

    #[test]
    fn restore_rejects_a_state_of_other_tasks() {
        let mut m = DwaConfig::default().build(3).unwrap();
        let bad = serde_json::json!({"epoch_losses": [[1.0, 2.0]]});
        assert!(m.restore(&bad).is_err());
    }
}
