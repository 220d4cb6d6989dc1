//! RLW: random loss weighting, fresh weights drawn every step.
//!
//! Paper: B. Lin, F. Ye, Y. Zhang and I. W. Tsang, "Reasonable Effectiveness of Random
//! Weighting: A Litmus Test for Multi-Task Learning", TMLR 2022,
//! <https://arxiv.org/abs/2111.10603>. Each step draws z ~ N(0, I_K) and trains on
//! λ = softmax(z); the paper's point is that such a method, which never looks at the tasks,
//! is as good as many SMTOs, so it is the litmus test every SMTO should pass.
//!
//! Our reading: the normal draw with softmax is the paper's recommended distribution (its
//! Dirichlet and uniform variants are not offered). The draws come from the run's seed, one
//! ChaCha8 stream per step ([`step_rng`]), so a resumed run draws the same weights. Cost: one
//! backward pass per step. No hyper-parameters.

use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::method::{
    GradSource, Method, MethodConfig, Needs, ParamDoc, Property, RunInfo, StepInput, Update,
};
use crate::step_checks::{losses, step_rng};
use crate::weights::softmax;
use crate::{Gram, Result, Weights};

/// `rlw` takes no hyper-parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlwConfig {}

impl MethodConfig for RlwConfig {
    fn params() -> &'static [ParamDoc] {
        &[]
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        Ok(Box::new(Rlw {
            k: num_tasks,
            seed: 0,
        }))
    }

    fn permutation_equivariant(&self) -> Property {
        Property::Exempt("task k gets the k-th draw of the step, whatever its gradient")
    }

    fn mean_when_identical(&self) -> Property {
        Property::Exempt("the weights are random draws, not the mean")
    }

    fn two_task_reference(
        &self,
        _: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Err("the weights are random draws")
    }
}

/// The running method: softmax of a seeded normal draw per step.
struct Rlw {
    k: usize,
    seed: u64,
}

impl Rlw {
    /// λ of step `step`.
    fn weights(&self, step: u64) -> Result<Weights> {
        let mut rng = step_rng(self.seed, "rlw", step);
        let z: Vec<f64> = (0..self.k)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        Weights::simplex(softmax(&z))
    }
}

impl Method for Rlw {
    fn needs(&self) -> Needs {
        Needs::grads(GradSource::None)
    }

    fn start(&mut self, run: &RunInfo) {
        self.seed = run.seed;
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        losses("rlw", self.k, input)?;
        Ok(Update::Weights(self.weights(input.step)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(seed: u64, step: u64) -> Vec<f64> {
        let mut m = RlwConfig {}.build(3).unwrap();
        m.start(&RunInfo {
            seed,
            ..RunInfo::steps(10)
        });
        m.step(&StepInput::new(step, &[1.0; 3], None))
            .unwrap()
            .into_weights()
            .unwrap()
            .into_vec()
    }

    #[test]
    fn draws_follow_the_seed_and_step() {
        assert_eq!(weights(7, 3), weights(7, 3));
        assert_ne!(weights(7, 3), weights(7, 4));
        assert_ne!(weights(7, 3), weights(8, 3));
    }

    /// softmax of N(0, 1) draws: for K = 2, λ₁ = σ(z₁ − z₂) with z₁ − z₂ ~ N(0, 2), so
    /// E[λ₁] = ½ and P(λ₁ > σ(√2·1.96)) = 2.5 % (hand derivation).
    #[test]
    fn two_task_draws_have_the_logistic_normal_law() {
        let mut m = RlwConfig {}.build(2).unwrap();
        m.start(&RunInfo::steps(4000));
        let cut = 1.0 / (1.0 + (-(2f64.sqrt() * 1.96)).exp());
        let (mut sum, mut above) = (0.0, 0);
        for step in 0..4000 {
            let w = m.step(&StepInput::new(step, &[1.0, 1.0], None)).unwrap();
            let l1 = w.coefficients().unwrap()[0];
            sum += l1;
            above += usize::from(l1 > cut);
        }
        assert!((sum / 4000.0 - 0.5).abs() < 0.02, "{}", sum / 4000.0);
        assert!((60..=140).contains(&above), "{above}");
    }
}
