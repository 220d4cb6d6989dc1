//! AutoScale: fixed task weights set from multi-task-optimisation (MTO) metrics measured
//! early, with no weight search.
//!
//! Paper: Yang et al. (2025), "AutoScale" for multi-task optimisation, as publicly
//! summarised: good fixed weights show recognisable MTO-metric trends — high gradient
//! magnitude similarity (GMS), low condition number of the task-gradient matrix, balanced loss
//! scales — so Phase 1 measures those metrics and Phase 2 trains with fixed weights.
//!
//! **The paper's code is not public; our reading** (DESIGN.md §4):
//! - `exploration = "full"` (default): one exploratory training run split into disjoint
//!   windows of `window_steps` steps (default: the schedule divided into `windows` parts).
//!   In each window the trainer measures the per-task gradient norms ‖g_k‖ w.r.t. the shared
//!   parameters every `measure_every` steps (K backward passes per measured step), the mean
//!   losses, the GMS of the weighted gradients, the condition number and the conflict rate;
//!   the window's weights follow from its metric by the rule, and train the next window. The
//!   final fixed weights aggregate the windows' weights (`aggregate`). Phase 2 is a fresh
//!   training with those weights at `uniform`'s cost. Total: about two trainings.
//! - `exploration = "prefix"`: the first `prefix` fraction E of the steps train with uniform
//!   weights while measuring; then the weights switch to the rule's, fixed, in the same run.
//!
//! Metric (`metric`): `grad-norm` (mean ‖g_k‖) or `loss` (mean L_k, loss-scale balance; needs
//! no gradients). Rule (`rule`): `inverse`, λ_k ∝ 1/m_k — with `grad-norm` this makes every
//! weighted gradient λ_k‖g_k‖ equal, which maximises the mean GMS of the weighted gradients
//! (GMS(i, j) = 1 iff the magnitudes agree); `inverse-sqrt`, λ_k ∝ 1/√m_k, a milder balance.
//! Aggregate (`aggregate`): `mean` of the windows' weights, `geometric` (normalised geometric
//! mean) or `last`. Metric, rule, aggregate and every window's metrics are recorded.
//!
//! Hyper-parameters (defaults): `exploration` (full), `windows` (8), `window_steps` (unset:
//! schedule / windows), `prefix` (0.1), `measure_every` (1), `metric` (grad-norm), `rule`
//! (inverse), `aggregate` (mean). Cost: Phase 2 and the prefix variant after the prefix use
//! one backward per step, like `uniform`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::method::{
    parse_state, typed_state, GradSource, Method, MethodConfig, Needs, ParamDoc, RunInfo,
    ScaleInvariance, StepInput, Update,
};
use crate::search::{Metered, SearchBackend, SearchOutcome, WeightSearch};
use crate::{Error, Gram, Result, Weights};

/// Where AutoScale measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exploration {
    /// A whole exploratory run in windows, then a fresh fixed-weight training.
    Full,
    /// The first E % of the one run, then fixed weights.
    Prefix,
}

/// The MTO metric the rule balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Mean per-task gradient norm w.r.t. the shared parameters.
    GradNorm,
    /// Mean per-task training loss.
    Loss,
}

/// How weights follow from the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// λ_k ∝ 1 / m_k.
    Inverse,
    /// λ_k ∝ 1 / √m_k.
    InverseSqrt,
}

/// How the windows' weights become the final weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aggregate {
    /// Arithmetic mean.
    Mean,
    /// Normalised geometric mean.
    Geometric,
    /// The last window's.
    Last,
}

/// Hyper-parameters of `autoscale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutoScaleConfig {
    /// Full exploratory run or prefix of the one run.
    pub exploration: Exploration,
    /// Windows of the full exploration.
    pub windows: usize,
    /// Window length in steps (unset: schedule / windows).
    pub window_steps: Option<u64>,
    /// Fraction of steps measured by the prefix variant.
    pub prefix: f64,
    /// Measure gradients every this many steps.
    pub measure_every: u64,
    /// Metric the rule balances.
    pub metric: Metric,
    /// Weights from the metric.
    pub rule: Rule,
    /// Windows' weights to final weights.
    pub aggregate: Aggregate,
}

impl Default for AutoScaleConfig {
    fn default() -> Self {
        Self {
            exploration: Exploration::Full,
            windows: 8,
            window_steps: None,
            prefix: 0.1,
            measure_every: 1,
            metric: Metric::GradNorm,
            rule: Rule::Inverse,
            aggregate: Aggregate::Mean,
        }
    }
}

