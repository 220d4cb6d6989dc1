//! The shared property harness (STYLE.md "Tests"; DESIGN.md §4 and §8, R13), after TorchJD's
//! `tests/unit/aggregation/_asserts.py`.
//!
//! Every method in [`METHODS`] — so a newly registered one is covered on registration — with
//! every online hyper-parameter variant of [`param_variants`] (each normalisation for `mgda`
//! and `mgda-ub`, the `prefix` runs of `autoscale`), for K ∈ {1, 2, 3, 5}, on every seeded
//! family of [`cases`]. Each input is a short run ([`Case::steps`]) driven as the trainer drives
//! it: [`Method::start`] with the run length, then at every step the Gram matrix only if
//! [`Method::needs`] asks for gradients at that step. So stateless methods and methods whose
//! weights and needs change over the run (`autoscale` prefix) are checked alike:
//! - weights are finite and on the probability simplex at every step;
//! - permutation-equivariant: permuting the tasks (gradients and losses) of every step permutes
//!   the weights of every step — on each family's run, and on one run through all families;
//! - the mean 1/K at every step when all gradients are identical and the losses equal;
//! - for K = 2, the method's closed form at every step;
//! - scaling: invariant to one common factor c > 0 on all gradients, and, where the method
//!   declares it, to a different factor per task;
//! - the state (`Method::state`) survives a JSON round trip.
//!
//! A method that cannot have a property says so in an opt-out list below, with the reason; a
//! method the closed-form and scaling tables do not know makes those tests fail with a message
//! saying what to add. Requires `--features testing`.

use mtl_methods::solver::Normalization;
use mtl_methods::testing::{cases, identical, param_variants, Case, SplitMix64};
use mtl_methods::{GradSource, Method, MethodSpec, StepInput, Update, METHODS};
use serde_json::Value;

const TASK_COUNTS: [usize; 4] = [1, 2, 3, 5];
const SEED: u64 = 20_240_611;

/// Steps of each family's run: long enough for `autoscale`'s half-run prefix (measuring every
/// other step) to end and its fixed weights to take over.
const RUN_STEPS: usize = 6;

/// Tolerance of the permutation property (the solver's path is the same up to rounding).
const PERMUTATION_TOL: f64 = 1e-6;

/// Methods whose weights legitimately depend on task order, and why.
const NOT_PERMUTATION_EQUIVARIANT: &[(&str, &str)] = &[
    (
        "fixed",
        "the user's weights are tied to task positions by definition",
    ),
    (
        "stl",
        "it trains the task at index `task`, a position by definition",
    ),
];

/// Methods that need not answer the mean for identical gradients and equal losses, and why.
const NOT_MEAN_WHEN_IDENTICAL: &[(&str, &str)] = &[
    (
        "fixed",
        "the user's weights are whatever the user chose, whatever the gradients",
    ),
    ("stl", "all weight is on one task by definition"),
];

/// Methods without a two-task closed form of one step's input, and why.
const NO_TWO_TASK_CLOSED_FORM: &[(&str, &str)] = &[(
    "autoscale",
    "its weights depend on the run's history (metric means over the prefix), not on one \
     step's input; its unit tests pin the prefix rule on a 2-task run",
)];

fn opted_out(list: &[(&str, &str)], method: &str) -> bool {
    list.iter().any(|(name, reason)| {
        assert!(!reason.is_empty(), "opt-out of `{name}` needs a reason");
        *name == method
    })
}

/// Step `t` of `method` on `case`, as the trainer does it: the Gram matrix only if the method
/// asks for gradients at this step.
fn step(method: &mut dyn Method, t: usize, case: &Case, ctx: &str) -> Vec<f64> {
    let gram = case.gram();
    let gram = match method.needs().grads {
        GradSource::None => None,
        GradSource::Params | GradSource::Representation => Some(&gram),
    };
    let input = StepInput {
        step: t as u64,
        losses: &case.losses,
        gram,
    };
    match method.step(&input) {
        Ok(Update::Weights(w)) => w.into_vec(),
        Err(e) => panic!("{ctx}: step {t} failed: {e}"),
    }
}

