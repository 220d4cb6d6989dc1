//! Task losses (as tensors, for backprop) and metrics (as sums, for evaluation).

use candle_core::{DType, Device, Tensor, D};
use mtl_datasets::{LossKind, MetricKind, Targets, Task};

use crate::{Error, Result};

/// Targets on the device in the shape the loss wants: `rows × 1` f32 for real values,
/// `rows` u32 for labels.
pub fn targets_tensor(targets: &Targets, device: &Device) -> Result<Tensor> {
    Ok(match targets {
        Targets::Real(v) => Tensor::from_slice(v, (v.len(), 1), device)?,
        Targets::Labels(v) => Tensor::from_slice(v, v.len(), device)?,
    })
}

/// Mean loss of `task` for head outputs `out` (`rows × output_dim`) against `y`.
pub fn task_loss(task: &Task, out: &Tensor, y: &Tensor) -> Result<Tensor> {
    Ok(match task.loss {
        LossKind::Mse => out.sub(y)?.sqr()?.mean_all()?,
        LossKind::CrossEntropy => candle_nn::loss::cross_entropy(out, y)?,
        LossKind::Bce => candle_nn::loss::binary_cross_entropy_with_logit(
            out,
            &y.to_dtype(DType::F32)?.unsqueeze(1)?,
        )?,
    })
}

/// Sum over rows of the task's metric (divide by the row count for the mean).
pub fn metric_sum(task: &Task, out: &Tensor, targets: &Targets) -> Result<f64> {
    match (task.metric, targets) {
        (MetricKind::Mae, Targets::Real(y)) => {
            let pred = out.flatten_all()?.to_vec1::<f32>()?;
            Ok(pred.iter().zip(y).map(|(p, t)| (p - t).abs() as f64).sum())
        }
        (MetricKind::Accuracy, Targets::Labels(y)) => {
            let predicted: Vec<u32> = if out.dim(D::Minus1)? == 1 {
                out.flatten_all()?
                    .to_vec1::<f32>()?
                    .iter()
                    .map(|&v| u32::from(v > 0.0))
                    .collect()
            } else {
                out.argmax(D::Minus1)?.to_vec1::<u32>()?
            };
            Ok(predicted.iter().zip(y).filter(|(p, t)| p == t).count() as f64)
        }
        (metric, _) => Err(Error::Internal(format!(
            "task `{}`: metric {} does not fit its targets",
            task.name,
            metric.name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mse_and_mae_on_known_values() {
        let task = Task::regression("y");
        let out = Tensor::new(&[[1.0f32], [3.0]], &Device::Cpu).unwrap();
        let t = Targets::Real(vec![0.0, 1.0]);
        let y = targets_tensor(&t, &Device::Cpu).unwrap();
        let l = task_loss(&task, &out, &y)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(l, 2.5);
        assert_eq!(metric_sum(&task, &out, &t).unwrap(), 3.0);
    }

    #[test]
    fn accuracy_counts_argmax_hits() {
        let task = Task::classification("c", 3);
        let out = Tensor::new(&[[0.1f32, 0.9, 0.0], [2.0, 0.0, 1.0]], &Device::Cpu).unwrap();
        assert_eq!(
            metric_sum(&task, &out, &Targets::Labels(vec![1, 2])).unwrap(),
            1.0
        );
    }
}
