//! Weight-search members trained as one stacked model (`[train] stack_members = P`).
//!
//! A weight search trains members of one architecture at the same step: a grid or random
//! search from one initialisation on one batch order (only their weights λ differ), a PBT
//! population from one seed per member. Up to P of them train in lock step as one
//! `StackedMlp`: each session keeps its own cursor, epochs and logs (members on one seed
//! share each epoch's list of batches, and the stack's first layer is then one product for
//! all), and each step computes every member's losses and gradients in one pass and updates
//! all parameters at once. At every epoch's end the members' parameters
//! go back into their sessions, which validate, log and select checkpoints as usual; at the
//! end of the call the optimiser state goes back too, so a member can be scored, copied,
//! checkpointed or trained on alone.
//!
//! The members' records equal those of members trained one by one up to float rounding (see
//! `stacked_mlp`). A member's `step_ms` is its share of the stacked step (the step's wall
//! time over P). Where a step meets a non-finite loss, the members take that step on their
//! own, so the diverged one is recorded as it would be alone, and the rest of the call trains
//! them side by side.

use std::time::Instant;

use candle_core::Tensor;
use mtl_datasets::Dataset;

use crate::config::{OptimizerKind, TrainConfig};
use crate::model::Arch;
use crate::optim;
use crate::trainer::{BatchRef, EpochCache, Session};
use crate::Result;

mod stacked_mlp;

use stacked_mlp::{MemberBatch, StackedMlp};

/// Why `sessions` cannot train as one stacked model, if they cannot.
pub(crate) fn why_not_stacked(sessions: &[&Session<'_>]) -> Option<String> {
    let first = sessions.first()?;
    if first.model().spec().arch != Arch::Mlp {
        return Some(format!(
            "model `{}` is not an mlp",
            first.model().spec().name
        ));
    }
    if !first.model().params()[0].var.device().is_cpu() {
        return Some("stacked members train on the CPU only".into());
    }
    if sessions
        .iter()
        .any(|s| s.steps_done() != first.steps_done())
    {
        return Some("members are at different steps".into());
    }
    None
}

/// Trains `sessions` — members that [`why_not_stacked`] accepts, each with fixed weights
/// `weights` — up to `steps` more steps in lock step as one stacked model; returns the steps
/// taken. Fewer than `steps` (and not the end of the schedule) means a step met a non-finite
/// loss: it was taken by each member on its own, and the caller trains on from there.
pub(crate) fn train_stacked(
    dataset: &dyn Dataset,
    sessions: &mut [&mut Session<'_>],
    weights: &[Vec<f64>],
    train: &TrainConfig,
    steps: u64,
) -> Result<u64> {
    let Some(first) = sessions.first() else {
        return Ok(0);
    };
    let spec = first.model().spec();
    let mut stack = StackedMlp::new(
        sessions.len(),
        dataset.input_dim(),
        spec.width,
        dataset.tasks(),
        train.optimizer == OptimizerKind::Sgd,
    );
    for (p, s) in sessions.iter().enumerate() {
        stack.load_member(p, &s.model().flat_params()?, &s.optimizer_state()?)?;
    }
    let mut config = train.clone();
    // Members on one seed (grid, random) share each epoch's list of batches and one batch per
    // step; PBT's members each have their own.
    let shared_seed = sessions.iter().all(|s| s.seed() == first.seed());
    let mut epochs = EpochCache::default();
    let mut taken = 0;
    while taken < steps {
        let mut batches = Vec::with_capacity(sessions.len());
        for s in sessions.iter_mut() {
            batches.push(s.next_batch_sharing(&mut epochs)?);
        }
        let Some(Some(batch)) = batches.first() else {
            break;
        };
        let t0 = Instant::now();
        // One input group per batch, and as many rows for every member.
        let inputs: Option<Vec<MemberBatch<'_>>> = batches
            .iter()
            .take(if shared_seed { 1 } else { batches.len() })
            .map(|b| match b.as_deref().map(|b| &b.groups[..]) {
                Some([g]) if g.rows == batch.groups[0].rows => Some(MemberBatch {
                    x: &g.x,
                    targets: &g.targets,
                }),
                _ => None,
            })
            .collect();
        let Some(inputs) = inputs else {
            return stop_stacking(&stack, sessions, &batches).map(|()| taken + 1);
        };
        let rows = batch.groups[0].rows;
        let losses = match stack.forward_backward(rows, &inputs, weights)? {
            Ok(losses) => losses,
            Err(_) => return stop_stacking(&stack, sessions, &batches).map(|()| taken + 1),
        };
        config.lr = optim::epoch_lr(train, sessions[0].epoch());
        stack.update(&config);
        let ms = t0.elapsed().as_secs_f64() * 1e3 / sessions.len() as f64;
        let epoch_ends = sessions[0].epoch_ends();
        for (p, s) in sessions.iter_mut().enumerate() {
            s.record_external_step(&losses[p], &weights[p], ms);
            if epoch_ends {
                s.load_parameters(&member_tensors(&stack, p, s)?, None)?;
            }
            s.close_step(&mut || {})?;
        }
        taken += 1;
    }
    store(&stack, sessions)?;
    Ok(taken)
}

/// Hands every member its parameters and optimiser state, then lets each take the step on
/// `batches` (fetched for the stacked step) on its own, closing it where it did not diverge.
fn stop_stacking(
    stack: &StackedMlp,
    sessions: &mut [&mut Session<'_>],
    batches: &[Option<BatchRef>],
) -> Result<()> {
    store(stack, sessions)?;
    for (s, batch) in sessions.iter_mut().zip(batches) {
        if let Some(batch) = batch {
            if s.step_on(batch)? {
                s.close_step(&mut || {})?;
            }
        }
    }
    Ok(())
}

/// Every member's parameters and optimiser state back into its session.
fn store(stack: &StackedMlp, sessions: &mut [&mut Session<'_>]) -> Result<()> {
    for (p, s) in sessions.iter_mut().enumerate() {
        let params = member_tensors(stack, p, s)?;
        s.load_parameters(&params, Some(stack.member_optimizer(p)))?;
    }
    Ok(())
}

/// Member `p`'s parameters from the stack, shaped as its session's model holds them.
fn member_tensors(stack: &StackedMlp, p: usize, s: &Session<'_>) -> Result<Vec<Tensor>> {
    s.model().shaped(&stack.member_params(p))
}

#[cfg(test)]
mod tests;
