//! Uniform linear scalarization: λ_k = 1/K every step.
//!
//! The baseline of every MTL paper. Kurin et al. (NeurIPS 2022, "In Defense of the Unitary
//! Scalarization for Deep Multi-Task Learning") use the plain sum Σ L_k; that is the same
//! direction with the learning rate scaled by K. We use the mean so learning rates transfer
//! between task counts. Cost: one backward pass per step. No hyper-parameters.

use serde::{Deserialize, Serialize};

use crate::method::{GradSource, Method, MethodConfig, Needs, ParamDoc, StepInput, Update};
use crate::{Gram, Result, Weights};

/// `uniform` takes no hyper-parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniformConfig {}

impl MethodConfig for UniformConfig {
    fn params() -> &'static [ParamDoc] {
        &[]
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        Ok(Box::new(FixedWeights::new(Weights::uniform(num_tasks))))
    }

    /// λ = 1/K.
    fn two_task_reference(
        &self,
        _: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Ok(vec![0.5, 0.5])
    }
}

/// A method that answers the same weights every step (uniform, fixed, tuned).
#[derive(Debug, Clone)]
pub struct FixedWeights {
    weights: Weights,
}

impl FixedWeights {
    /// Always answers `weights`.
    pub fn new(weights: Weights) -> Self {
        Self { weights }
    }
}

impl Method for FixedWeights {
    fn needs(&self) -> Needs {
        Needs::grads(GradSource::None)
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        if input.losses.len() != self.weights.len() {
            return Err(crate::Error::TaskCount {
                method: "fixed weights".into(),
                expected: self.weights.len(),
                got: input.losses.len(),
            });
        }
        Ok(Update::Weights(self.weights.clone()))
    }
}