/// Drives `method` through one run, one input per step: [`Method::start`] with the run length
/// first. The weights of every step.
fn drive(method: &mut dyn Method, inputs: &[Case], ctx: &str) -> Vec<Vec<f64>> {
    method.start(inputs.len() as u64);
    inputs
        .iter()
        .enumerate()
        .map(|(t, case)| step(method, t, case, ctx))
        .collect()
}

/// True for a search method (`tuned`, `autoscale` with a full exploration): its fixed weights
/// come from trainings run before the real one ([`MethodSpec::search`]), not from steps, so
/// there is nothing to step here; its own tests cover the search.
fn is_search(spec: &MethodSpec, params: &Value, k: usize) -> bool {
    match spec.search(params, k) {
        Ok(search) => search.is_some(),
        Err(e) => panic!("{} K={k}: invalid example params {params}: {e}", spec.name),
    }
}

/// The weights of every step of a freshly built method over `inputs`.
fn run(spec: &MethodSpec, params: &Value, inputs: &[Case], ctx: &str) -> Vec<Vec<f64>> {
    let k = inputs.first().map_or(0, Case::k);
    let mut method = spec
        .build(params, k)
        .unwrap_or_else(|e| panic!("{ctx}: build failed with {params}: {e}"));
    drive(method.as_mut(), inputs, ctx)
}

/// The weights of every step of a freshly built method over `case`'s run ([`Case::steps`]).
fn weights(spec: &MethodSpec, params: &Value, case: &Case, ctx: &str) -> Vec<Vec<f64>> {
    run(spec, params, &case.steps(RUN_STEPS), ctx)
}

/// The online (stepped) methods with their labelled parameter variants for K tasks.
fn online_variants(k: usize) -> Vec<(&'static MethodSpec, String, Value)> {
    METHODS
        .iter()
        .flat_map(|spec| {
            param_variants(spec.name, k)
                .into_iter()
                .filter(move |(_, params)| !is_search(spec, params, k))
                .map(move |(variant, params)| (spec, variant, params))
        })
        .collect()
}

/// Calls `f(spec, variant, params, case, context)` for every online method, variant, K and
/// case.
fn for_every_input(mut f: impl FnMut(&MethodSpec, &str, &Value, &Case, &str)) {
    for k in TASK_COUNTS {
        for (spec, variant, params) in online_variants(k) {
            for case in cases(k, SEED) {
                let ctx = format!("{} ({variant}) K={k} on `{}`", spec.name, case.name);
                f(spec, &variant, &params, &case, &ctx);
            }
        }
    }
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol, "{ctx}: {got:?} vs {want:?}");
    }
}

/// [`assert_close`] at every step of two runs of equal length.
fn assert_runs_close(got: &[Vec<f64>], want: &[Vec<f64>], tol: f64, ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}: run lengths");
    for (t, (g, w)) in got.iter().zip(want).enumerate() {
        assert_close(g, w, tol, &format!("{ctx}, step {t}"));
    }
}

fn assert_on_simplex(run: &[Vec<f64>], k: usize, ctx: &str) {
    for (t, w) in run.iter().enumerate() {
        assert_eq!(w.len(), k, "{ctx}, step {t}: {w:?}");
        assert!(
            w.iter().all(|x| x.is_finite() && *x >= 0.0),
            "{ctx}, step {t}: {w:?}"
        );
        assert!(
            (w.iter().sum::<f64>() - 1.0).abs() < 1e-9,
            "{ctx}, step {t}: {w:?}"
        );
    }
}

/// Reverse, rotate and a seeded random permutation of K ≥ 2 tasks.
fn permutations(k: usize) -> [Vec<usize>; 3] {
    [
        (0..k).rev().collect(),
        (0..k).map(|i| (i + 1) % k).collect(),
        SplitMix64::new(SEED ^ k as u64).permutation(k),
    ]
}

