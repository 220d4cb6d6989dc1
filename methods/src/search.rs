//! Weight searches: methods whose fixed weights λ come from trainings run before the real one.
//!
//! `tuned` (grid, random, PBT) and `autoscale` with a full exploratory run are searches. A
//! search drives trainings through a [`SearchBackend`] that the harness implements (this crate
//! has no tensors), and returns the chosen weights with its full history and its budget. The
//! harness then trains every seed of the sweep with those weights, at the cost of `uniform`.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};
use serde::{Deserialize, Serialize};

use crate::{Result, Weights};

/// Gradient statistics measured over a stretch of training (AutoScale's window metrics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowMetrics {
    /// Steps trained in the window.
    pub steps: u64,
    /// Steps at which gradients were measured.
    pub measured: u64,
    /// Mean training loss per task.
    pub loss: Vec<f64>,
    /// Mean per-task gradient norm ‖g_k‖ w.r.t. the shared parameters (unweighted).
    pub grad_norm: Vec<f64>,
    /// Mean gradient magnitude similarity over task pairs of the weighted gradients λ_k g_k.
    pub weighted_gms: f64,
    /// Mean condition number of the gradient matrix over measured steps where finite.
    pub condition_number: Option<f64>,
    /// Mean fraction of task pairs with negative gradient cosine.
    pub conflict_rate: f64,
}

/// What a search can ask of the harness. Members are independent trainings of the same model
/// and data (one seed), each with fixed weights.
pub trait SearchBackend {
    /// Number of tasks.
    fn num_tasks(&self) -> usize;
    /// Steps of one full training schedule.
    fn schedule_steps(&self) -> u64;
    /// Starts a member trained with `weights`; returns its index. Members are initialised from
    /// the search seed plus `init`, so `init = 0` for every member gives one shared start.
    fn spawn(&mut self, weights: &Weights, init: u64) -> Result<usize>;
    /// Trains `member` up to `steps` more steps; returns the steps actually taken.
    fn train(&mut self, member: usize, steps: u64) -> Result<u64>;
    /// How many members the harness trains side by side in [`SearchBackend::train_many`]
    /// (a search of independent trials keeps no more than this alive at once).
    fn side_by_side(&self) -> usize {
        1
    }
    /// [`SearchBackend::train`] for each of `members` (distinct), which are independent: the
    /// harness may train them side by side. Returns the steps each took, in order.
    fn train_many(&mut self, members: &[usize], steps: u64) -> Result<Vec<u64>> {
        members.iter().map(|&m| self.train(m, steps)).collect()
    }
    /// Like [`SearchBackend::train`], measuring per-task gradients w.r.t. the shared
    /// parameters every `every` steps (K extra backward passes per measured step).
    fn train_measuring(&mut self, member: usize, steps: u64, every: u64) -> Result<WindowMetrics>;
    /// Validation objective of the member's current parameters (lower is better; +∞ if the
    /// member diverged). Scores of all members share one normalisation.
    fn current_score(&mut self, member: usize) -> Result<f64>;
    /// Best validation objective over the member's completed epochs (its selected checkpoint).
    fn best_score(&mut self, member: usize) -> Result<f64>;
    /// Copies parameters and optimiser state of `from` into `to`.
    fn copy(&mut self, from: usize, to: usize) -> Result<()>;
    /// Changes the member's weights.
    fn set_weights(&mut self, member: usize, weights: &Weights) -> Result<()>;
    /// Frees the member.
    fn release(&mut self, member: usize);
    /// Keeps a point the search can continue from after an interruption: its own `state`
    /// and the training of every live member. A search calls it only where nothing is in
    /// flight (PBT: after a round's exploit step); the harness may skip a call (it saves at
    /// most so often). The default keeps nothing.
    fn save_point(&mut self, state: &serde_json::Value) -> Result<()> {
        let _ = state;
        Ok(())
    }
    /// The state of this search's last kept point, its members (spawned again, in the same
    /// order, before this call) restored to their training there; `None` to start over.
    fn restore_point(&mut self) -> Result<Option<serde_json::Value>> {
        Ok(None)
    }
}

/// Compute spent by a search, for budget-fair tables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Trainings started (members spawned).
    pub trainings: u64,
    /// Training steps over all members.
    pub steps: u64,
    /// Steps of one full schedule, the unit of `steps`.
    pub schedule_steps: u64,
}

impl Budget {
    /// Total steps in units of one full training.
    pub fn in_trainings(&self) -> f64 {
        self.steps as f64 / self.schedule_steps.max(1) as f64
    }
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchOutcome {
    /// The chosen weights, retrained on every seed.
    pub weights: Vec<f64>,
    /// Validation objective that chose them.
    pub score: f64,
    /// How they were chosen, in words.
    pub rule: String,
    /// Compute spent.
    pub budget: Budget,
    /// Every trial / generation / window, in order.
    pub history: serde_json::Value,
    /// The backend member kept (not released) as the result itself, for searches whose
    /// result is a trained model rather than weights to retrain (PBT's winning member).
    #[serde(default)]
    pub member: Option<usize>,
}

/// A search over fixed weights.
pub trait WeightSearch {
    /// Runs the search; `seed` seeds its own randomness.
    fn run(&mut self, backend: &mut dyn SearchBackend, seed: u64) -> Result<SearchOutcome>;

    /// Whether the result is one of the search's own trained members (kept, see
    /// [`SearchOutcome::member`]) rather than weights to retrain on every seed. Such a search
    /// runs once per seed, as the run itself.
    fn keeps_member(&self) -> bool {
        false
    }

