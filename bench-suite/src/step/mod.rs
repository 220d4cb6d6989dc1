//! One training step's gradients: the method-agnostic heart of the trainer.
//!
//! The step asks [`Method::needs`] which per-task gradients to compute — none, w.r.t. the
//! shared parameters (K backward passes) or w.r.t. the shared representation (K head-only
//! passes plus one through the encoder) — hands the Gram matrix and losses to
//! [`Method::step`], and returns the gradient of Σ λ_k L_k for every parameter. Backward passes
//! are counted where they happen.

use std::borrow::Cow;

use candle_core::{Device, Tensor, Var};
use mtl_datasets::Batch;
use mtl_methods::{GradSource, Gram, HeadScaling, Method, Needs, StepInput, Update};

use crate::dropout::Masks;
use crate::loss::{targets_tensor, task_loss};
use crate::model::Model;
use crate::{Error, Result};

mod seed;

/// Backward passes counted by the trainer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BackwardCount {
    /// Passes that traverse the shared encoder.
    pub(crate) encoder: u64,
    /// Passes through task heads only.
    pub(crate) heads: u64,
    /// Forward passes after the optimiser step ([`mtl_methods::Needs::after_step`]).
    pub(crate) forward_after_step: u64,
}

/// Per-task losses and weights of one step, plus the gradients to apply.
pub(crate) struct StepResult {
    /// Per-task training losses.
    pub(crate) losses: Vec<f64>,
    /// The weights λ used.
    pub(crate) weights: Vec<f64>,
    /// Gradient of Σ λ_k L_k per parameter, in parameter order.
    pub(crate) grads: Vec<Tensor>,
}

/// A step that hit a non-finite loss.
pub(crate) struct NonFinite {
    /// The task whose loss was not finite.
    pub(crate) task: usize,
}

/// The per-task loss tensors of a batch, task order, computed from each group's
/// representation by `encode` (the encoder itself, or a detached copy for MGDA-UB), with the
/// step's dropout `masks` in the heads; `None` for a task the batch has no data for.
fn present_losses(
    model: &Model,
    tasks: &[mtl_datasets::Task],
    batch: &Batch,
    zs: &[Tensor],
    masks: &Masks,
    device: &Device,
) -> Result<Vec<Option<Tensor>>> {
    let mut losses: Vec<Option<Tensor>> = vec![None; tasks.len()];
    for (g, (group, z)) in batch.groups.iter().zip(zs).enumerate() {
        for (t, targets) in &group.targets {
            let out = model.head_masked(*t, z, masks.head(g, *t))?;
            losses[*t] = Some(task_loss(
                &tasks[*t],
                &out,
                &targets_tensor(targets, device)?,
            )?);
        }
    }
    Ok(losses)
}

/// [`present_losses`] of a batch that feeds every task.
pub(crate) fn task_losses(
    model: &Model,
    tasks: &[mtl_datasets::Task],
    batch: &Batch,
    zs: &[Tensor],
    masks: &Masks,
    device: &Device,
) -> Result<Vec<Tensor>> {
    present_losses(model, tasks, batch, zs, masks, device)?
        .into_iter()
        .enumerate()
        .map(|(t, l)| l.ok_or_else(|| Error::Internal(format!("batch has no data for task {t}"))))
        .collect()
}

/// The loss values, 0 for a task not computed; the first non-finite one is an error.
fn loss_values<'a>(
    losses: impl Iterator<Item = Option<&'a Tensor>>,
) -> Result<std::result::Result<Vec<f64>, NonFinite>> {
    let values: Vec<f64> = losses
        .map(|l| l.map_or(Ok(0.0), |l| Ok(l.to_scalar::<f32>()? as f64)))
        .collect::<Result<_>>()?;
    Ok(match values.iter().position(|v| !v.is_finite()) {
        Some(task) => Err(NonFinite { task }),
        None => Ok(values),
    })
}

/// The batch a method needs, with its dropout masks: all of it, or — for a method that trains
/// only some tasks and needs no per-task gradients (a single-task baseline, see
/// [`Method::scored_tasks`]) — only their targets and the input groups that feed them, so no
/// head runs for the other tasks and the other domains of a multi-domain batch are not
/// encoded. The masks follow the batch's groups, so they are restricted alike.
fn needed<'a>(
    method: &dyn Method,
    batch: &'a Batch,
    masks: &'a Masks,
) -> (Cow<'a, Batch>, Cow<'a, Masks>) {
    match method.scored_tasks() {
        Some(own) if method.needs().grads == GradSource::None => (
            Cow::Owned(batch.restricted_to(&own)),
            Cow::Owned(masks.restricted_to(batch, &own)),
        ),
        _ => (Cow::Borrowed(batch), Cow::Borrowed(masks)),
    }
}

