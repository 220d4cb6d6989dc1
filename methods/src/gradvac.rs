//! GradVac: gradient vaccine, each task gradient turned towards the others until their cosine
//! reaches a target learned as a running average.
//!
//! Paper: Z. Wang, Y. Tsvetkov, O. Firat and Y. Cao, "Gradient Vaccine: Investigating and
//! Improving Multi-task Optimization in Massively Multilingual Models", ICLR 2021,
//! <https://arxiv.org/abs/2010.05874>, Algorithm 1. For each task i, g_i′ starts at g_i; for
//! every other task j, in random order, with φ = cos(g_i′, g_j) and target φ̂_ij: if φ < φ̂_ij,
//! g_i′ += ‖g_i′‖(φ̂_ij√(1 − φ²) − φ√(1 − φ̂_ij²)) / (‖g_j‖√(1 − φ̂_ij²)) · g_j, which sets the
//! cosine to φ̂_ij; then φ̂_ij ← (1 − β)φ̂_ij + βφ. With φ̂ = 0 the step is PCGrad's projection.
//!
//! As for PCGrad, every g_i′ stays a combination of the original gradients, so the method
//! tracks coefficients on the Gram matrix and answers their combination.
//!
//! Our reading: the update is the mean (1/K)Σ_i g_i′ (the paper sums); one target per ordered
//! pair for the whole shared gradient (the paper's per-layer variant is not offered), starting
//! at 0; the order is drawn per task and step from the run's seed; a pair is left alone when a
//! gradient is zero or √(1 − φ̂²) < 1e-8. Heads receive their own gradient (`own`).
//!
//! Hyper-parameters: `beta`, the targets' averaging rate in (0, 1], default 0.01 (the paper's);
//! `gradients`. Cost per step: that of the chosen gradients plus O(K³) on the Gram matrix.

use serde::{Deserialize, Serialize};

use crate::combination::sequential_surgery;
use crate::method::{
    parse_state, typed_state, HeadScaling, Method, MethodConfig, Needs, ParamDoc, Property,
    RunInfo, StepInput, Update,
};
use crate::gradients::Gradients;
use crate::step_checks::{gram, require_tasks, step_rng};
use crate::{Error, Gram, Result};

/// Hyper-parameters of `gradvac`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GradVacConfig {
    /// Averaging rate β ∈ (0, 1] of the cosine targets; default 0.01.
    pub beta: f64,
    /// Gradients w.r.t. `params` (default) or `representation`.
    pub gradients: Gradients,
}

impl Default for GradVacConfig {
    fn default() -> Self {
        Self {
            beta: 0.01,
            gradients: Gradients::Params,
        }
    }
}

impl MethodConfig for GradVacConfig {
    fn params() -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "beta",
                kind: "float in (0, 1]",
                help: "averaging rate of the pairwise cosine targets",
            },
            Gradients::DOC,
        ]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(self.beta > 0.0 && self.beta <= 1.0) {
            return Err(format!(
                "field `beta` must be in (0, 1], got {}; the paper uses 0.01",
                self.beta
            ));
        }
        Ok(())
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        require_tasks("gradvac", num_tasks)?;
        Ok(Box::new(GradVac {
            config: *self,
            k: num_tasks,
            seed: 0,
            targets: vec![0.0; num_tasks * num_tasks],
        }))
    }

    combination_declarations!();

    fn examples(_: usize) -> Vec<(String, serde_json::Value)> {
        let mut out = Gradients::examples();
        out.push(("beta 0.5".to_owned(), serde_json::json!({"beta": 0.5})));
        out
    }

    fn permutation_equivariant(&self) -> Property {
        Property::Exempt("the adjustment order is a random draw bound to task indices")
    }

    fn two_task_reference(
        &self,
        _: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Err("the cosine targets average the run's history")
    }
}

/// The running method: the targets φ̂, row-major K×K.
struct GradVac {
    config: GradVacConfig,
    k: usize,
    seed: u64,
    targets: Vec<f64>,
}

