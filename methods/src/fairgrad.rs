//! FairGrad: α-fair allocation of the update's progress among tasks.
//!
//! Paper: H. Ban and K. Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024,
//! <https://arxiv.org/abs/2402.15638>. The update Σ_k w_k g_k maximises the α-fair utility of
//! the tasks' progress g_k·d; its weights solve G w = w^{−1/a} element-wise (a > 0 the
//! fairness; a = 1 is proportional fairness, Nash-MTL's solution), and are applied as loss
//! weights (the authors' code back-propagates Σ w_k L_k), so heads are weighted by w.
//!
//! How we solve it: exactly, by damped Newton on a convex potential ([`bargaining`], shared
//! with `nash-mtl`), where the authors run a least-squares solver on the residual; with the
//! same ridge of 1e-6·max|G| on the diagonal, which keeps opposite gradients finite.
//!
//! Hyper-parameters: `alpha`, float > 0, default 2 (our choice: `nash-mtl` is α = 1);
//! `gradients`. Cost per step: that of the chosen gradients plus an O(K³) Newton solve.

use serde::{Deserialize, Serialize};

use crate::method::{
    Method, MethodConfig, Needs, ParamDoc, ScaleInvariance, StepInput, Update, UpdateKind,
};
use crate::gradients::Gradients;
use crate::solver::bargaining::{self, RIDGE};
use crate::step_checks::{gram, require_tasks};
use crate::{Gram, Result};

/// Hyper-parameters of `fairgrad`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FairGradConfig {
    /// Fairness a > 0; default 2.
    pub alpha: f64,
    /// Gradients w.r.t. `params` (default) or `representation`.
    pub gradients: Gradients,
}

impl Default for FairGradConfig {
    fn default() -> Self {
        Self {
            alpha: 2.0,
            gradients: Gradients::Params,
        }
    }
}

impl MethodConfig for FairGradConfig {
    fn params() -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "alpha",
                kind: "float > 0",
                help: "fairness a of the α-fair utility (1: proportional fairness = nash-mtl; larger: closer to max-min)",
            },
            Gradients::DOC,
        ]
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(format!(
                "field `alpha` must be a finite number > 0, got {}; the default is 2",
                self.alpha
            ));
        }
        Ok(())
    }

    fn build(&self, num_tasks: usize) -> Result<Box<dyn Method>> {
        require_tasks("fairgrad", num_tasks)?;
        Ok(Box::new(FairGrad {
            config: *self,
            k: num_tasks,
        }))
    }

    fn update_kind() -> UpdateKind {
        UpdateKind::FreeWeights
    }

    fn examples(_: usize) -> Vec<(String, serde_json::Value)> {
        let mut out = Gradients::examples();
        out.push(("alpha 0.5".to_owned(), serde_json::json!({"alpha": 0.5})));
        out
    }

    /// w scales as c^{−2/(1+1/a)} under one common factor c: no invariance.
    fn scale_invariance(&self) -> ScaleInvariance {
        ScaleInvariance::NONE
    }

    /// K = 2 by nested bisection on the equations (G + εI)w = w^{−q}, q = 1/a: for each w₁,
    /// the second equation's left side minus its right is increasing in w₂, so w₂(w₁) is its
    /// root; the first equation's residual in w₁ is then bisected in log space.
    fn two_task_reference(
        &self,
        gram: &Gram,
        _: &[f64],
    ) -> std::result::Result<Vec<f64>, &'static str> {
        let max = gram.max_abs();
        if max == 0.0 {
            return Ok(vec![0.5, 0.5]);
        }
        let q = 1.0 / self.alpha;
        let eps = RIDGE * max;
        let (a, b, d) = (gram.get(0, 0) + eps, gram.get(0, 1), gram.get(1, 1) + eps);
        let bisect_log = |h: &dyn Fn(f64) -> f64| {
            let (mut lo, mut hi) = (-200.0f64, 200.0f64);
            for _ in 0..300 {
                let mid = 0.5 * (lo + hi);
                if h(mid.exp()) < 0.0 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            (0.5 * (lo + hi)).exp()
        };
        let w2_of = |w1: f64| bisect_log(&|w2: f64| b * w1 + d * w2 - w2.powf(-q));
        let w1 = bisect_log(&|w1: f64| a * w1 + b * w2_of(w1) - w1.powf(-q));
        Ok(vec![w1, w2_of(w1)])
    }
}

/// The running method.
struct FairGrad {
    config: FairGradConfig,
    k: usize,
}

impl Method for FairGrad {
    fn needs(&self) -> Needs {
        Needs::grads(self.config.gradients.source())
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        let gram = gram("fairgrad", self.k, input)?;
        Ok(Update::FreeWeights(bargaining::solve(
            gram,
            1.0 / self.config.alpha,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// a = 1 is Nash-MTL's solution: the same weights as `nash-mtl` on one Gram matrix.
    #[test]
    fn fairness_one_is_nash_mtl() {
        let gram = Gram::from_rows(&[vec![1.0f32, 0.4, 0.0], vec![-0.3, 2.0, 1.0]]);
        let input = StepInput::new(0, &[1.0, 1.0], Some(&gram));
        let fair = FairGradConfig {
            alpha: 1.0,
            ..Default::default()
        }
        .build(2)
        .unwrap()
        .step(&input)
        .unwrap();
        let nash = crate::find("nash-mtl")
            .unwrap()
            .build(&serde_json::Value::Null, 2)
            .unwrap()
            .step(&input)
            .unwrap();
        assert_eq!(fair, nash);
    }
}
