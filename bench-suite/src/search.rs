//! The harness side of weight searches: members are [`Session`]s of one model and dataset,
//! and gradient measurements ride on the trainer's own per-task backward path.

use std::sync::{Arc, Mutex};

use candle_core::Device;
use mtl_datasets::Dataset;
use mtl_methods::search::{SearchBackend, WindowMetrics};
use mtl_methods::uniform::FixedWeights;
use mtl_methods::{Diagnostics, GradSource, Method, Needs, StepInput, Update, Weights};

use crate::cell::RunClock;
use crate::config::TrainConfig;
use crate::model::ModelSpec;
use crate::save_point::SavePoints;
use crate::trainer::Session;
use crate::trial_log::{Trial, TrialLog};

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
    /// Each member's `init`.
    inits: Vec<u64>,
    reference: Option<(Vec<f64>, Vec<f64>)>,
    baselines: Option<Vec<f64>>,
    encoder_backward: u64,
    /// Finished trials, logged and replayed (searches that [`replay
    /// trials`](mtl_methods::search::WeightSearch::replays_trials) only).
    trial_log: Option<TrialLog>,
    /// Members replayed from the log instead of trained, and whether the search trained them.
    replayed: std::collections::BTreeMap<usize, (Trial, bool)>,
    /// Members trained here (not replayed).
    trained: usize,
    /// Whether a refusal to stack members was reported (once per search).
    stack_refused: bool,
    /// Where the search's save points go (searches that keep them: PBT).
    save_points: Option<SavePoints>,
    /// Steps trained in this process ([`SessionBackend::steps_trained_here`]).
    steps_here: u64,
    /// The search's time, across the processes that trained it.
    clock: RunClock,
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
            inits: Vec::new(),
            reference: None,
            baselines: None,
            encoder_backward: 0,
            trial_log: None,
            replayed: Default::default(),
            trained: 0,
            stack_refused: false,
            save_points: None,
            steps_here: 0,
            clock: RunClock::now(),
        }
    }

    /// Logs each finished trial to `log` and replays the trials it already holds instead of
    /// training them; only for searches whose
    /// [`replays_trials`](mtl_methods::search::WeightSearch::replays_trials) is true.
    pub fn with_trial_log(mut self, log: TrialLog) -> Self {
        if self.reference.is_none() {
            self.reference = log.reference().cloned();
        }
        // The search's time continues from its last logged trial.
        if let Some(spent) = log.last_spent() {
            self.clock.continue_from(spent);
        }
        self.trial_log = Some(log);
        self
    }

    /// Times the search with `clock` (by default, from when the backend was made).
    pub fn with_clock(mut self, clock: RunClock) -> Self {
        self.clock = clock;
        self
    }

    /// Keeps the search's save points ([`crate::save_point`]) and starts from the last one.
    pub fn with_save_points(mut self, points: SavePoints) -> Self {
        self.save_points = Some(points);
        self
    }

    /// The search's clock: its time in this process, plus what the trial log or save point it
    /// continued from had spent.
    pub fn clock(&self) -> RunClock {
        self.clock
    }

    /// The trial log, once the search is over.
    pub fn into_trial_log(self) -> Option<TrialLog> {
        self.trial_log
    }

    /// Members trained here rather than replayed from the trial log.
    pub fn trained_members(&self) -> usize {
        self.trained
    }

    /// Scores members by Δm against these single-task validation metrics (`selection = "dm"`).
    pub fn with_baselines(mut self, baselines: Option<Vec<f64>>) -> Self {
        self.baselines = baselines;
        self
    }

    /// Backward passes through the shared encoder over all members so far.
    pub fn encoder_backward(&self) -> u64 {
        self.encoder_backward
    }

    /// Takes a member out of the backend (a kept search result).
    pub fn take(&mut self, member: usize) -> mtl_methods::Result<Session<'a>> {
        self.members
            .get_mut(member)
            .and_then(Option::take)
            .ok_or_else(|| internal(format!("search member {member} does not exist")))
    }

    /// Trains `member` with `train` and charges the encoder backward passes it spent.
    fn charged<T>(
        &mut self,
        member: usize,
        train: impl FnOnce(&mut Session<'a>) -> mtl_methods::Result<T>,
    ) -> mtl_methods::Result<T> {
        let s = self.member(member)?;
        let before = (s.encoder_backward(), s.steps_done());
        let out = train(s);
        let s = self.member(member)?;
        let spent = (s.encoder_backward() - before.0, s.steps_done() - before.1);
        self.encoder_backward += spent.0;
        self.steps_here += spent.1;
        out
    }

    /// Training steps taken in this process over all members: those replayed from a trial log
    /// or restored from a save point are not counted.
    pub fn steps_trained_here(&self) -> u64 {
        self.steps_here
    }

    fn member(&mut self, i: usize) -> mtl_methods::Result<&mut Session<'a>> {
        self.members
            .get_mut(i)
            .and_then(Option::as_mut)
            .ok_or_else(|| internal(format!("search member {i} does not exist")))
    }
}