impl GradVac {
    fn combination(&mut self, gram: &Gram, step: u64) -> Vec<f64> {
        let k = self.k;
        let beta = self.config.beta;
        let targets = &mut self.targets;
        let mut rng = step_rng(self.seed, "gradvac", step);
        sequential_surgery(k, &mut rng, |i, j, c| {
            let norm_j = gram.get(j, j).max(0.0).sqrt();
            let cg: Vec<f64> = (0..k)
                .map(|n| (0..k).map(|m| c[m] * gram.get(m, n)).sum())
                .collect();
            let norm_i = cg
                .iter()
                .zip(c.iter())
                .map(|(a, b)| a * b)
                .sum::<f64>()
                .max(0.0)
                .sqrt();
            if norm_i == 0.0 || norm_j == 0.0 {
                return;
            }
            let phi = (cg[j] / (norm_i * norm_j)).clamp(-1.0, 1.0);
            let target = targets[i * k + j];
            let root_target = (1.0 - target * target).max(0.0).sqrt();
            if phi < target && root_target >= 1e-8 {
                let root_phi = (1.0 - phi * phi).max(0.0).sqrt();
                c[j] += norm_i * (target * root_phi - phi * root_target) / (norm_j * root_target);
            }
            targets[i * k + j] = (1.0 - beta) * target + beta * phi;
        })
    }
}

impl Method for GradVac {
    fn needs(&self) -> Needs {
        Needs::grads(self.config.gradients.source())
    }

    fn start(&mut self, run: &RunInfo) {
        self.seed = run.seed;
    }

    fn head_scaling(&self) -> HeadScaling {
        HeadScaling::Own
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        let gram = gram("gradvac", self.k, input)?;
        Ok(Update::Combination(self.combination(gram, input.step)))
    }

    fn state(&self) -> serde_json::Value {
        typed_state(&self.targets)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<()> {
        let targets: Vec<f64> = parse_state(state)?;
        if targets.len() != self.k * self.k {
            return Err(Error::InvalidState {
                message: format!("gradvac keeps {}×{} cosine targets", self.k, self.k),
            });
        }
        self.targets = targets;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On the rows: an adjustment sets the pair's cosine to its target exactly (target 0.3
    /// from a cosine of −0.6; the other pair's target −0.9 is already met, so task 2 stays),
    /// and with targets 0 the first step is PCGrad's.
    #[test]
    fn adjustment_reaches_the_target_cosine() {
        let rows = [[1.0f64, 0.0], [-0.6, 0.8]];
        let gram = Gram::from_rows(&rows.map(|r| r.map(|x| x as f32).to_vec()));
        let mut m = GradVac {
            config: GradVacConfig::default(),
            k: 2,
            seed: 0,
            targets: vec![0.0, 0.3, -0.9, 0.0],
        };
        let c = m.combination(&gram, 0);
        // total = (g₁′ + g₂)/2, so g₁′ has coefficients 2c − e₂.
        let g1 = [0, 1].map(|x| (2.0 * c[0]) * rows[0][x] + (2.0 * c[1] - 1.0) * rows[1][x]);
        let cos = (g1[0] * rows[1][0] + g1[1] * rows[1][1]) / (g1[0].hypot(g1[1]));
        assert!((cos - 0.3).abs() < 1e-6, "{cos}");
        // The targets moved towards the cosines seen: (1 − β)·0.3 + β·(−0.6).
        assert!((m.targets[1] - (0.99 * 0.3 - 0.01 * 0.6)).abs() < 1e-6);
        let mut pc = crate::find("pcgrad")
            .unwrap()
            .build(&serde_json::Value::Null, 2)
            .unwrap();
        let mut fresh = GradVacConfig::default().build(2).unwrap();
        let input = StepInput::new(0, &[1.0, 1.0], Some(&gram));
        assert_eq!(fresh.step(&input).unwrap(), pc.step(&input).unwrap());
    }
}