/// The gradient of every parameter from one `GradStore` (zeros where a parameter got none).
fn grads_of(model: &Model, store: &candle_core::backprop::GradStore) -> Result<Vec<Tensor>> {
    model
        .params()
        .iter()
        .map(|p| match store.get(p.var.as_tensor()) {
            Some(g) => Ok(g.clone()),
            None => Ok(p.var.zeros_like()?),
        })
        .collect()
}

/// Where the shared parameters' gradient comes from in [`combine`].
enum Shared<'a> {
    /// Σ_k c_k g_k from the per-task stores.
    Combined,
    /// One store holding it (the representation path's surrogate backward).
    Store(&'a candle_core::backprop::GradStore),
    /// Given directly, one tensor per shared parameter in order (a method's direction).
    Given(Vec<Tensor>),
}

/// The step's gradients assembled from per-task stores: the shared parameters per `shared`,
/// head k's parameters task k's gradient times `heads.factor(c, k)` (c_k, or 1 under
/// [`HeadScaling::Own`]).
fn combine(
    model: &Model,
    per_task: &[candle_core::backprop::GradStore],
    lambda: &[f64],
    heads: HeadScaling,
    shared: Shared<'_>,
) -> Result<Vec<Tensor>> {
    let encoder_len = model.encoder_params().len();
    let mut grads = Vec::with_capacity(model.params().len());
    for (i, p) in model.params().iter().enumerate() {
        let from_tasks = |tasks: &mut dyn Iterator<Item = (usize, f64)>| -> Result<Tensor> {
            let mut acc: Option<Tensor> = None;
            for (t, factor) in tasks {
                if let Some(g) = per_task[t].get(p.var.as_tensor()) {
                    let w = g.affine(factor, 0.0)?;
                    acc = Some(match acc {
                        Some(a) => a.add(&w)?,
                        None => w,
                    });
                }
            }
            Ok(match acc {
                Some(a) => a,
                None => p.var.zeros_like()?,
            })
        };
        let g = if i < encoder_len {
            match shared {
                Shared::Store(store) => store
                    .get(p.var.as_tensor())
                    .cloned()
                    .map_or_else(|| p.var.zeros_like(), Ok)?,
                Shared::Combined => from_tasks(&mut (0..per_task.len()).map(|t| (t, lambda[t])))?,
                Shared::Given(ref given) => given.get(i).cloned().ok_or_else(|| {
                    Error::Internal(format!("no direction for parameter {}", p.name))
                })?,
            }
        } else {
            let owner = (0..per_task.len())
                .find(|&t| model.head_range(t).contains(&i))
                .ok_or_else(|| {
                    Error::Internal(format!("parameter {} belongs to no head", p.name))
                })?;
            from_tasks(&mut std::iter::once((owner, heads.factor(lambda, owner))))?
        };
        grads.push(g);
    }
    Ok(grads)
}

fn flatten_rows(tensors: &[Option<&Tensor>], like: &[Tensor]) -> Result<Vec<f32>> {
    let mut row = Vec::new();
    for (t, shape) in tensors.iter().zip(like) {
        match t {
            Some(t) => row.extend(t.flatten_all()?.to_vec1::<f32>()?),
            None => row.extend(std::iter::repeat_n(0.0, shape.elem_count())),
        }
    }
    Ok(row)
}

/// The per-task coefficients of an update the trainer can apply under the method's `needs`
/// and head rule `heads`, and the direction if it is one. A direction's "weights" are its head
/// factors (1 for every task: a direction is only accepted with [`HeadScaling::Own`]).
fn coefficients_of(
    update: Update,
    needs: Needs,
    heads: HeadScaling,
    k: usize,
) -> Result<(Vec<f64>, Option<Vec<f32>>)> {
    let source = needs.grads;
    let misfit = |what: &str| {
        Err(Error::Internal(format!(
            "the method answered {what} but asked for {source:?} gradients{}",
            if source == GradSource::None {
                ""
            } else {
                " without their rows"
            }
        )))
    };
    match update {
        Update::Weights(w) => Ok((w.into_vec(), None)),
        Update::FreeWeights(c) => Ok((c, None)),
        Update::Combination(_) if source == GradSource::None => misfit("a gradient combination"),
        Update::Combination(c) => Ok((c, None)),
        Update::Direction(_) if source == GradSource::LastSharedLayer => Err(Error::Internal(
            "a direction must cover every shared parameter or the representation, not the \
             last shared layer alone"
                .into(),
        )),
        Update::Direction(_) if !needs.rows => misfit("a direction"),
        Update::Direction(_) if heads != HeadScaling::Own => Err(Error::Internal(
            "a method answering a direction must declare head scaling `own`".into(),
        )),
        Update::Direction(d) => Ok((vec![1.0; k], Some(d))),
    }
}

