//! DB-MTL: dual-balancing, log losses for their scales and running-average gradients scaled to
//! the largest one for their magnitudes.
//!
//! Paper: B. Lin, W. Jiang, F. Ye, Y. Zhang, P. Chen, Y.-C. Chen, S. Liu and J. T. Kwok,
//! "Dual-Balancing for Multi-Task Learning", 2023, <https://arxiv.org/abs/2308.12029>, §3.
//! Loss-scale balancing trains on log L_k, whose gradient is ∇L_k / L_k. Magnitude balancing
//! keeps a running average ĝ_k ← β ĝ_k + (1 − β) ∇log L_k of each task's gradient and updates
//! along Σ_k (max_i ‖ĝ_i‖ / ‖ĝ_k‖) ĝ_k, every task's average scaled to the largest norm. The
//! averages mix gradients of different steps, so the method needs the gradient rows (not only
//! their Gram matrix) and answers a direction.
//!
//! Our reading:
//! - Gradients w.r.t. the shared parameters (the averages must live in one fixed space; the
//!   representation changes with every batch). Heads receive their own task's gradient
//!   (`own`), ∇L_k rather than ∇log L_k.
//! - The direction is the mean (1/K)Σ_k, the paper sums; the averages start at 0, and losses
//!   are offset by 1e-8 before the logarithm, as LibMTL's implementation by the authors does.
//! - The averages are D numbers per task: they are the method's state for an exact resume, and
//!   the record shows only their norms and the step count.
//! - LibMTL's implementation can also decay the rate with the step count t = 1, 2, …, as
//!   β_t = β / t^σ (its `DB_beta_sigma`, default 0): `decay` is that σ. With σ > 0 the average
//!   forgets ever faster and the rule tends to β = 0, this step's gradients alone.
//!
//! Hyper-parameters: `beta` in [0, 1), default 0.9 (LibMTL's); `decay` σ ≥ 0, default 0. Cost
//! per step: K backward passes through the encoder plus O(K·D).

use serde::{Deserialize, Serialize};

use crate::method::{
    restore_state, typed_state, GradSource, HeadScaling, Method, MethodConfig, Needs, ParamDoc,
    ScaleInvariance, StepInput, Update, UpdateKind,
};
use crate::step_checks::{gram, losses, require_tasks};
use crate::{Error, Gram, Result};

/// Offset of the losses before their logarithm.
const OFFSET: f64 = 1e-8;

/// Hyper-parameters of `db-mtl`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbMtlConfig {
    /// Running-average rate β ∈ [0, 1); default 0.9.
    pub beta: f64,
    /// Decay exponent σ ≥ 0 of the rate, β_t = β / t^σ at step t; default 0 (a constant rate;
    /// left out of the serialised configuration, so that earlier records keep their cell ids).
    #[serde(skip_serializing_if = "is_constant_rate")]
    pub decay: f64,
}

/// True for the default `decay`, 0: the rate stays β.
fn is_constant_rate(decay: &f64) -> bool {
    *decay == 0.0
}

impl Default for DbMtlConfig {
    fn default() -> Self {
        Self {
            beta: 0.9,
            decay: 0.0,
        }
    }
}

impl MethodConfig for DbMtlConfig {
    fn params() -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "beta",
                kind: "float in [0, 1)",
                help: "running-average rate of the log-loss gradients (0: this step's alone)",
            },
            ParamDoc {
                name: "decay",
                kind: "float ≥ 0",
                help: "decay exponent σ of the rate, β / t^σ at step t (LibMTL's DB_beta_sigma; default 0: constant)",
            },
        ]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(0.0..1.0).contains(&self.beta) {
            return Err(format!(
                "field `beta` must be in [0, 1), got {}; the default is 0.9",
                self.beta
            ));
        }
        if !(self.decay.is_finite() && self.decay >= 0.0) {
            return Err(format!(
                "field `decay` must be a finite number ≥ 0, got {}; the default is 0 (a constant rate)",
                self.decay
            ));
        }
        Ok(())
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        require_tasks("db-mtl", num_tasks)?;
        Ok(Box::new(DbMtl {
            config: *self,
            k: num_tasks,
            state: DbState {
                steps: 0,
                averages: vec![Vec::new(); num_tasks],
            },
        }))
    }

    fn update_kind() -> UpdateKind {
        UpdateKind::Direction
    }

    fn head_scaling(&self) -> HeadScaling {
        HeadScaling::Own
    }

    fn examples(_: usize) -> Vec<(String, serde_json::Value)> {
        vec![
            ("defaults".to_owned(), serde_json::json!({})),
            ("beta 0".to_owned(), serde_json::json!({"beta": 0.0})),
            ("decaying rate".to_owned(), serde_json::json!({"decay": 0.5})),
        ]
    }

    /// A direction scales with the gradients: no invariance of its coordinates.
    fn scale_invariance(&self) -> ScaleInvariance {
        ScaleInvariance::NONE
    }

    fn two_task_reference(
        &self,
        _: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        Err("the update is a direction built from running averages of the gradients")
    }
}

/// Steps taken and the running averages, one row per task.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DbState {
    steps: u64,
    averages: Vec<Vec<f32>>,
}

impl DbState {
    /// ‖ĝ_k‖ of every task's running average.
    fn average_norms(&self) -> Vec<f64> {
        self.averages
            .iter()
            .map(|a| a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt())
            .collect()
    }
}