/// The run `w` with the tasks of every step in the order `perm`.
fn permute_run(w: &[Vec<f64>], perm: &[usize]) -> Vec<Vec<f64>> {
    w.iter()
        .map(|step| perm.iter().map(|&i| step[i]).collect())
        .collect()
}

#[test]
fn weights_are_finite_and_on_the_simplex() {
    let mut checked = 0;
    for_every_input(|spec, _, params, case, ctx| {
        assert_on_simplex(&weights(spec, params, case, ctx), case.k(), ctx);
        checked += 1;
    });
    assert!(checked > 400, "{checked}");
}

#[test]
fn weights_permute_with_the_tasks() {
    let mut checked = 0;
    for_every_input(|spec, _, params, case, ctx| {
        if opted_out(NOT_PERMUTATION_EQUIVARIANT, spec.name) || case.k() < 2 {
            return;
        }
        let w = weights(spec, params, case, ctx);
        for perm in permutations(case.k()) {
            let w_p = weights(spec, params, &case.permuted(&perm), ctx);
            assert_runs_close(
                &w_p,
                &permute_run(&w, &perm),
                PERMUTATION_TOL,
                &format!("{ctx}, permutation {perm:?}"),
            );
            checked += 1;
        }
    });
    assert!(checked > 500, "{checked}");
}