/// `flat` cut into tensors shaped like `like`, in order.
fn unflatten(flat: &[f32], like: &[Tensor], device: &Device) -> Result<Vec<Tensor>> {
    let total: usize = like.iter().map(Tensor::elem_count).sum();
    if flat.len() != total {
        return Err(Error::Internal(format!(
            "a direction of {} coordinates for a gradient of {total}",
            flat.len()
        )));
    }
    let mut out = Vec::with_capacity(like.len());
    let mut at = 0;
    for t in like {
        let n = t.elem_count();
        out.push(Tensor::from_slice(&flat[at..at + n], t.shape(), device)?);
        at += n;
    }
    Ok(out)
}

/// The representation of each input group, with the step's dropout `masks` in the encoder.
pub(crate) fn encode_groups(
    model: &Model,
    batch: &Batch,
    masks: &Masks,
    device: &Device,
) -> Result<Vec<Tensor>> {
    batch
        .groups
        .iter()
        .map(|g| {
            let x = Tensor::from_slice(&g.x, (g.rows, g.x.len() / g.rows.max(1)), device)?;
            model.encode_masked(&x, masks.channels())
        })
        .collect()
}

/// The Gram matrix of the per-task gradients w.r.t. the shared parameters, one backward pass
/// per task, and the per-task gradient stores.
pub(crate) fn params_gram(
    model: &Model,
    losses: &[Tensor],
) -> Result<(Gram, Vec<candle_core::backprop::GradStore>)> {
    let (gram, _, stores) = params_grads(model.encoder_params(), losses)?;
    Ok((gram, stores))
}

/// [`params_gram`] over the parameters `rows_of` (a part of the encoder's), with the per-task
/// gradient rows it was built from.
#[allow(clippy::type_complexity)]
fn params_grads(
    rows_of: &[crate::model::Param],
    losses: &[Tensor],
) -> Result<(Gram, Vec<Vec<f32>>, Vec<candle_core::backprop::GradStore>)> {
    let shared: Vec<Tensor> = rows_of.iter().map(|p| p.var.as_tensor().clone()).collect();
    let mut stores = Vec::with_capacity(losses.len());
    let mut rows = Vec::with_capacity(losses.len());
    for l in losses {
        let store = l.backward()?;
        let parts: Vec<Option<&Tensor>> = shared.iter().map(|p| store.get(p)).collect();
        rows.push(flatten_rows(&parts, &shared)?);
        stores.push(store);
    }
    Ok((Gram::from_rows(&rows), rows, stores))
}