/// The running method.
struct DbMtl {
    config: DbMtlConfig,
    k: usize,
    state: DbState,
}

impl Method for DbMtl {
    fn needs(&self) -> Needs {
        Needs {
            rows: true,
            ..Needs::grads(GradSource::Params)
        }
    }

    fn head_scaling(&self) -> HeadScaling {
        HeadScaling::Own
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        let losses = losses("db-mtl", self.k, input)?;
        gram("db-mtl", self.k, input)?;
        let rows = input.rows.ok_or_else(|| Error::MissingGram {
            method: "db-mtl".into(),
        })?;
        let d = rows.first().map_or(0, Vec::len);
        // Step t = steps + 1 of the rate β / t^σ (σ = 0: β itself, to the bit).
        let beta = self.config.beta / ((self.state.steps + 1) as f64).powf(self.config.decay);
        for ((avg, row), loss) in self.state.averages.iter_mut().zip(rows).zip(losses) {
            if avg.len() != d {
                *avg = vec![0.0; d];
            }
            let inv = 1.0 / (loss + OFFSET);
            for (a, g) in avg.iter_mut().zip(row) {
                *a = (beta * f64::from(*a) + (1.0 - beta) * inv * f64::from(*g)) as f32;
            }
        }
        self.state.steps += 1;
        let norms = self.state.average_norms();
        let max = norms.iter().copied().fold(0.0, f64::max);
        let k = self.k as f64;
        // Summed in f64, so that the f32 answer does not depend on the order of the tasks.
        let mut direction = vec![0f64; d];
        for (avg, norm) in self.state.averages.iter().zip(&norms) {
            if *norm == 0.0 {
                continue;
            }
            let scale = max / norm / k;
            for (x, a) in direction.iter_mut().zip(avg) {
                *x += scale * f64::from(*a);
            }
        }
        Ok(Update::Direction(
            direction.into_iter().map(|x| x as f32).collect(),
        ))
    }

    fn state(&self) -> serde_json::Value {
        typed_state(&self.state)
    }

    fn record_state(&self) -> serde_json::Value {
        let norms = self.state.average_norms();
        serde_json::json!({ "steps": self.state.steps, "average_norms": norms })
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<()> {
        self.state = restore_state(
            state,
            |state: &DbState| state.averages.len() == self.k,
            || format!("db-mtl keeps {} running averages", self.k),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand, β = 0.5, K = 2, rows g₁ = (2, 0), g₂ = (0, 1), losses (2, 0.5): ∇log L =
    /// (1, 0) and (0, 2); the averages after one step are (½, 0) and (0, 1), norms ½ and 1, so
    /// the direction is ½(2·(½, 0) + 1·(0, 1)) = (½, ½).
    /// One step on these gradient rows and losses: the direction it answers.
    fn direction(m: &mut dyn Method, rows: Vec<Vec<f32>>, losses: &[f64]) -> Vec<f32> {
        let gram = Gram::from_rows(&rows);
        let mut input = StepInput::new(0, losses, Some(&gram));
        input.rows = Some(&rows);
        let Update::Direction(d) = m.step(&input).unwrap() else {
            panic!("a direction")
        };
        d
    }

    #[test]
    fn averages_are_scaled_to_the_largest() {
        let mut m = DbMtlConfig {
            beta: 0.5,
            ..DbMtlConfig::default()
        }
        .build(2)
        .unwrap();
        let d = direction(
            m.as_mut(),
            vec![vec![2.0f32, 0.0], vec![0.0, 1.0]],
            &[2.0, 0.5],
        );
        assert!(
            (d[0] - 0.5).abs() < 1e-6 && (d[1] - 0.5).abs() < 1e-6,
            "{d:?}"
        );
        assert_eq!(m.record_state()["steps"], 1);
    }

    /// By hand, K = 1, β = 0.5, loss 1, rows g = 4 then 8. With σ = 1 the rates are 0.5 then
    /// 0.25: the average is 0.5·4 = 2 after step 1 and 0.25·2 + 0.75·8 = 6.5 after step 2.
    /// With σ = 0 the second is 0.5·2 + 0.5·8 = 5.
    #[test]
    fn the_rate_decays_with_the_step_count() {
        let second_step = |decay: f64| {
            let mut m = DbMtlConfig { beta: 0.5, decay }.build(1).unwrap();
            direction(m.as_mut(), vec![vec![4.0]], &[1.0]);
            direction(m.as_mut(), vec![vec![8.0]], &[1.0])[0]
        };
        let (decaying, constant) = (second_step(1.0), second_step(0.0));
        assert!((decaying - 6.5).abs() < 1e-5, "{decaying}");
        assert!((constant - 5.0).abs() < 1e-5, "{constant}");
    }

    #[test]
    fn the_default_decay_is_left_out_of_the_configuration() {
        let default = serde_json::to_value(DbMtlConfig::default()).unwrap();
        assert_eq!(default, serde_json::json!({"beta": 0.9}));
        let decaying = DbMtlConfig {
            decay: 0.5,
            ..DbMtlConfig::default()
        };
        assert_eq!(
            serde_json::to_value(decaying).unwrap()["decay"],
            serde_json::json!(0.5)
        );
        assert!(DbMtlConfig {
            decay: -1.0,
            ..DbMtlConfig::default()
        }
        .validate()
        .unwrap_err()
        .contains("`decay`"));
    }
}
