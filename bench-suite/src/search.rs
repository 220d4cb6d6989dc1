//! The harness side of weight searches: members are [`Session`]s of one model and dataset,
//! and gradient measurements ride on the trainer's own per-task backward path.

use std::sync::{Arc, Mutex};

use candle_core::Device;
use mtl_datasets::Dataset;
use mtl_methods::search::{SearchBackend, WindowMetrics};
use mtl_methods::uniform::FixedWeights;
use mtl_methods::{Diagnostics, GradSource, Method, Needs, StepInput, Update, Weights};

use crate::config::TrainConfig;
use crate::model::ModelSpec;
use crate::trainer::Session;

/// Seeds of search members live far from the small seeds sweeps use for evaluation.
const SEARCH_SEED_BASE: u64 = 0x5EA2_C400_0000;

/// Search members trained through the real trainer.
pub struct SessionBackend<'a> {
    dataset: &'a dyn Dataset,
    spec: ModelSpec,
    train: TrainConfig,
    device: Device,
    seed: u64,
    members: Vec<Option<Session<'a>>>,
    weights: Vec<Weights>,
    reference: Option<Vec<f64>>,
}

impl<'a> SessionBackend<'a> {
    /// A backend for `spec` on `dataset` with training settings `train`; member seeds derive
    /// from `seed`.
    pub fn new(
        dataset: &'a dyn Dataset,
        spec: ModelSpec,
        train: TrainConfig,
        device: Device,
        seed: u64,
    ) -> Self {
        Self {
            dataset,
            spec,
            train,
            device,
            seed,
            members: Vec::new(),
            weights: Vec::new(),
            reference: None,
        }
    }

    fn member(&mut self, i: usize) -> mtl_methods::Result<&mut Session<'a>> {
        self.members
            .get_mut(i)
            .and_then(Option::as_mut)
            .ok_or_else(|| internal(format!("search member {i} does not exist")))
    }
}

/// Harness failures surface to the search as method errors carrying the message.
fn internal(message: String) -> mtl_methods::Error {
    mtl_methods::Error::Backend { message }
}

fn lift<T>(r: crate::Result<T>) -> mtl_methods::Result<T> {
    r.map_err(|e| internal(e.to_string()))
}

/// Accumulated gradient statistics of a measuring window.
#[derive(Default)]
struct Accumulator {
    measured: u64,
    grad_norm: Vec<f64>,
    weighted_gms: f64,
    condition_sum: f64,
    condition_n: u64,
    conflict: f64,
}

/// Fixed weights that ask for parameter gradients every `every` steps and record their
/// diagnostics. The update is unchanged: the trainer's per-task path yields the same gradient
/// of Σ λ_k L_k as one backward pass.
struct Measuring {
    weights: Weights,
    every: u64,
    seen: u64,
    acc: Arc<Mutex<Accumulator>>,
}

impl Method for Measuring {
    fn needs(&self) -> Needs {
        Needs {
            grads: if self.seen % self.every == 0 {
                GradSource::Params
            } else {
                GradSource::None
            },
        }
    }

    fn step(&mut self, input: &StepInput<'_>) -> mtl_methods::Result<Update> {
        self.seen += 1;
        if let Some(gram) = input.gram {
            let d = Diagnostics::from_gram(gram);
            let inv: Vec<f64> = self
                .weights
                .as_slice()
                .iter()
                .map(|w| if *w > 0.0 { 1.0 / w } else { 1.0 })
                .collect();
            let weighted = Diagnostics::from_gram(&gram.rescaled(&inv));
            let mut acc = self.acc.lock().expect("measuring lock");
            if acc.grad_norm.is_empty() {
                acc.grad_norm = vec![0.0; d.norms.len()];
            }
            for (a, n) in acc.grad_norm.iter_mut().zip(&d.norms) {
                *a += n;
            }
            acc.weighted_gms += weighted.gms_mean;
            if let Some(c) = d.condition_number {
                acc.condition_sum += c;
                acc.condition_n += 1;
            }
            acc.conflict += d.conflict_rate;
            acc.measured += 1;
        }
        Ok(Update::Weights(self.weights.clone()))
    }
}

