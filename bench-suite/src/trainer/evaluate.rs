//! Whole-split evaluation: mean loss and metric per task.

use candle_core::{Device, Tensor};
use mtl_datasets::{Dataset, Split};

use crate::loss::{metric_sum, targets_tensor, task_loss};
use crate::model::Model;
use crate::Result;

/// Mean loss and metric per task over a whole split.
pub fn evaluate(
    model: &Model,
    dataset: &dyn Dataset,
    split: Split,
    device: &Device,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let tasks = dataset.tasks();
    let k = tasks.len();
    let mut loss = vec![0.0; k];
    let mut metric = vec![0.0; k];
    let mut rows = vec![0usize; k];
    for batch in dataset.batches(split, 4096, 0, 0) {
        for group in &batch.groups {
            let x = Tensor::from_slice(
                &group.x,
                (group.rows, group.x.len() / group.rows.max(1)),
                device,
            )?;
            let z = model.encode(&x)?.detach();
            for (t, targets) in &group.targets {
                let out = model.head(*t, &z)?.detach();
                let l = task_loss(&tasks[*t], &out, &targets_tensor(targets, device)?)?
                    .to_scalar::<f32>()? as f64;
                loss[*t] += l * group.rows as f64;
                metric[*t] += metric_sum(&tasks[*t], &out, targets)?;
                rows[*t] += group.rows;
            }
        }
    }
    for t in 0..k {
        let n = rows[t].max(1) as f64;
        loss[t] /= n;
        metric[t] /= n;
    }
    Ok((loss, metric))
}