impl AutoScaleConfig {
    /// Weights from per-task metric values by the rule (uniform if the metric is degenerate).
    pub fn weights_from(&self, metric: &[f64]) -> Weights {
        let scores: Vec<f64> = metric
            .iter()
            .map(|&m| {
                if m.is_finite() && m > 0.0 {
                    match self.rule {
                        Rule::Inverse => 1.0 / m,
                        Rule::InverseSqrt => 1.0 / m.sqrt(),
                    }
                } else {
                    f64::NAN
                }
            })
            .collect();
        if scores.iter().any(|s| !s.is_finite()) {
            return Weights::uniform(metric.len());
        }
        Weights::normalized(&scores).unwrap_or_else(|_| Weights::uniform(metric.len()))
    }

    /// The final weights from the windows' weights.
    pub fn aggregate(&self, windows: &[Weights]) -> Weights {
        let k = windows.first().map_or(0, Weights::len);
        let n = windows.len().max(1) as f64;
        let combined: Vec<f64> = match self.aggregate {
            Aggregate::Last => {
                return windows
                    .last()
                    .cloned()
                    .unwrap_or_else(|| Weights::uniform(k))
            }
            Aggregate::Mean => (0..k)
                .map(|t| windows.iter().map(|w| w.as_slice()[t]).sum::<f64>() / n)
                .collect(),
            Aggregate::Geometric => (0..k)
                .map(|t| {
                    (windows
                        .iter()
                        .map(|w| w.as_slice()[t].max(1e-300).ln())
                        .sum::<f64>()
                        / n)
                        .exp()
                })
                .collect(),
        };
        Weights::normalized(&combined).unwrap_or_else(|_| Weights::uniform(k))
    }

    fn metric_of<'a>(&self, grad_norm: &'a [f64], loss: &'a [f64]) -> &'a [f64] {
        match self.metric {
            Metric::GradNorm => grad_norm,
            Metric::Loss => loss,
        }
    }

    fn describe(&self) -> String {
        let over = match self.exploration {
            Exploration::Full => format!(
                "each window's mean {{}}, aggregated by {:?} over windows",
                self.aggregate
            ),
            Exploration::Prefix => "the prefix's mean {}".to_owned(),
        };
        format!(
            "λ_k ∝ {} of {}",
            match self.rule {
                Rule::Inverse => "1/m_k",
                Rule::InverseSqrt => "1/√m_k",
            },
            over.replace(
                "{}",
                match self.metric {
                    Metric::GradNorm => "‖g_k‖ (shared parameters)",
                    Metric::Loss => "L_k",
                }
            )
        )
        .to_lowercase()
    }
}

impl MethodConfig for AutoScaleConfig {
    fn params() -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "exploration",
                kind: "full | prefix",
                help: "whole exploratory run in windows, or the first E % of the one run",
            },
            ParamDoc {
                name: "windows",
                kind: "integer ≥ 1",
                help: "windows of the full exploration",
            },
            ParamDoc {
                name: "window_steps",
                kind: "integer ≥ 1 (optional)",
                help: "window length in steps; unset: schedule / windows",
            },
            ParamDoc {
                name: "prefix",
                kind: "float in (0, 1)",
                help: "fraction of steps the prefix variant measures",
            },
            ParamDoc {
                name: "measure_every",
                kind: "integer ≥ 1",
                help: "measure gradients every n steps (K backward passes each)",
            },
            ParamDoc {
                name: "metric",
                kind: "grad-norm | loss",
                help: "MTO metric the rule balances",
            },
            ParamDoc {
                name: "rule",
                kind: "inverse | inverse-sqrt",
                help: "λ_k ∝ 1/m_k or 1/√m_k",
            },
            ParamDoc {
                name: "aggregate",
                kind: "mean | geometric | last",
                help: "windows' weights → final weights",
            },
        ]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.windows == 0 {
            return Err("field `windows` must be ≥ 1".into());
        }
        if self.window_steps == Some(0) {
            return Err("field `window_steps` must be ≥ 1".into());
        }
        if !(self.prefix > 0.0 && self.prefix < 1.0) {
            return Err(format!(
                "field `prefix` must be in (0, 1), got {}",
                self.prefix
            ));
        }
        if self.measure_every == 0 {
            return Err("field `measure_every` must be ≥ 1".into());
        }
        Ok(())
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        match self.exploration {
            Exploration::Full => Err(Error::NeedsSearch {
                method: "autoscale".into(),
            }),
            Exploration::Prefix => Ok(Box::new(Prefix::new(self.clone(), num_tasks))),
        }
    }

    fn search(&self, _num_tasks: usize) -> Result<Option<Box<dyn WeightSearch>>> {
        Ok(match self.exploration {
            Exploration::Full => Some(Box::new(self.clone())),
            Exploration::Prefix => None,
        })
    }

    /// The default (a search, which the stepping suite skips) and two online `prefix` runs:
    /// the gradient-norm metric measured every other step (so `needs()` changes from step to
    /// step and again when the prefix ends) and the loss metric; half of the steps are the
    /// prefix, so a short run reaches the fixed weights.
    fn examples(_num_tasks: usize) -> Vec<(String, serde_json::Value)> {
        vec![
            ("full".to_owned(), json!({})),
            (
                "prefix".to_owned(),
                json!({ "exploration": "prefix", "prefix": 0.5, "measure_every": 2 }),
            ),
            (
                "prefix loss".to_owned(),
                json!({ "exploration": "prefix", "prefix": 0.5, "metric": "loss" }),
            ),
        ]
    }

    /// λ_k ∝ 1/m_k of the prefix's mean metric. A common factor on ‖g_k‖ cancels in the
    /// normalisation; per-task factors are what the `grad-norm` rule balances, by design. The
    /// `loss` metric never looks at gradients.
    fn scale_invariance(&self) -> ScaleInvariance {
        ScaleInvariance {
            common: true,
            per_task: self.metric == Metric::Loss,
        }
    }

    fn two_task_reference(
        &self,
        _: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Err("its weights depend on the run's history (metric means over the prefix), not on one step's input; its unit tests pin the prefix rule on a 2-task run")
    }
}