impl SearchBackend for SessionBackend<'_> {
    fn num_tasks(&self) -> usize {
        self.dataset.tasks().len()
    }

    fn schedule_steps(&self) -> u64 {
        let per_epoch = self
            .dataset
            .split_len(mtl_datasets::Split::Train)
            .div_ceil(self.train.batch_size.max(1));
        (per_epoch * self.train.epochs) as u64
    }

    fn spawn(&mut self, weights: &Weights, init: u64) -> mtl_methods::Result<usize> {
        let seed = SEARCH_SEED_BASE
            .wrapping_add(self.seed.wrapping_mul(1_000_003))
            .wrapping_add(init);
        let method = Box::new(FixedWeights::new(weights.clone()));
        let mut session = lift(Session::new(
            self.dataset,
            &self.spec,
            method,
            &self.train,
            seed,
            &self.device,
        ))?;
        // All members are scored against the first member's initial validation losses.
        match &self.reference {
            Some(r) => lift(session.set_reference(r.clone()))?,
            None => self.reference = Some(session.reference().to_vec()),
        }
        self.members.push(Some(session));
        self.weights.push(weights.clone());
        Ok(self.members.len() - 1)
    }

    fn train(&mut self, member: usize, steps: u64) -> mtl_methods::Result<u64> {
        let s = self.member(member)?;
        let before = s.steps_done();
        lift(s.train_steps(steps, &mut || {}))?;
        Ok(s.steps_done() - before)
    }

    fn train_measuring(
        &mut self,
        member: usize,
        steps: u64,
        every: u64,
    ) -> mtl_methods::Result<WindowMetrics> {
        let weights = self.weights[member].clone();
        let acc = Arc::new(Mutex::new(Accumulator::default()));
        let s = self.member(member)?;
        s.set_method(Box::new(Measuring {
            weights: weights.clone(),
            every: every.max(1),
            seen: 0,
            acc: Arc::clone(&acc),
        }));
        let before = s.steps_done();
        let losses_before = s.loss_totals().to_vec();
        lift(s.train_steps(steps, &mut || {}))?;
        let taken = s.steps_done() - before;
        let loss: Vec<f64> = s
            .loss_totals()
            .iter()
            .zip(&losses_before)
            .map(|(a, b)| (a - b) / taken.max(1) as f64)
            .collect();
        s.set_method(Box::new(FixedWeights::new(weights)));
        let acc = acc.lock().expect("measuring lock");
        let n = acc.measured.max(1) as f64;
        Ok(WindowMetrics {
            steps: taken,
            measured: acc.measured,
            loss,
            grad_norm: acc.grad_norm.iter().map(|g| g / n).collect(),
            weighted_gms: acc.weighted_gms / n,
            condition_number: (acc.condition_n > 0)
                .then(|| acc.condition_sum / acc.condition_n as f64),
            conflict_rate: acc.conflict / n,
        })
    }

    fn current_score(&mut self, member: usize) -> mtl_methods::Result<f64> {
        lift(self.member(member)?.val_score())
    }

    fn best_score(&mut self, member: usize) -> mtl_methods::Result<f64> {
        Ok(self.member(member)?.best_score())
    }

    fn copy(&mut self, from: usize, to: usize) -> mtl_methods::Result<()> {
        if from == to {
            return Ok(());
        }
        let source = self
            .members
            .get_mut(from)
            .and_then(Option::take)
            .ok_or_else(|| internal(format!("search member {from} does not exist")))?;
        let result = self
            .member(to)
            .and_then(|dst| lift(dst.copy_state_from(&source)));
        self.members[from] = Some(source);
        result
    }

    fn set_weights(&mut self, member: usize, weights: &Weights) -> mtl_methods::Result<()> {
        self.member(member)?
            .set_method(Box::new(FixedWeights::new(weights.clone())));
        self.weights[member] = weights.clone();
        Ok(())
    }

    fn release(&mut self, member: usize) {
        if let Some(slot) = self.members.get_mut(member) {
            *slot = None;
        }
    }
}
