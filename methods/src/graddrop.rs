//! GradDrop: gradient sign dropout, each coordinate keeps only the task gradients of one sign,
//! drawn by the coordinate's sign purity.
//!
//! Paper: Z. Chen, J. Ngiam, Y. Huang, T. Luong, H. Kretzschmar, Y. Chai and D. Anguelov,
//! "Just Pick a Sign: Optimizing Deep Multitask Models with Gradient Sign Dropout", NeurIPS
//! 2020, <https://arxiv.org/abs/2010.06808>, Algorithm 1. Per coordinate i of the gradient,
//! P_i = ½(1 + Σ_k g_ki / Σ_k |g_ki|) and U_i ~ Uniform[0, 1); task k's component survives if
//! P_i > U_i and g_ki > 0, or P_i < U_i and g_ki < 0. With leak ℓ the gradient becomes
//! ℓ g_k + (1 − ℓ) M_k ∘ g_k. The rule needs the gradients themselves, coordinate by
//! coordinate, so the method asks for the rows and answers a direction.
//!
//! Our reading:
//! - The direction is the mean (1/K)Σ_k of the masked gradients (the paper sums).
//! - One leak for every task (the paper allows one per task), default 0.
//! - `gradients`: `representation` by default, as the paper applies GradDrop at the shared
//!   representation; `params` applies it to the shared parameters' gradient.
//! - U is drawn per coordinate and step from the run's seed, so the direction does not depend
//!   on the order of the tasks. A coordinate where every task's gradient is 0 stays 0.
//! - Heads receive their own task's gradient (`own`).
//!
//! Cost per step: that of the chosen gradients, plus O(K·D) for the masks.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::method::{
    HeadScaling, Method, MethodConfig, Needs, ParamDoc, RunInfo, ScaleInvariance, StepInput,
    Update, UpdateKind,
};
use crate::gradients::Gradients;
use crate::step_checks::{gram, require_tasks, step_rng};
use crate::{Error, Gram, Result};

/// Hyper-parameters of `graddrop`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GradDropConfig {
    /// Leak ℓ ∈ [0, 1]: the share of each gradient kept unmasked; default 0.
    pub leak: f64,
    /// Gradients w.r.t. `representation` (default, the paper's) or `params`.
    pub gradients: Gradients,
}

impl Default for GradDropConfig {
    fn default() -> Self {
        Self {
            leak: 0.0,
            gradients: Gradients::Representation,
        }
    }
}

impl MethodConfig for GradDropConfig {
    fn params() -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "leak",
                kind: "float in [0, 1]",
                help: "share of each task gradient passed unmasked (0: pure sign dropout, 1: the mean)",
            },
            Gradients::DOC,
        ]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(0.0..=1.0).contains(&self.leak) {
            return Err(format!(
                "field `leak` must be in [0, 1], got {}; the default is 0",
                self.leak
            ));
        }
        if self.gradients == Gradients::LastSharedLayer {
            return Err("field `gradients`: a direction must cover every shared parameter or \
                        the representation; use `params` or `representation`"
                .into());
        }
        Ok(())
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        require_tasks("graddrop", num_tasks)?;
        Ok(Box::new(GradDrop {
            config: *self,
            k: num_tasks,
            seed: 0,
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
            (
                "params".to_owned(),
                serde_json::json!({"gradients": "params"}),
            ),
            ("leak 0.3".to_owned(), serde_json::json!({"leak": 0.3})),
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
        Err("the masks are random draws on the gradients' coordinates")
    }
}

/// The running method.
struct GradDrop {
    config: GradDropConfig,
    k: usize,
    seed: u64,
}

impl GradDrop {
    fn direction(&self, rows: &[Vec<f32>], step: u64) -> Vec<f32> {
        let d = rows.first().map_or(0, Vec::len);
        let mut rng = step_rng(self.seed, "graddrop", step);
        let leak = self.config.leak;
        let k = self.k as f64;
        (0..d)
            .map(|i| {
                let u: f64 = rng.random();
                let (sum, abs) = rows.iter().fold((0.0f64, 0.0f64), |(s, a), r| {
                    (s + f64::from(r[i]), a + f64::from(r[i]).abs())
                });
                if abs == 0.0 {
                    return 0.0;
                }
                let purity = 0.5 * (1.0 + sum / abs);
                let kept: f64 = rows
                    .iter()
                    .map(|r| {
                        let g = f64::from(r[i]);
                        let keep = (purity > u && g > 0.0) || (purity < u && g < 0.0);
                        leak * g + (1.0 - leak) * if keep { g } else { 0.0 }
                    })
                    .sum();
                (kept / k) as f32
            })
            .collect()
    }
}

impl Method for GradDrop {
    fn needs(&self) -> Needs {
        Needs {
            rows: true,
            ..Needs::grads(self.config.gradients.source())
        }
    }

    fn start(&mut self, run: &RunInfo) {
        self.seed = run.seed;
    }

    fn head_scaling(&self) -> HeadScaling {
        HeadScaling::Own
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        gram("graddrop", self.k, input)?;
        let rows = input.rows.ok_or_else(|| Error::MissingGram {
            method: "graddrop".into(),
        })?;
        Ok(Update::Direction(self.direction(rows, input.step)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_shared_layer_alone_is_refused() {
        let config = GradDropConfig {
            gradients: Gradients::LastSharedLayer,
            ..Default::default()
        };
        assert!(config.validate().unwrap_err().contains("gradients"));
    }

    /// Coordinates by hand: where the tasks agree in sign the mean survives whatever U is;
    /// where they disagree exactly one sign survives; the positive sign survives with
    /// frequency P = ½(1 + Σg/Σ|g|) over many steps (here 0.8: g = (3, −1) → P = ¾·…).
    #[test]
    fn signs_survive_with_their_purity() {
        let rows = vec![vec![2.0f32, 3.0, 0.0], vec![1.0, -1.0, 0.0]];
        let m = GradDrop {
            config: GradDropConfig::default(),
            k: 2,
            seed: 3,
        };
        let mut positive = 0;
        for step in 0..4000 {
            let d = m.direction(&rows, step);
            assert_eq!(d[0], 1.5, "agreeing signs keep the mean");
            assert!(d[1] == 1.5 || d[1] == -0.5, "{}", d[1]);
            positive += usize::from(d[1] > 0.0);
            assert_eq!(d[2], 0.0);
        }
        // P = ½(1 + 2/4) = 0.75: 3000 of 4000 expected, sd ≈ 27.
        assert!((2880..=3120).contains(&positive), "{positive}");
    }
}