/// One run through every family in turn (a different input shape at each step, so per-task
/// history differs between tasks): finite simplex weights throughout, and permuting the tasks
/// of every step permutes the whole run's weights.
#[test]
fn whole_runs_through_all_families_permute_with_the_tasks() {
    let mut checked = 0;
    for k in TASK_COUNTS {
        let inputs = cases(k, SEED);
        for (spec, variant, params) in online_variants(k) {
            let ctx = format!("{} ({variant}) K={k}, run through all families", spec.name);
            let w = run(spec, &params, &inputs, &ctx);
            assert_on_simplex(&w, k, &ctx);
            if opted_out(NOT_PERMUTATION_EQUIVARIANT, spec.name) || k < 2 {
                continue;
            }
            for perm in permutations(k) {
                let permuted: Vec<Case> = inputs.iter().map(|c| c.permuted(&perm)).collect();
                assert_runs_close(
                    &run(spec, &params, &permuted, &ctx),
                    &permute_run(&w, &perm),
                    PERMUTATION_TOL,
                    &format!("{ctx}, permutation {perm:?}"),
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 3 * 3 * 11, "{checked}");
}

#[test]
fn identical_gradients_and_losses_give_the_mean() {
    let mut checked = 0;
    for k in TASK_COUNTS {
        for (spec, variant, params) in online_variants(k) {
            if opted_out(NOT_MEAN_WHEN_IDENTICAL, spec.name) {
                continue;
            }
            for case in identical(k, SEED) {
                let ctx = format!("{} ({variant}) K={k} on `{}`", spec.name, case.name);
                let w = weights(spec, &params, &case, &ctx);
                assert_runs_close(&w, &vec![vec![1.0 / k as f64; k]; RUN_STEPS], 1e-12, &ctx);
                checked += 1;
            }
        }
    }
    assert!(checked >= 4 * 3 * 11, "{checked}");
}

/// A guarded normalisation factor, written out from the documented rule
/// (`solver::normalization`): used when finite and in [1e-150, 1e150], else 1.
fn guarded(c: f64) -> f64 {
    if c.is_finite() && (1e-150..=1e150).contains(&c) {
        c
    } else {
        1.0
    }
}

/// λ for K = 2, from each method's definition (provenance in the comments).
fn two_task_closed_form(method: &str, params: &Value, case: &Case) -> Vec<f64> {
    match method {
        // λ = 1/K.
        "uniform" => vec![0.5, 0.5],
        // The user's weights.
        "fixed" => serde_json::from_value(params["weights"].clone()).unwrap(),
        // e_task.
        "stl" => {
            let task = params["task"].as_u64().unwrap_or(0);
            (0..2).map(|i| f64::from(u8::from(i == task))).collect()
        }
        // Sener & Koltun (2018), Algorithm 1, on the Gram of g_k / c_k: λ₁ = clamp((M₂₂ − M₁₂) /
        // (M₁₁ + M₂₂ − 2M₁₂), 0, 1); ½ when the two (normalised) gradients coincide. With
        // `min_weight` m, the smaller weight is raised to m (their code's 0.999 / 0.001 at a
        // vertex, `_min_norm_element_from2` in `min_norm_solvers.py`).
        "mgda" | "mgda-ub" => {
            let normalization: Normalization =
                serde_json::from_value(params["normalization"].clone()).unwrap();
            let g = case.gram();
            let c: Vec<f64> = (0..2)
                .map(|i| {
                    let (norm, loss) = (g.get(i, i).sqrt(), case.losses[i]);
                    // Each factor guarded on its own; the `loss+` product clamped into range.
                    match normalization {
                        Normalization::None => 1.0,
                        Normalization::L2 => guarded(norm),
                        Normalization::Loss => guarded(loss),
                        Normalization::LossPlus => {
                            (guarded(loss) * guarded(norm)).clamp(1e-150, 1e150)
                        }
                    }
                })
                .collect();
            let m11 = g.get(0, 0) / (c[0] * c[0]);
            let m12 = g.get(0, 1) / (c[0] * c[1]);
            let m22 = g.get(1, 1) / (c[1] * c[1]);
            let denom = m11 + m22 - 2.0 * m12;
            let l1 = if denom <= 1e-10 * m11.max(m22) {
                0.5
            } else {
                ((m22 - m12) / denom).clamp(0.0, 1.0)
            };
            let m = params["min_weight"].as_f64().unwrap_or(0.0);
            if l1 < m {
                vec![m, 1.0 - m]
            } else if 1.0 - l1 < m {
                vec![1.0 - m, m]
            } else {
                vec![l1, 1.0 - l1]
            }
        }
        other => panic!(
            "no two-task closed form for `{other}`: add one to `two_task_closed_form` (with \
             its provenance) or list the method in NO_TWO_TASK_CLOSED_FORM with a reason"
        ),
    }
}

#[test]
fn two_tasks_match_the_closed_form() {
    let mut checked = 0;
    for (spec, variant, params) in online_variants(2) {
        if opted_out(NO_TWO_TASK_CLOSED_FORM, spec.name) {
            continue;
        }
        for case in cases(2, SEED) {
            let ctx = format!("{} ({variant}) K=2 on `{}`", spec.name, case.name);
            let inputs = case.steps(RUN_STEPS);
            let w = run(spec, &params, &inputs, &ctx);
            let want: Vec<Vec<f64>> = inputs
                .iter()
                .map(|c| two_task_closed_form(spec.name, &params, c))
                .collect();
            assert_runs_close(&w, &want, 1e-9, &ctx);
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

/// How a method's weights respond to gradient scaling: (invariant to one common factor,
/// invariant to a factor per task).
fn scale_invariance(method: &str, params: &Value) -> (bool, bool) {
    match method {
        // The weights do not look at the gradients.
        "uniform" | "fixed" | "stl" => (true, true),
        // The min-norm point of c·G is c times that of G, at the same λ. Per-task factors
        // change the hull unless the normalisation divides them out (‖g_k‖ in `l2`, `loss+`).
        "mgda" | "mgda-ub" => {
            let normalization: Normalization =
                serde_json::from_value(params["normalization"].clone()).unwrap();
            match normalization {
                Normalization::None | Normalization::Loss => (true, false),
                // ‖g_k‖ is guarded apart from L_k, so it divides out even when the guard
                // rejects the loss (0, negative, non-finite: that factor becomes 1).
                Normalization::L2 | Normalization::LossPlus => (true, true),
            }
        }
        // `prefix` (the online variant): λ_k ∝ 1/m_k of the prefix's mean metric. A common
        // factor on ‖g_k‖ cancels in the normalisation; per-task factors are what the
        // `grad-norm` rule balances, by design. The `loss` metric never looks at gradients.
        "autoscale" => match params["metric"].as_str() {
            Some("loss") => (true, true),
            _ => (true, false),
        },
        other => panic!(
            "declare how `{other}` responds to gradient scaling in `scale_invariance` \
             (common factor, per-task factor)"
        ),
    }
}

#[test]
fn scaling_the_gradients_keeps_the_declared_weights() {
    // Powers of two scale f32 rows exactly, so only the method, not input rounding, is tested;
    // 2^-33 ≈ 1.2e-10 and 2^50 ≈ 1.1e15 on top of the families' own 1e-10 … 1e15 scales.
    let common = [2f32.powi(-33), 2f32.powi(50)];
    let per_task = [
        2f32.powi(-20),
        2f32.powi(30),
        1.0,
        2f32.powi(10),
        2f32.powi(-5),
    ];
    let (mut checked_common, mut checked_per_task) = (0, 0);
    for_every_input(|spec, _, params, case, ctx| {
        let (common_inv, per_task_inv) = scale_invariance(spec.name, params);
        let w = weights(spec, params, case, ctx);
        if common_inv {
            for c in common {
                let w_c = weights(spec, params, &case.scaled(c), ctx);
                assert_runs_close(&w_c, &w, 1e-9, &format!("{ctx}, all gradients ×{c:e}"));
                checked_common += 1;
            }
        }
        if per_task_inv {
            let factors: Vec<f32> = (0..case.k())
                .map(|i| per_task[i % per_task.len()])
                .collect();
            let w_c = weights(spec, params, &case.scaled_per_task(&factors), ctx);
            assert_runs_close(
                &w_c,
                &w,
                1e-9,
                &format!("{ctx}, task gradients ×{factors:?}"),
            );
            checked_per_task += 1;
        }
    });
    assert!(checked_common > 500 && checked_per_task > 100);
}

#[test]
fn per_task_scaling_changes_none_but_not_l2() {
    // The documented difference: g1 = (1, 0), g2 = (0, 1) give λ = (½, ½) under both; doubling
    // g2 moves `none` to the closed form (0.8, 0.2) and leaves `l2` at (½, ½).
    let case = Case {
        name: "orthogonal units".into(),
        grads: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
        losses: vec![1.0, 1.0],
    };
    let doubled = case.scaled_per_task(&[1.0, 2.0]);
    for name in ["mgda", "mgda-ub"] {
        let spec = mtl_methods::find(name).unwrap();
        let none = serde_json::json!({"normalization": "none"});
        let l2 = serde_json::json!({"normalization": "l2"});
        let once = |params: &Value, case: &Case| {
            run(spec, params, std::slice::from_ref(case), name).remove(0)
        };
        assert_close(&once(&none, &case), &[0.5, 0.5], 1e-12, name);
        assert_close(&once(&none, &doubled), &[0.8, 0.2], 1e-12, name);
        assert_close(&once(&l2, &doubled), &[0.5, 0.5], 1e-12, name);
    }
}

#[test]
fn state_survives_a_json_round_trip() {
    for k in TASK_COUNTS {
        for (spec, variant, params) in online_variants(k) {
            let ctx = format!("{} ({variant}) K={k}", spec.name);
            let mut method = spec.build(&params, k).unwrap();
            let fresh = method.state();
            drive(method.as_mut(), &cases(k, SEED)[..4], &ctx);
            for state in [fresh, method.state()] {
                let text = serde_json::to_string(&state)
                    .unwrap_or_else(|e| panic!("{ctx}: state does not serialise: {e}"));
                let back: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(back, state, "{ctx}: {text}");
            }
        }
    }
}

#[test]
fn opt_outs_name_registered_methods() {
    for list in [
        NOT_PERMUTATION_EQUIVARIANT,
        NOT_MEAN_WHEN_IDENTICAL,
        NO_TWO_TASK_CLOSED_FORM,
    ] {
        for (name, reason) in list {
            assert!(
                METHODS.iter().any(|m| m.name == *name),
                "stale opt-out `{name}`"
            );
            assert!(!reason.is_empty(), "opt-out of `{name}` needs a reason");
        }
    }
}