impl SessionBackend<'_> {
    /// Logs `member`'s trial once its training is over (the whole schedule trained, or
    /// diverged): its weights, init, steps, best score and encoder backward passes.
    fn log_trial(&mut self, member: usize) -> mtl_methods::Result<()> {
        let Some(log) = &mut self.trial_log else {
            return Ok(());
        };
        let s = self.members[member]
            .as_ref()
            .ok_or_else(|| internal(format!("search member {member} does not exist")))?;
        if s.steps_done() < s.total_steps() && !s.diverged() {
            return Ok(());
        }
        let best = s.best_score();
        let trial = Trial {
            weights: self.weights[member].as_slice().to_vec(),
            init: self.inits[member],
            steps: s.steps_done(),
            best_score: best.is_finite().then_some(best),
            encoder_backward: s.encoder_backward(),
            reference: s.reference(),
            spent: Some(self.clock.spent()),
        };
        lift(log.append(trial))
    }
}

/// A broken invariant of the search backend, as the method error that carries it.
fn internal(message: String) -> mtl_methods::Error {
    mtl_methods::Error::Backend(Box::new(crate::Error::Internal(message)))
}

/// Harness failures surface to the search as method errors carrying the harness error,
/// which [`crate::Error`]'s conversion takes back out.
fn lift<T>(r: crate::Result<T>) -> mtl_methods::Result<T> {
    r.map_err(|e| mtl_methods::Error::Backend(Box::new(e)))
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
        Needs::grads(if self.seen % self.every == 0 {
            GradSource::Params
        } else {
            GradSource::None
        })
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
        let logged = self
            .trial_log
            .as_ref()
            .and_then(|log| log.find(weights.as_slice(), init))
            .cloned();
        if let Some(trial) = logged {
            self.members.push(None);
            self.weights.push(weights.clone());
            self.inits.push(init);
            let member = self.members.len() - 1;
            self.replayed.insert(member, (trial, false));
            return Ok(member);
        }
        self.trained += 1;
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
        // All members are scored against the first member's initial validation results.
        match &self.reference {
            Some(r) => lift(session.set_reference(r.clone()))?,
            None => self.reference = Some(session.reference()),
        }
        if let Some(b) = &self.baselines {
            lift(session.set_baselines(b.clone()))?;
        }
        if session.needs_baselines() {
            return Err(internal(
                "selection = \"dm\" needs the single-task baselines' validation metrics".into(),
            ));
        }
        self.members.push(Some(session));
        self.weights.push(weights.clone());
        self.inits.push(init);
        Ok(self.members.len() - 1)
    }

    fn side_by_side(&self) -> usize {
        match self.train.stack_members {
            0 => rayon::current_num_threads(),
            stacked => stacked,
        }
    }

    /// Members replayed from the trial log are answered from it; the others train in parallel
    /// on rayon's pool, one member per thread at a time. Each member's arithmetic is the same
    /// as when trained alone (its matrix products split work by the thread setting, not by the
    /// thread that runs them), so records do not depend on this.
    fn train_many(&mut self, members: &[usize], steps: u64) -> mtl_methods::Result<Vec<u64>> {
        use rayon::prelude::*;
        let wanted: std::collections::BTreeSet<usize> = members.iter().copied().collect();
        if wanted.len() != members.len() {
            return Err(internal("a search member listed twice".into()));
        }
        let replayed = &self.replayed;
        let mut live: Vec<(usize, &mut Session<'_>)> = self
            .members
            .iter_mut()
            .enumerate()
            .filter(|(m, _)| wanted.contains(m) && !replayed.contains_key(m))
            .filter_map(|(m, s)| s.as_mut().map(|s| (m, s)))
            .collect();
        let expected = wanted.iter().filter(|m| !replayed.contains_key(m)).count();
        if live.len() != expected {
            return Err(internal("a search member to train does not exist".into()));
        }
        let before: Vec<(u64, u64)> = live
            .iter()
            .map(|(_, s)| (s.steps_done(), s.encoder_backward()))
            .collect();
        let spent = |s: &Session<'_>, (steps, backward): (u64, u64)| {
            (s.steps_done() - steps, s.encoder_backward() - backward)
        };
        let mut first_error = None;
        let mut stacked = vec![0; live.len()];
        let size = self.train.stack_members;
        if size > 0 {
            for (group, taken) in live.chunks_mut(size).zip(stacked.chunks_mut(size)) {
                let refs: Vec<&Session<'_>> = group.iter().map(|(_, s)| &**s).collect();
                if let Some(why) = crate::population::why_not_stacked(&refs) {
                    if group.len() > 1 && !self.stack_refused {
                        tracing::warn!(reason = %why, "search members train side by side, not stacked");
                        self.stack_refused = true;
                    }
                    continue;
                }
                let weights: Vec<Vec<f64>> = group
                    .iter()
                    .map(|(m, _)| self.weights[*m].as_slice().to_vec())
                    .collect();
                let mut sessions: Vec<&mut Session<'_>> =
                    group.iter_mut().map(|(_, s)| &mut **s).collect();
                match crate::population::train_stacked(
                    self.dataset,
                    &mut sessions,
                    &weights,
                    &self.train,
                    steps,
                ) {
                    Ok(t) => taken.fill(t),
                    Err(e) => {
                        first_error = Some(e);
                        break;
                    }
                }
            }
        }
        let results: Vec<(usize, crate::Result<(u64, u64)>)> = if first_error.is_some() {
            live.iter()
                .zip(&before)
                .map(|((m, s), b)| (*m, Ok(spent(s, *b))))
                .collect()
        } else {
            live.par_iter_mut()
                .zip(&before)
                .zip(&stacked)
                .map(|(((m, s), b), done)| {
                    let trained = s.train_steps(steps - done, &mut || {});
                    (*m, trained.map(|()| spent(s, *b)))
                })
                .collect()
        };
        // Every member that finished is charged and logged before an error of another (a stop
        // signal reaches them all) is returned, so a cut search keeps all its finished trials.
        let mut taken = std::collections::BTreeMap::new();
        for (m, result) in results {
            match result {
                Ok((steps, backward)) => {
                    self.encoder_backward += backward;
                    self.steps_here += steps;
                    self.log_trial(m)?;
                    taken.insert(m, steps);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return lift(Err(e));
        }
        members
            .iter()
            .map(|&m| match taken.get(&m) {
                Some(&t) => Ok(t),
                None => self.train(m, steps),
            })
            .collect()
    }

    fn train(&mut self, member: usize, steps: u64) -> mtl_methods::Result<u64> {
        if let Some((trial, trained)) = self.replayed.get_mut(&member) {
            if *trained || steps < trial.steps {
                return Err(internal(format!(
                    "search member {member} was replayed from the trial log, which holds one \
                     training of {} steps",
                    trial.steps
                )));
            }
            *trained = true;
            self.encoder_backward += trial.encoder_backward;
            return Ok(trial.steps);
        }
        let taken = self.charged(member, |s| {
            let before = s.steps_done();
            lift(s.train_steps(steps, &mut || {}))?;
            Ok(s.steps_done() - before)
        })?;
        self.log_trial(member)?;
        Ok(taken)
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
        let (taken, loss) = self.charged(member, |s| {
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
            Ok((taken, loss))
        })?;
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
        if let Some((trial, _)) = self.replayed.get(&member) {
            return Ok(trial.best_score.unwrap_or(f64::INFINITY));
        }
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
        self.replayed.remove(&member);
    }

    fn save_point(&mut self, state: &serde_json::Value) -> mtl_methods::Result<()> {
        let Some(points) = &mut self.save_points else {
            return Ok(());
        };
        if !points.due() {
            return Ok(());
        }
        let members = self
            .members
            .iter()
            .map(|m| m.as_ref().map(Session::state).transpose())
            .collect::<crate::Result<Vec<_>>>();
        let weights = self.weights.iter().map(|w| w.as_slice().to_vec()).collect();
        let spent = self.clock.spent();
        lift(members.and_then(|m| points.write(state, self.encoder_backward, weights, m, spent)))
    }

    fn restore_point(&mut self) -> mtl_methods::Result<Option<serde_json::Value>> {
        let Some(points) = &self.save_points else {
            return Ok(None);
        };
        let Some(point) = lift(points.read(self.members.len()))? else {
            return Ok(None);
        };
        for (slot, saved) in self.members.iter_mut().zip(point.members) {
            match (slot.as_mut(), saved) {
                (Some(session), Some(state)) => lift(session.resume_from(state))?,
                (_, None) => *slot = None,
                (None, Some(_)) => {
                    return Err(internal("a saved member was not spawned again".into()))
                }
            }
        }
        self.weights = point
            .weights
            .into_iter()
            .map(Weights::simplex)
            .collect::<mtl_methods::Result<_>>()?;
        self.encoder_backward = point.encoder_backward;
        if let Some(spent) = point.spent {
            self.clock.continue_from(spent);
        }
        Ok(Some(point.search))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mtl_datasets::{SyntheticLinear, SyntheticLinearConfig};
    use mtl_methods::autoscale::AutoScaleConfig;
    use mtl_methods::search::WeightSearch;
    use mtl_methods::tuned::{PbtStart, Strategy, TunedConfig};

    use crate::trial_log::TrialLog;
    use std::time::Duration;

    fn dataset(scales: Vec<f64>) -> SyntheticLinear {
        dataset_of_dim(8, scales)
    }

    fn dataset_of_dim(dim: usize, scales: Vec<f64>) -> SyntheticLinear {
        SyntheticLinear::new(SyntheticLinearConfig {
            tasks: 2,
            dim,
            train: 256,
            val: 128,
            test: 64,
            task_scales: scales,
            ..Default::default()
        })
        .unwrap()
    }

    fn train_config(epochs: usize) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size: 32,
            lr: 0.02,
            // The loss objective is smooth in λ here; the MAE metric's argmin is noisier.
            selection: crate::selection::Objective::Loss,
            ..Default::default()
        }
    }

    fn backend<'a>(ds: &'a SyntheticLinear, model: &str, epochs: usize) -> SessionBackend<'a> {
        SessionBackend::new(
            ds,
            ModelSpec::parse(model).unwrap(),
            train_config(epochs),
            Device::Cpu,
            0,
        )
    }

    fn params(b: &SessionBackend<'_>, m: usize) -> Vec<Vec<f32>> {
        b.members[m]
            .as_ref()
            .unwrap()
            .model()
            .params()
            .iter()
            .map(|p| p.var.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .collect()
    }

    #[test]
    fn grid_search_recovers_the_best_weight_of_an_exhaustive_fine_sweep() {
        // Two tasks in d = 2 through a width-1 linear encoder: the encoder direction rotates
        // from θ₂ to θ₁ as λ₁ grows, so the weights trade the tasks off smoothly and the
        // validation objective has one interior optimum. (In higher dimensions and short
        // training the landscape can have two basins, where any grid can miss the best one.)
        let ds = dataset_of_dim(2, vec![1.0, 1.5]);
        let mut b = backend(&ds, "linear-xs", 8);
        let fine: Vec<(f64, f64)> = (0..=20)
            .map(|i| {
                let l1 = i as f64 / 20.0;
                let m = b
                    .spawn(&Weights::simplex(vec![l1, 1.0 - l1]).unwrap(), 0)
                    .unwrap();
                b.train(m, b.schedule_steps()).unwrap();
                (l1, b.best_score(m).unwrap())
            })
            .collect();
        let (fine_best, _) = fine
            .iter()
            .copied()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();

        let mut search = TunedConfig {
            strategy: Strategy::Grid,
            step: 0.2,
            ..Default::default()
        };
        let outcome = search.run(&mut backend(&ds, "linear-xs", 8), 0).unwrap();
        assert_eq!(
            outcome.budget.trainings, 6,
            "lattice of step 0.2 has 6 points"
        );
        assert_eq!(outcome.budget.steps, 6 * outcome.budget.schedule_steps);
        let chosen = outcome.weights[0];
        assert!(
            (chosen - fine_best).abs() <= 0.2 + 1e-9,
            "grid chose λ₁ = {chosen}, fine sweep's best is {fine_best}: {fine:?}"
        );
        // Same seed, same shared initialisation: the grid points' scores are the fine sweep's.
        for trial in outcome.history["trials"].as_array().unwrap() {
            let l1 = trial["weights"][0].as_f64().unwrap();
            let fine_score = fine.iter().find(|(w, _)| (w - l1).abs() < 1e-12).unwrap().1;
            assert_eq!(trial["score"].as_f64().unwrap(), fine_score);
        }
    }

    #[test]
    fn a_cut_grid_search_replays_its_logged_trials_and_ends_as_an_uncut_one() {
        let ds = dataset_of_dim(2, vec![1.0, 1.5]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("search.trials");
        let grid = || TunedConfig {
            strategy: Strategy::Grid,
            step: 0.25,
            ..Default::default()
        };
        let run = |log: Option<TrialLog>| {
            let mut b = backend(&ds, "linear-xs", 3);
            if let Some(log) = log {
                b = b.with_trial_log(log);
            }
            let outcome = grid().run(&mut b, 0).unwrap();
            (
                outcome,
                b.encoder_backward(),
                b.trained_members(),
                b.clock().spent(),
            )
        };
        let (whole, whole_backward, trained, _) = run(None);
        assert_eq!(trained, 5);
        // The same search, logging: every trial lands in the log, one line each.
        let (logged, _, _, first_time) = run(Some(TrialLog::open(&path).unwrap()));
        assert_eq!(logged, whole);
        let lines: Vec<String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(lines.len(), 5);
        // Cut after two trials, the third line half written: the next run trains three.
        std::fs::write(
            &path,
            format!(
                "{}\n{}\n{}",
                lines[0],
                lines[1],
                &lines[2][..lines[2].len() / 2]
            ),
        )
        .unwrap();
        let log = TrialLog::open(&path).unwrap();
        assert_eq!(log.len(), 2);
        let second = log.last_spent().unwrap();
        assert!(second.seconds > 0.0 && second.seconds <= first_time.seconds);
        let (resumed, backward, trained, time) = run(Some(log));
        assert_eq!(trained, 3, "two trials replayed");
        assert_eq!(resumed, whole, "same choice, history and budget");
        assert_eq!(backward, whole_backward);
        // Its time counts the cut search's up to the second trial, from that search's start.
        assert_eq!(time.started_unix, first_time.started_unix);
        assert!(time.seconds > second.seconds, "{time:?} vs {second:?}");
    }

    /// The grid search of step 0.25 (5 candidates on 2 tasks) on `b`.
    fn grid_search(b: &mut SessionBackend<'_>) -> mtl_methods::search::SearchOutcome {
        TunedConfig {
            strategy: Strategy::Grid,
            step: 0.25,
            ..Default::default()
        }
        .run(b, 0)
        .unwrap()
    }

    /// A PBT population of 4 with rounds of 8 steps on `b`: what a search reports of it.
    fn pbt_search(
        b: &mut SessionBackend<'_>,
    ) -> (
        Vec<f64>,
        f64,
        serde_json::Value,
        mtl_methods::search::Budget,
    ) {
        let o = TunedConfig {
            strategy: Strategy::Pbt,
            population: 4,
            ready: 8,
            ..Default::default()
        }
        .run(b, 0)
        .unwrap();
        (o.weights, o.score, o.history, o.budget)
    }

    #[test]
    fn members_trained_side_by_side_give_the_search_trained_one_by_one() {
        let ds = dataset(vec![1.0, 3.0]);
        let searches = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut b = backend(&ds, "mlp-xs", 3);
                assert_eq!(b.side_by_side(), threads);
                let o = grid_search(&mut b);
                let grid = (o.weights, o.score, o.history, o.budget);
                (grid, pbt_search(&mut backend(&ds, "mlp-xs", 3)))
            })
        };
        assert_eq!(searches(3), searches(1));
    }

    #[test]
    fn a_stacked_search_chooses_as_one_trained_member_by_member() {
        let ds = dataset(vec![1.0, 3.0]);
        let stacked = |stack: usize| {
            let train = TrainConfig {
                stack_members: stack,
                ..train_config(3)
            };
            SessionBackend::new(
                &ds,
                ModelSpec::parse("mlp-xs").unwrap(),
                train,
                Device::Cpu,
                0,
            )
        };
        let search = |stack: usize| {
            let mut b = stacked(stack);
            (grid_search(&mut b), b.encoder_backward())
        };
        let ((alone, backward), (stacked_outcome, stacked_backward)) = (search(0), search(4));
        assert_eq!(stacked_outcome.weights, alone.weights);
        assert_eq!(stacked_outcome.budget, alone.budget);
        assert_eq!(stacked_backward, backward);
        let scores = |o: &mtl_methods::search::SearchOutcome| -> Vec<f64> {
            o.history["trials"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["score"].as_f64().unwrap())
                .collect()
        };
        // 5 candidates in groups of 4: one stacked group of 4, then one of 1.
        for (a, s) in scores(&alone).iter().zip(scores(&stacked_outcome)) {
            assert!((a - s).abs() <= 1e-5 * a.abs(), "{a} vs {s}");
        }
        // A PBT population (members from different seeds, a batch each) stacks too: the same
        // exploit decisions and budget, scores equal up to rounding.
        let ((w, score, history, budget), (w0, score0, history0, budget0)) =
            (pbt_search(&mut stacked(4)), pbt_search(&mut stacked(0)));
        assert_eq!((w, &budget), (w0, &budget0));
        assert!(
            (score - score0).abs() <= 1e-5 * score0.abs(),
            "{score} vs {score0}"
        );
        let rounds = |h: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value)> {
            h["rounds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r["weights"].clone(), r["exploit"].clone()))
                .collect()
        };
        assert_eq!(rounds(&history), rounds(&history0));
    }

    #[test]
    fn a_pbt_search_continues_from_its_save_point_as_if_never_cut() {
        let ds = dataset(vec![1.0, 3.0]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cell.population.json");
        // Save points at most once an hour: the only one written is the first round's.
        let saving = || {
            let points = SavePoints::new(path.clone(), &"pbt", Duration::from_secs(3600));
            backend(&ds, "mlp-xs", 3).with_save_points(points.unwrap())
        };
        let mut plain = backend(&ds, "mlp-xs", 3);
        let uncut = pbt_search(&mut plain);
        let mut first = saving();
        assert_eq!(pbt_search(&mut first), uncut, "saving changes nothing");
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let rounds = saved["search"]["search"]["rounds"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(rounds, 1, "24 steps in rounds of 8: saved after the first");
        assert_eq!(saved["search"]["budget"]["steps"], 4 * 8);
        // A search cut after that point starts from it: it trains two rounds, not three,
        // and ends as the uncut one, budget and backward passes included.
        let mut resumed = saving();
        assert_eq!(pbt_search(&mut resumed), uncut);
        // Its time counts the cut search's, from that one's start.
        let (earlier, now) = (first.clock().spent(), resumed.clock().spent());
        let saved_spent = saved["spent"]["seconds"].as_f64().unwrap();
        assert!(
            saved_spent > 0.0 && saved_spent <= earlier.seconds,
            "{saved}"
        );
        assert_eq!(now.started_unix, earlier.started_unix);
        assert!(now.seconds > saved_spent, "{now:?} vs {saved_spent}");
        assert_eq!(resumed.encoder_backward(), plain.encoder_backward());
        assert_eq!(plain.steps_trained_here(), 4 * 24);
        assert_eq!(resumed.steps_trained_here(), 4 * 16);
        // A save point of another search is set aside, and the search starts over.
        let other = SavePoints::new(path.clone(), &"another", Duration::ZERO).unwrap();
        let mut fresh = backend(&ds, "mlp-xs", 3).with_save_points(other);
        assert_eq!(pbt_search(&mut fresh), uncut);
        assert!(path.with_extension("json.unused").exists());
    }

    #[test]
    fn copy_moves_parameters_and_optimizer_state() {
        let ds = dataset(Vec::new());
        let mut b = backend(&ds, "mlp-xs", 3);
        let w = Weights::uniform(2);
        let (m0, m1) = (b.spawn(&w, 0).unwrap(), b.spawn(&w, 1).unwrap());
        // 10 steps: one epoch of 8 ended, so each has a best checkpoint of its own.
        b.train(m0, 10).unwrap();
        b.train(m1, 10).unwrap();
        assert_ne!(params(&b, m0), params(&b, m1), "different initialisations");
        assert_ne!(b.best_score(m0).unwrap(), b.best_score(m1).unwrap());
        b.copy(m0, m1).unwrap();
        assert_eq!(params(&b, m0), params(&b, m1));
        // The lineage's best checkpoint comes along (PBT reports the lineage's selection).
        assert_eq!(b.best_score(m0).unwrap(), b.best_score(m1).unwrap());
        assert_eq!(
            b.encoder_backward(),
            20,
            "one backward per step, charged per member"
        );
        // With the same Adam moments and the same batches, one more step keeps them equal.
        let batch = ds.batches(mtl_datasets::Split::Train, 32, 1, 9).remove(0);
        for m in [m0, m1] {
            b.members[m].as_mut().unwrap().step_on(&batch).unwrap();
        }
        assert_eq!(params(&b, m0), params(&b, m1));
    }

    fn pbt(seed: u64) -> mtl_methods::search::SearchOutcome {
        let ds = dataset(vec![1.0, 3.0]);
        let mut search = TunedConfig {
            strategy: Strategy::Pbt,
            population: 4,
            ready: 8,
            search_seed: seed,
            ..Default::default()
        };
        search.run(&mut backend(&ds, "mlp-xs", 3), 0).unwrap()
    }

    #[test]
    fn pbt_exploits_explores_stays_on_the_simplex_and_is_reproducible() {
        let a = pbt(0);
        let rounds = a.history["rounds"].as_array().unwrap();
        assert_eq!(rounds.len(), 3, "24 steps in rounds of 8");
        assert_eq!(a.budget.trainings, 4);
        assert_eq!(a.budget.steps, 4 * a.budget.schedule_steps);
        let mut exploits = 0;
        for (r, round) in rounds.iter().enumerate() {
            for w in round["weights"].as_array().unwrap() {
                let w: Vec<f64> = w
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect();
                assert!(
                    w.iter().all(|x| *x >= 0.0) && (w.iter().sum::<f64>() - 1.0).abs() < 1e-9,
                    "{w:?}"
                );
            }
            for e in round["exploit"].as_array().unwrap() {
                exploits += 1;
                let (dst, src) = (
                    e["member"].as_u64().unwrap() as usize,
                    e["copied_from"].as_u64().unwrap() as usize,
                );
                assert_ne!(dst, src);
                // The scores that ranked them: the copied member was the worst.
                let scores = round["scores"].as_array().unwrap();
                assert!(scores[dst].as_f64().unwrap() >= scores[src].as_f64().unwrap());
                // Explore changed the copied weights.
                let before = &rounds[r]["weights"][src];
                assert_ne!(&e["new_weights"], before);
            }
        }
        assert_eq!(exploits, 2, "one member replaced per round except the last");
        // The kept member and its lineage's weight schedule, from step 0.
        assert!(a.member.is_some());
        let schedule = a.history["schedule"].as_array().unwrap();
        assert_eq!(schedule[0]["from_step"], 0);
        let last = schedule.last().unwrap()["weights"].as_array().unwrap();
        let last: Vec<f64> = last.iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(last, a.weights, "the schedule ends with the chosen weights");
        assert!((a.weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(a, pbt(0), "same seed, same search");
        assert_ne!(a.history, pbt(1).history);
    }

    #[test]
    fn pbt_from_uniform_without_perturbation_keeps_every_member_uniform_and_the_same_inits() {
        let ds = dataset(vec![1.0, 3.0]);
        let run = |start, perturb| {
            let mut search = TunedConfig {
                strategy: Strategy::Pbt,
                population: 4,
                ready: 8,
                perturb,
                start,
                ..Default::default()
            };
            search.run(&mut backend(&ds, "mlp-xs", 3), 0).unwrap()
        };
        let control = run(PbtStart::Uniform, 0.0);
        let rounds = control.history["rounds"].as_array().unwrap();
        let mut exploits = 0;
        for round in rounds {
            for w in round["weights"].as_array().unwrap() {
                assert_eq!(w, &serde_json::json!([0.5, 0.5]));
            }
            exploits += round["exploit"].as_array().unwrap().len();
        }
        assert_eq!(exploits, 2, "the population still exploits");
        assert_eq!(control.weights, vec![0.5, 0.5]);
        // Member 0 starts uniform in both, from the same initialisation: before any exploit
        // its first score is the search proper's.
        let search = run(PbtStart::Dirichlet, 0.2);
        assert_eq!(
            rounds[0]["scores"][0],
            search.history["rounds"][0]["scores"][0]
        );
        assert_ne!(
            rounds[0]["scores"][1],
            search.history["rounds"][0]["scores"][1]
        );
        // The default is not written, so configurations from before `start` keep their ids.
        let config = serde_json::to_value(TunedConfig::default()).unwrap();
        assert!(config.get("start").is_none(), "{config}");
        let uniform = TunedConfig {
            start: PbtStart::Uniform,
            ..Default::default()
        };
        assert_eq!(serde_json::to_value(uniform).unwrap()["start"], "uniform");
    }

    #[test]
    fn autoscale_equalises_weighted_gradient_magnitudes_when_one_loss_is_100x() {
        // Task 2's targets ×10: its loss is ×100 and its gradients ≈ ×10.
        let ds = dataset(vec![1.0, 10.0]);
        let mut search = AutoScaleConfig {
            windows: 4,
            ..Default::default()
        };
        let mut b = backend(&ds, "mlp-xs", 4);
        let out = search.run(&mut b, 0).unwrap();
        assert_eq!(out.budget.trainings, 1);
        // Every step measured: K = 2 backward passes per step, all charged to the search.
        assert_eq!(b.encoder_backward(), 2 * out.budget.steps);
        let windows = out.history["windows"].as_array().unwrap();
        assert_eq!(windows.len(), 4);
        let gms: Vec<f64> = windows
            .iter()
            .map(|w| w["metrics"]["weighted_gms"].as_f64().unwrap())
            .collect();
        for w in windows {
            let g: Vec<f64> = w["metrics"]["grad_norm"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            let l: Vec<f64> = w["weights"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            assert!(g[1] > 3.0 * g[0], "task 2's gradients dominate: {g:?}");
            // The window's weights make the weighted gradient magnitudes equal.
            assert!(
                (l[0] * g[0] - l[1] * g[1]).abs() < 1e-9 * g[1],
                "{l:?} {g:?}"
            );
        }
        // Trained with uniform weights the weighted magnitudes disagree; once reweighted they agree.
        assert!(gms[0] < 0.6, "{gms:?}");
        assert!(gms[1..].iter().all(|g| *g > 0.75), "{gms:?}");
        assert!(out.weights[0] > 0.75, "{:?}", out.weights);
    }
}
