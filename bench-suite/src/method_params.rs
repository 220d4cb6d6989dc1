//! Trainable parameters a method owns (UW's log-variances): the trainer trains them with the
//! run's optimiser, beside the model's parameters but with their own optimiser state.

use candle_core::{Device, Tensor, Var};
use mtl_methods::Method;

use crate::config::TrainConfig;
use crate::model::Param;
use crate::optim::{self, Optimizer, OptimizerState};
use crate::Result;

/// A method's parameters as one variable, with the optimiser that updates them.
pub(crate) struct MethodParams {
    params: Vec<Param>,
    optimizer: Box<dyn Optimizer>,
}

impl MethodParams {
    /// The parameters `method` owns, under an optimiser configured like the run's; `None` for a
    /// method that owns none.
    pub(crate) fn of(method: &dyn Method, train: &TrainConfig) -> Result<Option<Self>> {
        let values = method.parameters();
        if values.is_empty() {
            return Ok(None);
        }
        let init: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        let var = Var::from_slice(&init, init.len(), &Device::Cpu)?;
        let params = vec![Param {
            name: "method".into(),
            var,
        }];
        let optimizer = optim::build(train, &params);
        Ok(Some(Self { params, optimizer }))
    }

    /// The optimiser's state, for a checkpoint.
    pub(crate) fn save(&self) -> Result<OptimizerState> {
        self.optimizer.save()
    }

    /// Continues from a [`MethodParams::save`].
    pub(crate) fn load(&mut self, state: OptimizerState) -> Result<()> {
        self.optimizer.load(state)
    }

    /// Sets the learning rate of the following steps (the run's schedule).
    pub(crate) fn set_lr(&mut self, lr: f64) {
        self.optimizer.set_lr(lr);
    }

    /// One optimiser step from the gradient the method reported for its last step; hands the
    /// updated values back to the method and keeps what it made of them.
    pub(crate) fn step(&mut self, method: &mut dyn Method) -> Result<()> {
        let grad: Vec<f32> = method.parameter_grads().iter().map(|&g| g as f32).collect();
        let grad = Tensor::from_slice(&grad, grad.len(), &Device::Cpu)?;
        self.optimizer.step(&self.params, &[grad])?;
        let values: Vec<f64> = self.params[0]
            .var
            .as_tensor()
            .to_vec1::<f32>()?
            .into_iter()
            .map(f64::from)
            .collect();
        method.set_parameters(&values);
        // The method may adjust what it was given (GradNorm renormalises its weights): the
        // next step starts from the method's values, as a resumed run's does.
        let kept: Vec<f32> = method.parameters().iter().map(|&v| v as f32).collect();
        self.params[0]
            .var
            .set(&Tensor::from_slice(&kept, kept.len(), &Device::Cpu)?)?;
        Ok(())
    }
}
