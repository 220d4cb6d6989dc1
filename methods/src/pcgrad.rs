//! PCGrad: gradient surgery, each task gradient projected off the others it conflicts with.
//!
//! Paper: T. Yu, S. Kumar, A. Gupta, S. Levine, K. Hausman and C. Finn, "Gradient Surgery for
//! Multi-Task Learning", NeurIPS 2020, <https://arxiv.org/abs/2001.06782>, Algorithm 1. For
//! each task i, g_i^PC starts at g_i; for every other task j, in a random order, if
//! g_i^PC · g_j < 0 it is replaced by g_i^PC − (g_i^PC · g_j / ‖g_j‖²) g_j. The shared update
//! combines the projected gradients.
//!
//! Every g_i^PC stays a combination of the original gradients, and each projection needs only
//! inner products, so the method runs on the Gram matrix: it tracks the coefficients of each
//! g_i^PC and answers their combination ([`Update::Combination`]).
//!
//! Our reading:
//! - The update is the **mean** (1/K) Σ_i g_i^PC, where the paper writes the sum, so that
//!   learning rates compare with `uniform` (the mean of the losses); the sum is K times it.
//! - The random order is drawn per task and per step from the run's seed ([`step_rng`]).
//! - A task with a zero gradient is never projected onto.
//! - Heads receive their own task's gradient (`own`): the surgery concerns the shared
//!   parameters only.
//! - `gradients`: `params` (the paper) or `representation` (gradients w.r.t. the shared
//!   representation, one backward through the encoder, as LibMTL's `rep_grad`).
//!
//! Cost per step: K backward passes through the encoder (`params`), or one plus K through the
//! heads (`representation`); the surgery is O(K³) on the Gram matrix.

use serde::{Deserialize, Serialize};

use crate::combination::sequential_surgery;
use crate::gradients::Gradients;
use crate::method::{
    GradSource, HeadScaling, Method, MethodConfig, Needs, ParamDoc, Property, RunInfo, StepInput, Update,
};
use crate::step_checks::{gram, require_tasks, step_rng};
use crate::{Gram, Result};

/// Hyper-parameters of `pcgrad`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PcGradConfig {
    /// Gradients w.r.t. `params` (default) or `representation`.
    pub gradients: Gradients,
}

impl MethodConfig for PcGradConfig {
    fn params() -> &'static [ParamDoc] {
        &[Gradients::DOC]
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        require_tasks("pcgrad", num_tasks)?;
        Ok(Box::new(PcGrad {
            k: num_tasks,
            source: self.gradients.source(),
            seed: 0,
        }))
    }

    combination_declarations!();

    fn examples(_: usize) -> Vec<(String, serde_json::Value)> {
        Gradients::examples()
    }

    fn permutation_equivariant(&self) -> Property {
        Property::Exempt("the projection order is a random draw bound to task indices")
    }

    /// K = 2, where the order does not matter: if G₁₂ < 0, g₁ − (G₁₂/G₂₂)g₂ and
    /// g₂ − (G₁₂/G₁₁)g₁, so c = ½(1 − G₁₂/G₁₁, 1 − G₁₂/G₂₂); else c = (½, ½) (the paper's
    /// Algorithm 1 by hand).
    fn two_task_reference(
        &self,
        gram: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        let (g11, g12, g22) = (gram.get(0, 0), gram.get(0, 1), gram.get(1, 1));
        let shrink = |norm2: f64| {
            if g12 < 0.0 && norm2 > 0.0 {
                g12 / norm2
            } else {
                0.0
            }
        };
        Ok(vec![0.5 * (1.0 - shrink(g11)), 0.5 * (1.0 - shrink(g22))])
    }
}

/// The running method.
struct PcGrad {
    k: usize,
    source: GradSource,
    seed: u64,
}

impl PcGrad {
    /// The coefficients of (1/K) Σ_i g_i^PC over the original gradients.
    fn combination(&self, gram: &Gram, step: u64) -> Vec<f64> {
        let k = self.k;
        let mut rng = step_rng(self.seed, "pcgrad", step);
        sequential_surgery(k, &mut rng, |_, j, c| {
            let norm2 = gram.get(j, j);
            let dot: f64 = (0..k).map(|m| c[m] * gram.get(m, j)).sum();
            if dot < 0.0 && norm2 > 0.0 {
                c[j] -= dot / norm2;
            }
        })
    }
}

impl Method for PcGrad {
    fn needs(&self) -> Needs {
        Needs::grads(self.source)
    }

    fn start(&mut self, run: &RunInfo) {
        self.seed = run.seed;
    }

    fn head_scaling(&self) -> HeadScaling {
        HeadScaling::Own
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        let gram = gram("pcgrad", self.k, input)?;
        Ok(Update::Combination(self.combination(gram, input.step)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::SliceRandom;

    /// Golden values by hand: g₁ = (1, 0), g₂ = (−1, 1). g₁·g₂ = −1, so
    /// g₁^PC = g₁ + ½g₂ = (½, ½) and g₂^PC = g₂ + g₁ = (0, 1); their mean is (¼, ¾) =
    /// 1·g₁ + ¾·g₂, i.e. c = (1, ¾).
    #[test]
    fn conflicting_pair_by_hand() {
        let mut m = PcGradConfig::default().build(2).unwrap();
        let gram = Gram::from_rows(&[vec![1.0f32, 0.0], vec![-1.0, 1.0]]);
        let u = m
            .step(&StepInput::new(0, &[1.0, 1.0], Some(&gram)))
            .unwrap();
        assert_eq!(u, Update::Combination(vec![1.0, 0.75]));
    }

    /// Three tasks against the surgery done on the rows themselves (vectors, not Gram
    /// coefficients), in the same drawn order.
    #[test]
    fn gram_surgery_matches_surgery_on_the_rows() {
        let rows = [
            vec![1.0f64, 0.2, 0.0],
            vec![-0.8, 1.0, 0.1],
            vec![0.1, -0.9, 1.0],
        ];
        let rows32: Vec<Vec<f32>> = rows
            .iter()
            .map(|r| r.iter().map(|&x| x as f32).collect())
            .collect();
        let rows: Vec<Vec<f64>> = rows32
            .iter()
            .map(|r| r.iter().map(|&x| f64::from(x)).collect())
            .collect();
        let gram = Gram::from_rows(&rows32);
        let mut m = PcGradConfig::default().build(3).unwrap();
        m.start(&RunInfo {
            seed: 11,
            ..RunInfo::steps(5)
        });
        let c = m.step(&StepInput::new(4, &[1.0; 3], Some(&gram))).unwrap();
        let c = c.coefficients().unwrap();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let mut rng = step_rng(11, "pcgrad", 4);
        let mut mean = [0.0; 3];
        for i in 0..3 {
            let mut g = rows[i].clone();
            let mut others: Vec<usize> = (0..3).filter(|&j| j != i).collect();
            others.shuffle(&mut rng);
            for j in others {
                let d = dot(&g, &rows[j]);
                if d < 0.0 {
                    let f = d / dot(&rows[j], &rows[j]);
                    g.iter_mut().zip(&rows[j]).for_each(|(x, y)| *x -= f * y);
                }
            }
            mean.iter_mut().zip(&g).for_each(|(m, x)| *m += x / 3.0);
        }
        for x in 0..3 {
            let combined: f64 = (0..3).map(|k| c[k] * rows[k][x]).sum();
            assert!(
                (combined - mean[x]).abs() < 1e-12,
                "{combined} vs {}",
                mean[x]
            );
        }
    }
}
