//! STCH: smooth Tchebycheff scalarization, a log-sum-exp smoothing of the weighted max loss.
//!
//! Paper: X. Lin, X. Zhang, Z. Yang, F. Liu, Z. Wang and Q. Zhang, "Smooth Tchebycheff
//! Scalarization for Multi-Objective Optimization", ICML 2024,
//! <https://arxiv.org/abs/2402.19078>, eq. (5): g_μ = μ log Σ_k exp(p_k (L_k − z_k)/μ), which
//! tends to the Chebyshev max_k p_k (L_k − z_k) as μ → 0 and is smooth for μ > 0. Its gradient
//! is Σ_k w_k ∇L_k with w_k = p_k softmax_k(p∘(L − z)/μ), the free loss weights this method
//! answers.
//!
//! Our reading: ideal point z = 0 on the raw training losses (the authors' MTL code also
//! normalises the losses by their first-epoch average; that warm-up is not part of the
//! definition and is not done here); μ = 1 by default, on the scale of the losses here. Cost:
//! one backward pass per step.
//!
//! Hyper-parameters: `mu`, float > 0 (default 1); `preference`, K floats > 0 summing to 1
//! (default uniform).

use serde::{Deserialize, Serialize};

use crate::chebyshev::Preference;
use crate::method::{
    GradSource, Method, MethodConfig, Needs, ParamDoc, Property, StepInput, Update, UpdateKind,
};
use crate::step_checks::losses;
use crate::weights::softmax;
use crate::{Gram, Result};

/// Hyper-parameters of `stch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StchConfig {
    /// Smoothing μ > 0; default 1.
    pub mu: f64,
    /// Preference p (default uniform); left out of the canonical JSON when uniform.
    #[serde(skip_serializing_if = "Preference::is_uniform")]
    pub preference: Preference,
}

impl Default for StchConfig {
    fn default() -> Self {
        Self {
            mu: 1.0,
            preference: Preference(None),
        }
    }
}

impl MethodConfig for StchConfig {
    fn params() -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "mu",
                kind: "float > 0",
                help: "smoothing μ of the log-sum-exp (→ 0: Chebyshev)",
            },
            Preference::DOC,
        ]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(self.mu.is_finite() && self.mu > 0.0) {
            return Err(format!(
                "field `mu` must be a finite number > 0, got {}; the default is 1",
                self.mu
            ));
        }
        Ok(())
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        let p = self.preference.resolve("stch", num_tasks)?;
        Ok(Box::new(Stch { p, mu: self.mu }))
    }

    fn update_kind() -> UpdateKind {
        UpdateKind::FreeWeights
    }

    fn examples(k: usize) -> Vec<(String, serde_json::Value)> {
        let mut out = Preference::examples(k);
        out.push(("mu 0.05".to_owned(), serde_json::json!({"mu": 0.05})));
        out
    }

    fn permutation_equivariant(&self) -> Property {
        self.preference.symmetric()
    }

    fn mean_when_identical(&self) -> Property {
        self.preference.symmetric()
    }

    /// K = 2: the softmax of two is a logistic, w₁ = p₁σ((p₁L₁ − p₂L₂)/μ), w₂ = p₂σ(−…).
    fn two_task_reference(
        &self,
        _: &Gram,
        losses: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        let p = self.preference
            .resolve("stch", 2)
            .map_err(|_| "invalid preference")?;
        let x = (p[0] * losses[0] - p[1] * losses[1]) / self.mu;
        let sigma = |x: f64| 1.0 / (1.0 + (-x).exp());
        Ok(vec![p[0] * sigma(x), p[1] * sigma(-x)])
    }
}

/// The running method.
struct Stch {
    p: Vec<f64>,
    mu: f64,
}

impl Method for Stch {
    fn needs(&self) -> Needs {
        Needs::grads(GradSource::None)
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        let losses = losses("stch", self.p.len(), input)?;
        let z: Vec<f64> = self
            .p
            .iter()
            .zip(losses)
            .map(|(p, l)| p * l / self.mu)
            .collect();
        Ok(Update::FreeWeights(
            self.p.iter().zip(softmax(&z)).map(|(p, s)| p * s).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The weights are the gradient of g_μ w.r.t. the losses: against central differences of
    /// μ log Σ exp(p∘L/μ) (an independent computation).
    #[test]
    fn weights_are_the_gradient_of_the_smoothed_max() {
        let p = [0.2, 0.3, 0.5];
        let mu = 0.7;
        let losses = [2.0, 1.5, 0.4];
        let mut m = StchConfig {
            mu,
            preference: Preference(Some(p.to_vec())),
        }
        .build(3)
        .unwrap();
        let u = m.step(&StepInput::new(0, &losses, None)).unwrap();
        let g = |l: &[f64]| {
            mu * l
                .iter()
                .zip(&p)
                .map(|(l, p)| (p * l / mu).exp())
                .sum::<f64>()
                .ln()
        };
        for k in 0..3 {
            let h = 1e-6;
            let (mut up, mut down) = (losses, losses);
            up[k] += h;
            down[k] -= h;
            let fd = (g(&up) - g(&down)) / (2.0 * h);
            assert!((u.coefficients().unwrap()[k] - fd).abs() < 1e-8, "{k}");
        }
    }
}
