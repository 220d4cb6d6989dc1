//! Linear scalarization with fixed weights λ tuned on the validation objective.
//!
//! The strong baseline of Kurin et al. (NeurIPS 2022, "In Defense of the Unitary
//! Scalarization for Deep Multi-Task Learning") and Xin et al. (NeurIPS 2022, "Do Current
//! Multi-Task Optimization Methods in Deep Learning Even Help?"): search the weights, select on
//! validation, and report the budget next to the result. Strategies:
//! - `grid`: the simplex lattice {λ_k = i_k·h} of step `step` h, C(1/h + K − 1, K − 1) weights.
//!   Every candidate trains one full schedule from the same initialisation; the lowest
//!   best-epoch validation objective wins. A lattice of more than [`MAX_GRID`] weights is
//!   refused: it grows as (1/h)^(K−1) (184,756 weights at K = 11, h = 0.1), so many tasks call
//!   for a coarser step or `random`.
//! - `random`: `trials` flat-Dirichlet samples, otherwise as `grid`.
//! - `pbt`: population-based training after Royer, Blankevoort & Ehteshami Bejnordi (NeurIPS
//!   2023, "Scalarization for Multi-Task and Multi-Domain Learning at Scale", §4; PBT from
//!   Jaderberg et al., 2017): `population` members start from Dirichlet weights (member 0
//!   uniform) and their own initialisation, train side by side; every `ready` steps the worst
//!   `truncation` fraction copies parameters, optimiser state and weights of a randomly chosen
//!   member of the best fraction (exploit) and multiplies each weight by exp(σε), ε ~ N(0, 1),
//!   σ = `perturb`, renormalised to the simplex (explore); a member that copies another takes
//!   over its lineage (epoch logs and best checkpoint too). With `pbt_result = "member"`
//!   (default) the result is what PBT found: the member whose lineage has the best selected
//!   checkpoint, with its weight schedule recorded; PBT then runs once per seed (seeded by it)
//!   and the whole population is that run's budget. `pbt_result = "retrain"` instead retrains
//!   the final weights of the member with the best validation objective at the end, from
//!   scratch, on every seed. `start = "uniform"` starts every member from uniform weights;
//!   with `perturb = 0` they stay there, and PBT keeps only its population, exploit and member
//!   selection: the control that separates what the searched weights add from what picking
//!   the best of a population of trainings adds, at the same budget.
//!
//! The validation objective is the harness's selection objective (`[train] selection`), scored
//! against a common reference model so members compare. Budget: trainings × schedule steps
//! (recorded; the harness adds backward passes and wall time). Grid, random and retrained PBT
//! weights are then retrained on every seed at the cost of `uniform` (one backward/step).
//!
//! Hyper-parameters: `strategy` (grid), `step` h (0.1; 1/h an integer), `trials` (16),
//! `population` (8), `ready` (50 steps), `truncation` (0.25), `perturb` (0.2), `search_seed` (0),
//! `pbt_result` (member), `start` (dirichlet).

use rand::seq::IndexedRandom;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::method::{Method, MethodConfig, ParamDoc};
use crate::search::{
    dirichlet, search_rng, simplex_lattice, Metered, SearchBackend, SearchOutcome, WeightSearch,
};
use crate::{Error, Gram, Result, Weights};

/// How `tuned` searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// The simplex lattice of step `step` (at most 1000 weights).
    Grid,
    /// Dirichlet samples.
    Random,
    /// Population-based training.
    Pbt,
}

/// What a PBT search returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PbtResult {
    /// The winning member itself: its model and its weight schedule.
    Member,
    /// The winner's final weights, retrained from scratch on every seed.
    Retrain,
}

/// Where PBT's members start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PbtStart {
    /// Member 0 uniform, the others flat-Dirichlet draws (the search proper).
    #[default]
    Dirichlet,
    /// Every member uniform. With `perturb = 0` the weights never move: PBT's population,
    /// exploit and member selection without any weight search, the control that tells what
    /// the searched weights add at the same budget.
    Uniform,
}

