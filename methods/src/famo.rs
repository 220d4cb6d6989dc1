//! FAMO: fast adaptive multitask optimisation, loss weights from task logits learned so that
//! every task's log-loss falls at the same rate, without per-task gradients.
//!
//! Paper: B. Liu, Y. Feng, P. Stone and Q. Liu, "FAMO: Fast Adaptive Multitask Optimization",
//! NeurIPS 2023, <https://arxiv.org/abs/2306.03792>, Algorithm 1. With logits ξ and
//! z = softmax(ξ), the model descends Σ_k z_k log L_k / c with c = Σ_k z_k / L_k, i.e. the loss
//! weights w_k = z_k / (c L_k), which lie on the simplex. After the optimiser step the same
//! batch's losses L′ are measured again (one more forward pass) and ξ takes a step of its own
//! optimiser (Adam, with weight decay γ) along the gradient of z·δ with
//! δ_k = log L_k − log L′_k, the tasks' log-loss decreases.
//!
//! Our reading: losses are offset by 1e-8 before the logarithm, as in the authors' code (whose
//! optional minimum losses are 0 here); ξ starts at 0 and its Adam (β = 0.9, 0.999, ε = 1e-8,
//! L2 weight decay added to the gradient as in PyTorch's Adam) is the method's own, kept with
//! its state, so a resumed run continues exactly. Cost per step: one backward pass plus one
//! forward pass after the step.
//!
//! Hyper-parameters: `w_lr`, the logits' learning rate, default 0.025; `gamma`, their weight
//! decay, default 0.001 (the authors' defaults).

use serde::{Deserialize, Serialize};

use crate::method::{
    restore_state, typed_state, GradSource, Method, MethodConfig, Needs, ParamDoc, StepInput, Update,
};
use crate::step_checks::losses;
use crate::weights::softmax;
use crate::{Gram, Result, Weights};

/// Offset of the losses before their logarithm.
const OFFSET: f64 = 1e-8;

/// Hyper-parameters of `famo`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FamoConfig {
    /// Learning rate of the task logits; default 0.025.
    pub w_lr: f64,
    /// Weight decay of the task logits; default 0.001.
    pub gamma: f64,
}

impl Default for FamoConfig {
    fn default() -> Self {
        Self {
            w_lr: 0.025,
            gamma: 0.001,
        }
    }
}

impl MethodConfig for FamoConfig {
    fn params() -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "w_lr",
                kind: "float > 0",
                help: "Adam learning rate of the task logits",
            },
            ParamDoc {
                name: "gamma",
                kind: "float ≥ 0",
                help: "weight decay of the task logits",
            },
        ]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(self.w_lr.is_finite() && self.w_lr > 0.0) {
            return Err(format!(
                "field `w_lr` must be a finite number > 0, got {}; the default is 0.025",
                self.w_lr
            ));
        }
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            return Err(format!(
                "field `gamma` must be a finite number ≥ 0, got {}; the default is 0.001",
                self.gamma
            ));
        }
        Ok(())
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        Ok(Box::new(Famo {
            config: *self,
            k: num_tasks,
            state: FamoState {
                logits: vec![0.0; num_tasks],
                m: vec![0.0; num_tasks],
                v: vec![0.0; num_tasks],
                t: 0,
                before: None,
            },
        }))
    }

    fn examples(_: usize) -> Vec<(String, serde_json::Value)> {
        vec![
            ("defaults".to_owned(), serde_json::json!({})),
            (
                "w_lr 0.5".to_owned(),
                serde_json::json!({"w_lr": 0.5, "gamma": 0.0}),
            ),
        ]
    }

    fn two_task_reference(
        &self,
        _: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Err("the weights come from logits trained on the run's loss decreases")
    }
}

/// The logits, their Adam moments and step count, and the losses of the step in flight.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FamoState {
    logits: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    t: u64,
    before: Option<Vec<f64>>,
}

/// The running method.
struct Famo {
    config: FamoConfig,
    k: usize,
    state: FamoState,
}

impl Method for Famo {
    fn needs(&self) -> Needs {
        Needs {
            after_step: true,
            ..Needs::grads(GradSource::None)
        }
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        let losses = losses("famo", self.k, input)?;
        let z = softmax(&self.state.logits);
        let inv: Vec<f64> = z
            .iter()
            .zip(losses)
            .map(|(z, l)| z / (l + OFFSET))
            .collect();
        let c: f64 = inv.iter().sum();
        self.state.before = Some(losses.to_vec());
        Ok(Update::Weights(Weights::normalized(
            &inv.iter().map(|x| x / c).collect::<Vec<_>>(),
        )?))
    }

    fn after_step(&mut self, after: &[f64]) -> Result<()> {
        let Some(before) = self.state.before.take() else {
            return Ok(());
        };
        let delta: Vec<f64> = before
            .iter()
            .zip(after)
            .map(|(b, a)| (b + OFFSET).ln() - (a + OFFSET).ln())
            .collect();
        let z = softmax(&self.state.logits);
        let zd: f64 = z.iter().zip(&delta).map(|(z, d)| z * d).sum();
        let s = &mut self.state;
        s.t += 1;
        let (b1, b2) = (0.9f64, 0.999f64);
        for k in 0..self.k {
            // ∂(z·δ)/∂ξ_k = z_k (δ_k − z·δ), plus L2 decay.
            let g = z[k] * (delta[k] - zd) + self.config.gamma * s.logits[k];
            s.m[k] = b1 * s.m[k] + (1.0 - b1) * g;
            s.v[k] = b2 * s.v[k] + (1.0 - b2) * g * g;
            let m_hat = s.m[k] / (1.0 - b1.powi(s.t as i32));
            let v_hat = s.v[k] / (1.0 - b2.powi(s.t as i32));
            s.logits[k] -= self.config.w_lr * m_hat / (v_hat.sqrt() + 1e-8);
        }
        Ok(())
    }

    fn state(&self) -> serde_json::Value {
        typed_state(&self.state)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<()> {
        self.state = restore_state(
            state,
            |state: &FamoState| [&state.logits, &state.m, &state.v].iter().all(|v| v.len() == self.k),
            || format!("famo keeps {} logits", self.k),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden values by hand. Weights: z = (½, ½), L = (1, 3): w ∝ (1, ⅓), w = (¾, ¼). Then
    /// task 1's log-loss falls by log 2 and task 2's not at all: δ = (log 2, 0), z·δ = ½ log 2,
    /// ∂/∂ξ = (¼ log 2, −¼ log 2); the first Adam step moves each logit by −w_lr·sign: task 1
    /// (which improved) loses weight.
    #[test]
    fn the_task_that_improved_less_gains_weight() {
        let mut m = FamoConfig {
            w_lr: 0.1,
            gamma: 0.0,
        }
        .build(2)
        .unwrap();
        let u = m.step(&StepInput::new(0, &[1.0, 3.0], None)).unwrap();
        let w = u.coefficients().unwrap();
        assert!(
            (w[0] - 0.75).abs() < 1e-6 && (w[1] - 0.25).abs() < 1e-6,
            "{w:?}"
        );
        m.after_step(&[0.5, 3.0]).unwrap();
        let logits = m.state()["logits"].clone();
        let l: Vec<f64> = serde_json::from_value(logits).unwrap();
        assert!(
            (l[0] + 0.1).abs() < 1e-6 && (l[1] - 0.1).abs() < 1e-6,
            "{l:?}"
        );
    }
}