    /// Whether the search is a set of independent trials, each spawned and trained for one
    /// full schedule and then only scored and released (grid, random). The harness may then
    /// log every finished trial and, when the search runs again after an interruption, replay
    /// the logged ones instead of training them again: the search cannot tell the difference.
    fn replays_trials(&self) -> bool {
        false
    }
}

/// Counts what a search spends while forwarding to the harness.
pub struct Metered<'a> {
    inner: &'a mut dyn SearchBackend,
    budget: Budget,
}

impl<'a> Metered<'a> {
    /// Wraps `inner` with zeroed counters.
    pub fn new(inner: &'a mut dyn SearchBackend) -> Self {
        let schedule_steps = inner.schedule_steps();
        Self {
            inner,
            budget: Budget {
                schedule_steps,
                ..Budget::default()
            },
        }
    }

    /// What was spent so far.
    pub fn budget(&self) -> Budget {
        self.budget.clone()
    }
}

impl SearchBackend for Metered<'_> {
    fn num_tasks(&self) -> usize {
        self.inner.num_tasks()
    }
    fn schedule_steps(&self) -> u64 {
        self.inner.schedule_steps()
    }
    fn spawn(&mut self, weights: &Weights, init: u64) -> Result<usize> {
        self.budget.trainings += 1;
        self.inner.spawn(weights, init)
    }
    fn train(&mut self, member: usize, steps: u64) -> Result<u64> {
        let done = self.inner.train(member, steps)?;
        self.budget.steps += done;
        Ok(done)
    }
    fn side_by_side(&self) -> usize {
        self.inner.side_by_side()
    }
    fn train_many(&mut self, members: &[usize], steps: u64) -> Result<Vec<u64>> {
        let done = self.inner.train_many(members, steps)?;
        self.budget.steps += done.iter().sum::<u64>();
        Ok(done)
    }
    fn train_measuring(&mut self, member: usize, steps: u64, every: u64) -> Result<WindowMetrics> {
        let m = self.inner.train_measuring(member, steps, every)?;
        self.budget.steps += m.steps;
        Ok(m)
    }
    fn current_score(&mut self, member: usize) -> Result<f64> {
        self.inner.current_score(member)
    }
    fn best_score(&mut self, member: usize) -> Result<f64> {
        self.inner.best_score(member)
    }
    fn copy(&mut self, from: usize, to: usize) -> Result<()> {
        self.inner.copy(from, to)
    }
    fn set_weights(&mut self, member: usize, weights: &Weights) -> Result<()> {
        self.inner.set_weights(member, weights)
    }
    fn release(&mut self, member: usize) {
        self.inner.release(member)
    }
    /// Keeps the budget spent so far beside the search's state.
    fn save_point(&mut self, state: &serde_json::Value) -> Result<()> {
        self.inner
            .save_point(&serde_json::json!({ "search": state, "budget": self.budget }))
    }
    fn restore_point(&mut self) -> Result<Option<serde_json::Value>> {
        let Some(mut saved) = self.inner.restore_point()? else {
            return Ok(None);
        };
        self.budget = serde_json::from_value(saved["budget"].take()).map_err(|e| {
            crate::Error::InvalidState {
                message: format!("a search's save point has no budget: {e}"),
            }
        })?;
        Ok(Some(saved["search"].take()))
    }
}

/// A seeded ChaCha8 stream for a search.
pub fn search_rng(seed: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(7);
    rng
}

/// One sample from the flat Dirichlet(1, …, 1) distribution on the K-simplex.
pub fn dirichlet(k: usize, rng: &mut ChaCha8Rng) -> Weights {
    let gamma = Gamma::new(1.0, 1.0).expect("valid gamma parameters");
    let draws: Vec<f64> = (0..k).map(|_| gamma.sample(rng)).collect();
    Weights::normalized(&draws).unwrap_or_else(|_| Weights::uniform(k))
}

/// The simplex lattice {λ : λ_k = i_k / n, Σ i_k = n} in lexicographic order of (i_1, …).
pub fn simplex_lattice(k: usize, n: usize) -> Vec<Weights> {
    fn fill(k: usize, left: usize, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if prefix.len() + 1 == k {
            prefix.push(left);
            out.push(prefix.clone());
            prefix.pop();
            return;
        }
        for i in (0..=left).rev() {
            prefix.push(i);
            fill(k, left - i, prefix, out);
            prefix.pop();
        }
    }
    let mut points = Vec::new();
    if k == 0 {
        return Vec::new();
    }
    fill(k, n, &mut Vec::new(), &mut points);
    points
        .into_iter()
        .map(|p| {
            let w: Vec<f64> = p.iter().map(|&i| i as f64 / n as f64).collect();
            Weights::normalized(&w).expect("lattice points are on the simplex")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lattice_has_the_right_size_and_stays_on_the_simplex() {
        // C(n + k − 1, k − 1) points.
        assert_eq!(simplex_lattice(2, 10).len(), 11);
        assert_eq!(simplex_lattice(3, 4).len(), 15);
        for w in simplex_lattice(3, 4) {
            assert!((w.as_slice().iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        assert_eq!(simplex_lattice(2, 2)[0].as_slice(), &[1.0, 0.0]);
    }

    #[test]
    fn dirichlet_is_seeded_and_on_the_simplex() {
        let a = dirichlet(5, &mut search_rng(3));
        assert_eq!(a, dirichlet(5, &mut search_rng(3)));
        assert_ne!(a, dirichlet(5, &mut search_rng(4)));
        assert!((a.as_slice().iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