impl PbtStart {
    fn is_dirichlet(&self) -> bool {
        *self == PbtStart::Dirichlet
    }
}

/// Hyper-parameters of `tuned`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TunedConfig {
    /// Search strategy.
    pub strategy: Strategy,
    /// Lattice step h of `grid`.
    pub step: f64,
    /// Candidates of `random`.
    pub trials: usize,
    /// PBT population size.
    pub population: usize,
    /// PBT steps between exploit/explore rounds.
    pub ready: u64,
    /// PBT fraction replaced each round.
    pub truncation: f64,
    /// PBT log-space perturbation σ.
    pub perturb: f64,
    /// Seed of the search (candidates, member initialisations, PBT choices).
    pub search_seed: u64,
    /// What PBT returns.
    pub pbt_result: PbtResult,
    /// PBT's initial weights (not written when the default, so that configurations written
    /// before it existed keep their cell ids).
    #[serde(skip_serializing_if = "PbtStart::is_dirichlet")]
    pub start: PbtStart,
}

impl Default for TunedConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::Grid,
            step: 0.1,
            trials: 16,
            population: 8,
            ready: 50,
            truncation: 0.25,
            perturb: 0.2,
            search_seed: 0,
            pbt_result: PbtResult::Member,
            start: PbtStart::Dirichlet,
        }
    }
}

impl TunedConfig {
    /// Grid resolution n = 1/h.
    fn lattice_n(&self) -> usize {
        (1.0 / self.step).round() as usize
    }
}

impl MethodConfig for TunedConfig {
    fn params() -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "strategy",
                kind: "grid | random | pbt",
                help: "how the weights are searched",
            },
            ParamDoc {
                name: "step",
                kind: "float in (0, 1], 1/step an integer",
                help: "grid lattice step h",
            },
            ParamDoc {
                name: "trials",
                kind: "integer ≥ 1",
                help: "candidates of random",
            },
            ParamDoc {
                name: "population",
                kind: "integer ≥ 2",
                help: "PBT population size",
            },
            ParamDoc {
                name: "ready",
                kind: "integer ≥ 1",
                help: "PBT steps between exploit/explore rounds",
            },
            ParamDoc {
                name: "truncation",
                kind: "float in (0, 0.5]",
                help: "PBT fraction replaced per round",
            },
            ParamDoc {
                name: "perturb",
                kind: "float ≥ 0",
                help: "PBT log-space perturbation σ",
            },
            ParamDoc {
                name: "search_seed",
                kind: "integer",
                help: "seed of the search",
            },
            ParamDoc {
                name: "pbt_result",
                kind: "member | retrain",
                help: "PBT's result: the winning member itself, or its final weights retrained",
            },
            ParamDoc {
                name: "start",
                kind: "dirichlet | uniform",
                help: "PBT's initial weights: member 0 uniform and Dirichlet draws, or all uniform (with perturb = 0: the no-search control)",
            },
        ]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(self.step > 0.0 && self.step <= 1.0) {
            return Err(format!("field `step` must be in (0, 1], got {}", self.step));
        }
        let n = self.lattice_n();
        if (n as f64 * self.step - 1.0).abs() > 1e-9 || n > 1000 {
            return Err(format!(
                "field `step`: 1/step must be an integer ≤ 1000, got step = {}",
                self.step
            ));
        }
        if self.trials == 0 {
            return Err("field `trials` must be ≥ 1".into());
        }
        if self.population < 2 {
            return Err(format!(
                "field `population` must be ≥ 2, got {}",
                self.population
            ));
        }
        if self.ready == 0 {
            return Err("field `ready` must be ≥ 1".into());
        }
        if !(self.truncation > 0.0 && self.truncation <= 0.5) {
            return Err(format!(
                "field `truncation` must be in (0, 0.5], got {}",
                self.truncation
            ));
        }
        if !(self.perturb.is_finite() && self.perturb >= 0.0) {
            return Err(format!(
                "field `perturb` must be finite and ≥ 0, got {}",
                self.perturb
            ));
        }
        Ok(())
    }

    fn build(&self, _num_tasks: usize) -> Result<Box<dyn Method>> {
        Err(Error::NeedsSearch {
            method: "tuned".into(),
        })
    }

    fn search(&self, num_tasks: usize) -> Result<Option<Box<dyn WeightSearch>>> {
        let refuse = |message: String| {
            Err(Error::InvalidConfig {
                method: "tuned".into(),
                message,
            })
        };
        if num_tasks == 0 {
            return refuse("no tasks".into());
        }
        if self.strategy == Strategy::Grid {
            let size = lattice_size(num_tasks, self.lattice_n());
            if size.is_none_or(|n| n > MAX_GRID) {
                return refuse(format!(
                    "strategy = \"grid\" with step = {} on {num_tasks} tasks is a lattice of {} \
                     weights (more than {MAX_GRID}); use a coarser `step` or strategy = \
                     \"random\" with `trials`",
                    self.step,
                    size.map_or_else(|| "too many".into(), |n| n.to_string()),
                ));
            }
        }
        Ok(Some(Box::new(self.clone())))
    }

    /// A grid of step ½: the default step 0.1 is a lattice of more weights than the property
    /// suite needs from K = 5 on.
    fn examples(_num_tasks: usize) -> Vec<(String, serde_json::Value)> {
        vec![("grid step 0.5".to_owned(), json!({ "step": 0.5 }))]
    }

    fn two_task_reference(
        &self,
        _: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Err("a search method: its weights come from trainings run before the real one, not from one step's input; its unit tests cover the search")
    }
}

