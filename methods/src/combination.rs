//! What the stateless gradient-combination methods share: the running method that turns each
//! step's Gram matrix into combination coefficients, and the declarations of their
//! configurations.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::gradients::Gradients;
use crate::method::{HeadScaling, Method, Needs, StepInput, Update};
use crate::step_checks::{gram, require_tasks};
use crate::{Gram, Result};

/// The coefficients of one step's combination, from its Gram matrix.
pub type Combine = Box<dyn Fn(&Gram) -> Vec<f64> + Send>;

/// A method whose update is a combination of the task gradients computed from their Gram
/// matrix alone, the same way every step; heads receive their own gradients.
pub struct GramCombination {
    name: &'static str,
    k: usize,
    gradients: Gradients,
    combine: Combine,
}

impl GramCombination {
    /// The running method `name` for `num_tasks` ≥ 1 tasks on `gradients`.
    pub fn boxed(
        name: &'static str,
        num_tasks: usize,
        gradients: Gradients,
        combine: Combine,
    ) -> Result<Box<dyn Method>> {
        require_tasks(name, num_tasks)?;
        Ok(Box::new(Self {
            name,
            k: num_tasks,
            gradients,
            combine,
        }))
    }
}

impl Method for GramCombination {
    fn needs(&self) -> Needs {
        Needs::grads(self.gradients.source())
    }

    fn head_scaling(&self) -> HeadScaling {
        HeadScaling::Own
    }

    fn step(&mut self, input: &StepInput<'_>) -> Result<Update> {
        let gram = gram(self.name, self.k, input)?;
        Ok(Update::Combination((self.combine)(gram)))
    }
}

/// The mean (1/K) Σ_i g_i′ of gradient surgery done task by task on the Gram matrix (PCGrad,
/// GradVac), as coefficients over the original gradients: g_i′ starts at g_i (coefficients
/// e_i), and `adjust(i, j, c)` changes its coefficients `c` for every other task j, in an
/// order drawn from `rng` for each task.
pub fn sequential_surgery(
    k: usize,
    rng: &mut ChaCha8Rng,
    mut adjust: impl FnMut(usize, usize, &mut [f64]),
) -> Vec<f64> {
    let mut total = vec![0.0; k];
    for i in 0..k {
        let mut c = vec![0.0; k];
        c[i] = 1.0;
        let mut others: Vec<usize> = (0..k).filter(|&j| j != i).collect();
        others.shuffle(rng);
        for j in others {
            adjust(i, j, &mut c);
        }
        for (t, v) in total.iter_mut().zip(&c) {
            *t += v / k as f64;
        }
    }
    total
}

/// The [`MethodConfig`](crate::MethodConfig) declarations of a gradient-combination method:
/// it answers a combination, its heads receive their own gradients, and its coefficients keep
/// under one common factor on the gradients but not under one factor per task.
macro_rules! combination_declarations {
    () => {
        fn update_kind() -> $crate::method::UpdateKind {
            $crate::method::UpdateKind::Combination
        }

        fn head_scaling(&self) -> $crate::method::HeadScaling {
            $crate::method::HeadScaling::Own
        }

        fn scale_invariance(&self) -> $crate::method::ScaleInvariance {
            $crate::method::ScaleInvariance {
                common: true,
                per_task: false,
            }
        }
    };
}

/// The [`MethodConfig`](crate::MethodConfig) items of a gradient-combination method whose only
/// hyper-parameter is `gradients`: its documentation and examples, the build of a
/// [`GramCombination`] named `$name` with `$combine`, and [`combination_declarations`].
macro_rules! gradients_only_combination {
    ($name:literal, $combine:expr) => {
        fn params() -> &'static [$crate::method::ParamDoc] {
            &[$crate::gradients::Gradients::DOC]
        }

        fn build(&self, num_tasks: usize) -> $crate::Result<Box<dyn $crate::method::Method>> {
            $crate::combination::GramCombination::boxed(
                $name,
                num_tasks,
                self.gradients,
                Box::new($combine),
            )
        }

        fn examples(_: usize) -> Vec<(String, serde_json::Value)> {
            $crate::gradients::Gradients::examples()
        }

        combination_declarations!();
    };
}