impl WeightSearch for AutoScaleConfig {
    fn run(&mut self, backend: &mut dyn SearchBackend, _seed: u64) -> Result<SearchOutcome> {
        let mut backend = Metered::new(backend);
        let k = backend.num_tasks();
        let schedule = backend.schedule_steps();
        let window = self
            .window_steps
            .unwrap_or(schedule.div_ceil(self.windows as u64).max(1));
        let mut weights = Weights::uniform(k);
        let member = backend.spawn(&weights, 0)?;
        let mut chosen = Vec::new();
        let mut history = Vec::new();
        let mut done = 0;
        let mut measured = 0;
        while done < schedule {
            let m =
                backend.train_measuring(member, window.min(schedule - done), self.measure_every)?;
            if m.steps == 0 {
                break;
            }
            done += m.steps;
            measured += m.measured;
            let next = self.weights_from(self.metric_of(&m.grad_norm, &m.loss));
            history.push(json!({ "window": history.len(), "trained_with": weights.as_slice(), "metrics": m, "weights": next.as_slice() }));
            chosen.push(next.clone());
            backend.set_weights(member, &next)?;
            weights = next;
        }
        let score = backend.best_score(member)?;
        backend.release(member);
        let final_weights = self.aggregate(&chosen);
        Ok(SearchOutcome {
            weights: final_weights.into_vec(),
            score,
            rule: self.describe(),
            budget: backend.budget(),
            history: json!({ "window_steps": window, "measured_steps": measured, "windows": history }),
            member: None,
        })
    }
}

/// The prefix variant: uniform weights while measuring, then fixed weights in the same run.
struct Prefix {
    config: AutoScaleConfig,
    k: usize,
    prefix_steps: u64,
    seen: u64,
    measured: u64,
    grad_norm: Vec<f64>,
    loss: Vec<f64>,
    fixed: Option<Weights>,
}

impl Prefix {
    fn new(config: AutoScaleConfig, k: usize) -> Self {
        Self {
            config,
            k,
            prefix_steps: 1,
            seen: 0,
            measured: 0,
            grad_norm: vec![0.0; k],
            loss: vec![0.0; k],
            fixed: None,
        }
    }

    fn measuring_now(&self) -> bool {
        self.fixed.is_none()
            && self.config.metric == Metric::GradNorm
            && self.seen % self.config.measure_every == 0
    }
}

impl Method for Prefix {
    fn needs(&self) -> Needs {
        Needs::grads(if self.measuring_now() {
            GradSource::Params
        } else {
            GradSource::None
        })
    }

    fn start(&mut self, run: &RunInfo) {
        self.prefix_steps = ((run.total_steps as f64 * self.config.prefix).ceil() as u64).max(1);
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        if let Some(w) = &self.fixed {
            return Ok(Update::Weights(w.clone()));
        }
        if input.losses.len() != self.k {
            return Err(Error::TaskCount {
                method: "autoscale".into(),
                expected: self.k,
                got: input.losses.len(),
            });
        }
        for (a, l) in self.loss.iter_mut().zip(input.losses) {
            *a += l;
        }
        if let Some(gram) = input.gram {
            for (a, n) in self.grad_norm.iter_mut().zip(gram.norms()) {
                *a += n;
            }
            self.measured += 1;
        }
        self.seen += 1;
        if self.seen >= self.prefix_steps {
            let mean =
                |v: &[f64], n: u64| v.iter().map(|x| x / n.max(1) as f64).collect::<Vec<_>>();
            let (g, l) = (
                mean(&self.grad_norm, self.measured),
                mean(&self.loss, self.seen),
            );
            self.fixed = Some(self.config.weights_from(self.config.metric_of(&g, &l)));
        }
        Ok(Update::Weights(Weights::uniform(self.k)))
    }