impl WeightSearch for TunedConfig {
    fn run(&mut self, backend: &mut dyn SearchBackend, seed: u64) -> Result<SearchOutcome> {
        let mut metered = Metered::new(backend);
        let seed = seed.wrapping_add(self.search_seed);
        let (weights, score, rule, history, member) = match self.strategy {
            Strategy::Grid | Strategy::Random => {
                let k = metered.num_tasks();
                let mut rng = search_rng(seed);
                let candidates = if self.strategy == Strategy::Grid {
                    simplex_lattice(k, self.lattice_n())
                } else {
                    (0..self.trials).map(|_| dirichlet(k, &mut rng)).collect()
                };
                let (w, s, rule, history) = trials(&mut metered, candidates)?;
                (w, s, rule, history, None)
            }
            Strategy::Pbt => pbt(self, &mut metered, seed)?,
        };
        Ok(SearchOutcome {
            weights: weights.into_vec(),
            score,
            rule,
            budget: metered.budget(),
            history,
            member,
        })
    }

    fn keeps_member(&self) -> bool {
        self.strategy == Strategy::Pbt && self.pbt_result == PbtResult::Member
    }

    fn replays_trials(&self) -> bool {
        self.strategy != Strategy::Pbt
    }
}

/// The largest lattice `grid` trains.
pub const MAX_GRID: usize = 1000;

/// C(n + k − 1, k − 1), the size of the simplex lattice of resolution n on k tasks; `None`
/// when it exceeds `usize`.
fn lattice_size(k: usize, n: usize) -> Option<usize> {
    (1..k).try_fold(1usize, |c, i| c.checked_mul(n + i).map(|c| c / i))
}

type Chosen = (Weights, f64, String, serde_json::Value);

/// Trains each candidate for a full schedule from one shared initialisation, as many side by
/// side as the backend trains at once (they are independent; each alive member holds a model,
/// its optimiser state and an epoch of batches).
fn trials(backend: &mut dyn SearchBackend, candidates: Vec<Weights>) -> Result<Chosen> {
    let schedule = backend.schedule_steps();
    let mut history = Vec::with_capacity(candidates.len());
    let mut best: Option<(Weights, f64)> = None;
    for batch in candidates.chunks(backend.side_by_side().max(1)) {
        let members = batch
            .iter()
            .map(|w| backend.spawn(w, 0))
            .collect::<Result<Vec<_>>>()?;
        backend.train_many(&members, schedule)?;
        for (w, m) in batch.iter().zip(members) {
            let score = backend.best_score(m)?;
            backend.release(m);
            history.push(json!({ "weights": w.as_slice(), "score": finite_or_null(score) }));
            if best.as_ref().is_none_or(|(_, s)| score < *s) {
                best = Some((w.clone(), score));
            }
        }
    }
    let (w, s) = best.ok_or_else(|| Error::InvalidConfig {
        method: "tuned".into(),
        message: "no candidates".into(),
    })?;
    Ok((
        w,
        s,
        "argmin of best-epoch validation objective over candidates (first on ties)".into(),
        json!({ "trials": history }),
    ))
}