/// One training step: forward, the method's update, backward. The optimiser is applied by
/// the caller. Every gradient of the step — the per-task ones the method sees and the
/// update's — comes from the one forward pass made with `masks`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_step(
    model: &Model,
    tasks: &[mtl_datasets::Task],
    batch: &Batch,
    method: &mut dyn Method,
    step: u64,
    masks: &Masks,
    count: &mut BackwardCount,
    device: &Device,
) -> Result<std::result::Result<StepResult, NonFinite>> {
    let (batch, masks) = needed(method, batch, masks);
    let (batch, masks) = (&*batch, &*masks);
    let zs = encode_groups(model, batch, masks, device)?;
    let needs = method.needs();
    let heads = method.head_scaling();
    let k = tasks.len();
    match needs.grads {
        GradSource::None => {
            if heads != HeadScaling::Weighted {
                return Err(Error::Internal(
                    "a method without per-task gradients must scale the heads by its weights"
                        .into(),
                ));
            }
            let losses = present_losses(model, tasks, batch, &zs, masks, device)?;
            let values = match loss_values(losses.iter().map(Option::as_ref))? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            let update = method.step(&StepInput::new(step, &values, None))?;
            let (lambda, _) = coefficients_of(update, needs, heads, k)?;
            let mut total: Option<Tensor> = None;
            for (t, loss) in losses.iter().enumerate() {
                match loss {
                    Some(l) => {
                        let term = l.affine(lambda[t], 0.0)?;
                        total = Some(match total {
                            Some(s) => s.add(&term)?,
                            None => term,
                        });
                    }
                    None if lambda[t] != 0.0 => {
                        return Err(Error::Internal(format!(
                            "task {t} got weight {} but was not computed: the method trains only tasks {:?}",
                            lambda[t],
                            method.scored_tasks()
                        )))
                    }
                    None => {}
                }
            }
            let total = total.ok_or_else(|| Error::Internal("no task to train".into()))?;
            let store = total.backward()?;
            count.encoder += 1;
            Ok(Ok(StepResult {
                losses: values,
                weights: lambda,
                grads: grads_of(model, &store)?,
            }))
        }
        GradSource::Params | GradSource::LastSharedLayer => {
            let losses = task_losses(model, tasks, batch, &zs, masks, device)?;
            let values = match loss_values(losses.iter().map(Some))? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            let rows_of = match needs.grads {
                GradSource::LastSharedLayer => model.last_shared_layer(),
                _ => model.encoder_params(),
            };
            let (gram, rows, stores) = params_grads(rows_of, &losses)?;
            count.encoder += losses.len() as u64;
            let mut input = StepInput::new(step, &values, Some(&gram));
            input.rows = needs.rows.then_some(&rows[..]);
            let update = method.step(&input)?;
            let (lambda, direction) = coefficients_of(update, needs, heads, k)?;
            let shared = match direction {
                Some(d) => {
                    let like: Vec<Tensor> = model
                        .encoder_params()
                        .iter()
                        .map(|p| p.var.as_tensor().clone())
                        .collect();
                    Shared::Given(unflatten(&d, &like, device)?)
                }
                None => Shared::Combined,
            };
            let grads = combine(model, &stores, &lambda, heads, shared)?;
            Ok(Ok(StepResult {
                losses: values,
                weights: lambda,
                grads,
            }))
        }
        GradSource::Representation => {
            let z_vars: Vec<Var> = zs
                .iter()
                .map(|z| Var::from_tensor(&z.detach()))
                .collect::<candle_core::Result<_>>()?;
            let z_tensors: Vec<Tensor> = z_vars.iter().map(|v| v.as_tensor().clone()).collect();
            let losses = task_losses(model, tasks, batch, &z_tensors, masks, device)?;
            let values = match loss_values(losses.iter().map(Some))? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            let mut stores = Vec::with_capacity(losses.len());
            let mut rows = Vec::with_capacity(losses.len());
            for l in &losses {
                let store = l.backward()?;
                count.heads += 1;
                let parts: Vec<Option<&Tensor>> = z_tensors.iter().map(|z| store.get(z)).collect();
                rows.push(flatten_rows(&parts, &z_tensors)?);
                stores.push(store);
            }
            let gram = Gram::from_rows(&rows);
            let mut input = StepInput::new(step, &values, Some(&gram));
            input.rows = needs.rows.then_some(&rows[..]);
            let update = method.step(&input)?;
            let (lambda, direction) = coefficients_of(update, needs, heads, k)?;
            // The update's gradient w.r.t. each group's z, flattened over the groups:
            // Σ_k c_k ∂L_k/∂z (summed from 0 in task order, a task without data adding
            // nothing), or the direction. It enters the encoder at z as the seed of one
            // backward pass.
            let combined = match direction {
                Some(d) => d,
                None => {
                    let mut g = vec![0f32; rows.first().map_or(0, Vec::len)];
                    for (t, row) in rows.iter().enumerate() {
                        let c = lambda[t] as f32;
                        for (gi, ri) in g.iter_mut().zip(row) {
                            *gi += c * ri;
                        }
                    }
                    g
                }
            };
            let mut surrogate: Option<Tensor> = None;
            let mut offset = 0;
            for z in &zs {
                let n = z.elem_count();
                let part = combined.get(offset..offset + n).ok_or_else(|| {
                    Error::Internal("the representation gradient does not fit the groups".into())
                })?;
                offset += n;
                let term = seed::seeded(z, part.to_vec())?;
                surrogate = Some(match surrogate {
                    Some(s) => s.add(&term)?,
                    None => term,
                });
            }
            let surrogate =
                surrogate.ok_or_else(|| Error::Internal("batch has no input groups".into()))?;
            let encoder_store = surrogate.backward()?;
            count.encoder += 1;
            let grads = combine(
                model,
                &stores,
                &lambda,
                heads,
                Shared::Store(&encoder_store),
            )?;
            Ok(Ok(StepResult {
                losses: values,
                weights: lambda,
                grads,
            }))
        }
    }
}

/// The per-task losses of `batch` under `masks` (forward only), 0 for a task not computed:
/// what [`mtl_methods::Needs::after_step`] asks for once the optimiser has stepped. `None`
/// when one is not finite.
pub(crate) fn losses_after_step(
    model: &Model,
    tasks: &[mtl_datasets::Task],
    batch: &Batch,
    method: &dyn Method,
    masks: &Masks,
    device: &Device,
) -> Result<Option<Vec<f64>>> {
    let (batch, masks) = needed(method, batch, masks);
    let zs = encode_groups(model, &batch, &masks, device)?;
    let losses = present_losses(model, tasks, &batch, &zs, &masks, device)?;
    Ok(loss_values(losses.iter().map(Option::as_ref))?.ok())
}

#[cfg(test)]
mod tests;