    fn state(&self) -> serde_json::Value {
        typed_state(&PrefixState {
            prefix_steps: self.prefix_steps,
            measured_steps: self.measured,
            rule: self.config.describe(),
            chosen: self.fixed.as_ref().map(|w| w.as_slice().to_vec()),
            seen: self.seen,
            loss_sum: self.loss.clone(),
            grad_norm_sum: self.grad_norm.clone(),
        })
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<()> {
        let s: PrefixState = parse_state(state)?;
        if s.loss_sum.len() != self.k || s.grad_norm_sum.len() != self.k {
            return Err(Error::InvalidState {
                message: format!(
                    "autoscale prefix state holds {} tasks, the method has {}",
                    s.loss_sum.len(),
                    self.k
                ),
            });
        }
        self.prefix_steps = s.prefix_steps;
        self.measured = s.measured_steps;
        self.seen = s.seen;
        self.loss = s.loss_sum;
        self.grad_norm = s.grad_norm_sum;
        self.fixed = s.chosen.map(Weights::simplex).transpose()?;
        Ok(())
    }
}

/// The prefix variant's state: what records show (the first four fields, as before) and the
/// running sums a resumed run continues from.
#[derive(Serialize, Deserialize)]
struct PrefixState {
    prefix_steps: u64,
    measured_steps: u64,
    rule: String,
    chosen: Option<Vec<f64>>,
    seen: u64,
    loss_sum: Vec<f64>,
    grad_norm_sum: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Gram;

    #[test]
    fn inverse_rule_equalises_weighted_magnitudes() {
        let c = AutoScaleConfig::default();
        let w = c.weights_from(&[1.0, 100.0]);
        let s = w.as_slice();
        assert!((s[0] * 1.0 - s[1] * 100.0).abs() < 1e-12);
        assert!((s[0] - 100.0 / 101.0).abs() < 1e-12);
        let sqrt = AutoScaleConfig {
            rule: Rule::InverseSqrt,
            ..c.clone()
        }
        .weights_from(&[1.0, 100.0]);
        assert!((sqrt.as_slice()[0] - 10.0 / 11.0).abs() < 1e-12);
        assert_eq!(c.weights_from(&[0.0, 1.0]), Weights::uniform(2));
    }

    #[test]
    fn aggregates_combine_windows() {
        let ws = [
            Weights::simplex(vec![0.2, 0.8]).unwrap(),
            Weights::simplex(vec![0.8, 0.2]).unwrap(),
        ];
        let c = AutoScaleConfig::default();
        assert_eq!(c.aggregate(&ws).as_slice(), &[0.5, 0.5]);
        let last = AutoScaleConfig {
            aggregate: Aggregate::Last,
            ..c.clone()
        };
        assert_eq!(last.aggregate(&ws).as_slice(), &[0.8, 0.2]);
        let geo = AutoScaleConfig {
            aggregate: Aggregate::Geometric,
            ..c
        };
        assert!((geo.aggregate(&ws).as_slice()[0] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn prefix_measures_then_fixes_weights_at_uniform_cost() {
        let config = AutoScaleConfig {
            exploration: Exploration::Prefix,
            prefix: 0.25,
            ..Default::default()
        };
        let mut m = config.build(2).unwrap();
        m.start(&RunInfo::steps(8));
        let gram = Gram::from_matrix(2, vec![1.0, 0.0, 0.0, 100.0]).unwrap();
        for step in 0..8 {
            let needs = m.needs().grads;
            let gram = (needs == GradSource::Params).then_some(&gram);
            let w = m
                .step(&StepInput::new(step, &[1.0, 1.0], gram))
                .unwrap()
                .into_weights()
                .unwrap();
            if step < 2 {
                assert_eq!(needs, GradSource::Params);
                assert_eq!(w, Weights::uniform(2));
            } else {
                assert_eq!(
                    needs,
                    GradSource::None,
                    "after the prefix the cost is uniform's"
                );
                // ‖g‖ = (1, 10): λ ∝ (1, 1/10).
                assert!((w.as_slice()[0] - 10.0 / 11.0).abs() < 1e-12);
            }
        }
        assert_eq!(m.state()["measured_steps"], 2);
    }
}