fn finite_or_null(x: f64) -> serde_json::Value {
    if x.is_finite() {
        json!(x)
    } else {
        serde_json::Value::Null
    }
}

/// λ_k · exp(σ ε_k), renormalised.
fn perturb(w: &Weights, sigma: f64, rng: &mut rand_chacha::ChaCha8Rng) -> Weights {
    let scaled: Vec<f64> = w
        .as_slice()
        .iter()
        .map(|&x| {
            let e: f64 = StandardNormal.sample(rng);
            x * (sigma * e).exp()
        })
        .collect();
    Weights::normalized(&scaled).unwrap_or_else(|_| w.clone())
}

/// PBT's own state between rounds: what a save point keeps of it.
#[derive(Serialize, Deserialize)]
struct PbtState {
    /// Steps each member has trained.
    done: u64,
    weights: Vec<Vec<f64>>,
    /// Per member, the weight schedule of its lineage: (first step, weights) entries.
    lineage: Vec<Vec<serde_json::Value>>,
    rounds: Vec<serde_json::Value>,
    scores: Vec<Option<f64>>,
    /// The search rng's position (its seed is the search's), as a decimal string.
    rng_word_pos: String,
}

fn pbt(
    config: &TunedConfig,
    backend: &mut dyn SearchBackend,
    seed: u64,
) -> Result<(Weights, f64, String, serde_json::Value, Option<usize>)> {
    let k = backend.num_tasks();
    let p = config.population;
    let mut rng = search_rng(seed);
    let mut weights: Vec<Weights> = (0..p)
        .map(|i| {
            if i == 0 || config.start == PbtStart::Uniform {
                Weights::uniform(k)
            } else {
                dirichlet(k, &mut rng)
            }
        })
        .collect();
    let members: Vec<usize> = (0..p)
        .map(|i| backend.spawn(&weights[i], i as u64))
        .collect::<Result<_>>()?;
    let schedule = backend.schedule_steps();
    let replace = ((p as f64 * config.truncation).floor() as usize).max(1);
    let mut rounds = Vec::new();
    let mut lineage: Vec<Vec<serde_json::Value>> = weights
        .iter()
        .map(|w| vec![json!({ "from_step": 0, "weights": w.as_slice() })])
        .collect();
    let mut done = 0;
    let mut scores = vec![f64::INFINITY; p];
    if let Some(saved) = backend.restore_point()? {
        let bad = |message: String| Error::InvalidState { message };
        let state: PbtState = serde_json::from_value(saved)
            .map_err(|e| bad(format!("a PBT save point does not parse: {e}")))?;
        if state.weights.len() != p || state.scores.len() != p || state.lineage.len() != p {
            return Err(bad(format!("a PBT save point holds another population size than {p}")));
        }
        done = state.done;
        weights = state
            .weights
            .iter()
            .map(|w| Weights::simplex(w.clone()))
            .collect::<Result<_>>()?;
        for (&m, w) in members.iter().zip(&weights) {
            backend.set_weights(m, w)?;
        }
        lineage = state.lineage;
        rounds = state.rounds;
        scores = state.scores.iter().map(|s| s.unwrap_or(f64::INFINITY)).collect();
        let pos = state
            .rng_word_pos
            .parse()
            .map_err(|e| bad(format!("a PBT save point's rng position: {e}")))?;
        rng.set_word_pos(pos);
    }
    while done < schedule {
        let chunk = config.ready.min(schedule - done);
        backend.train_many(&members, chunk)?;
        done += chunk;
        for (i, &m) in members.iter().enumerate() {
            scores[i] = backend.current_score(m)?;
        }
        let mut order: Vec<usize> = (0..p).collect();
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
        let mut events = Vec::new();
        if done < schedule {
            let top = &order[..replace];
            for &bottom in order[p - replace..].iter() {
                let &source = top.choose(&mut rng).expect("top fraction is non-empty");
                backend.copy(members[source], members[bottom])?;
                weights[bottom] = perturb(&weights[source], config.perturb, &mut rng);
                backend.set_weights(members[bottom], &weights[bottom])?;
                lineage[bottom] = lineage[source].clone();
                lineage[bottom]
                    .push(json!({ "from_step": done, "weights": weights[bottom].as_slice() }));
                events.push(json!({ "member": bottom, "copied_from": source, "new_weights": weights[bottom].as_slice() }));
            }
        }
        rounds.push(json!({
            "step": done,
            "scores": scores.iter().map(|s| finite_or_null(*s)).collect::<Vec<_>>(),
            "weights": weights.iter().map(|w| w.as_slice().to_vec()).collect::<Vec<_>>(),
            "exploit": events,
        }));
        if done < schedule {
            let state = PbtState {
                done,
                weights: weights.iter().map(|w| w.as_slice().to_vec()).collect(),
                lineage: lineage.clone(),
                rounds: rounds.clone(),
                scores: scores.iter().map(|s| s.is_finite().then_some(*s)).collect(),
                rng_word_pos: rng.get_word_pos().to_string(),
            };
            let state = serde_json::to_value(state).expect("PBT state serialises");
            backend.save_point(&state)?;
        }
    }
    let keep = config.pbt_result == PbtResult::Member;
    let best: Vec<f64> = members
        .iter()
        .map(|&m| backend.best_score(m))
        .collect::<Result<_>>()?;
    // The member: best selected checkpoint of its lineage; retrain: best final parameters.
    let ranked = if keep { &best } else { &scores };
    let winner = (0..p)
        .min_by(|&a, &b| ranked[a].total_cmp(&ranked[b]).then(a.cmp(&b)))
        .expect("population ≥ 2");
    for (i, &m) in members.iter().enumerate() {
        if !(keep && i == winner) {
            backend.release(m);
        }
    }
    let rule = if keep {
        "the member whose lineage has the best selected checkpoint (validation objective), kept \
         as the result with its weight schedule"
    } else {
        "final weights of the member with the best validation objective after the last round, \
         retrained"
    };
    Ok((
        weights[winner].clone(),
        best[winner],
        rule.into(),
        json!({ "rounds": rounds, "winner": winner, "schedule": lineage[winner] }),
        keep.then_some(members[winner]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(step: f64) -> TunedConfig {
        TunedConfig {
            step,
            ..Default::default()
        }
    }

    #[test]
    fn lattice_sizes_are_binomials() {
        assert_eq!(lattice_size(2, 10), Some(11));
        assert_eq!(lattice_size(3, 8), Some(45));
        assert_eq!(lattice_size(4, 4), Some(35));
        assert_eq!(lattice_size(11, 10), Some(184_756));
        assert_eq!(lattice_size(1, 10), Some(1));
        assert_eq!(lattice_size(128, 1000), None);
        for (k, n) in [(2, 10), (3, 8), (4, 4), (5, 2)] {
            assert_eq!(lattice_size(k, n), Some(simplex_lattice(k, n).len()));
        }
    }

    #[test]
    fn a_grid_too_large_for_its_tasks_is_refused_with_what_to_do() {
        assert!(grid(0.25).search(4).unwrap().is_some());
        assert!(grid(0.5).search(11).unwrap().is_some(), "66 weights");
        let Err(err) = grid(0.1).search(11) else {
            panic!("a lattice of 184,756 weights was accepted");
        };
        let text = err.to_string();
        for want in ["184756", "coarser `step`", "\"random\""] {
            assert!(text.contains(want), "{text}");
        }
        let random = TunedConfig {
            strategy: Strategy::Random,
            ..grid(0.1)
        };
        assert!(
            random.search(11).unwrap().is_some(),
            "random ignores the step"
        );
    }
}
