//! The shared property harness (STYLE.md "Tests"; DESIGN.md §4 and §8, R13), after TorchJD's
//! `tests/unit/aggregation/_asserts.py`.
//!
//! Every method in [`METHODS`] — so a newly registered one is covered on registration — with
//! every online hyper-parameter variant the method declares ([`MethodSpec::examples`]: each
//! normalisation for `mgda` and `mgda-ub`, the `prefix` runs of `autoscale`), for K ∈ {1, 2,
//! 3, 5}, on every seeded
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
//! Which properties hold is declared by each method on its [`MethodConfig`] (issue 11: a new
//! method is one file plus one registry line): a property that does not hold is
//! [`Property::Exempt`] with the reason, the scaling behaviour is declared per configuration,
//! and the two-task closed form is written out in the method's file apart from its production
//! code (or the method says why it has none). Nothing here is keyed by method name. Requires
//! `--features testing`.
//!
//! [`MethodConfig`]: mtl_methods::MethodConfig

use mtl_methods::testing::{cases, identical, Case, SplitMix64};
use mtl_methods::{
    GradSource, Method, MethodSpec, Property, RunInfo, StepInput, Update, UpdateKind, METHODS,
};
use serde_json::Value;

const TASK_COUNTS: [usize; 4] = [1, 2, 3, 5];
const SEED: u64 = 20_240_611;

/// Steps of each family's run: long enough for `autoscale`'s half-run prefix (measuring every
/// other step) to end and its fixed weights to take over.
const RUN_STEPS: usize = 6;

/// Tolerance of the permutation property (the solver's path is the same up to rounding).
const PERMUTATION_TOL: f64 = 1e-6;

/// True when the method declares that `property` holds; an exemption must give its reason.
fn holds(spec: &MethodSpec, property: Property) -> bool {
    match property {
        Property::Holds => true,
        Property::Exempt(reason) => {
            assert!(
                !reason.trim().is_empty(),
                "exemption of `{}` needs a reason",
                spec.name
            );
            false
        }
    }
}

/// Steps per epoch of the suite's runs: [`Method::end_epoch`] is called after every two.
const STEPS_PER_EPOCH: usize = 2;

/// Step `t` of `method` on `case`, as the trainer does it: the Gram matrix only if the method
/// asks for gradients at this step, the rows only if it asks for them, and the losses after
/// the step (the case's, shrunk by 1 %) if it asks for those. The update's coefficients, or a
/// direction's coordinates.
fn step(method: &mut dyn Method, t: usize, case: &Case, ctx: &str) -> Vec<f64> {
    let gram = case.gram();
    let needs = method.needs();
    let mut input = StepInput::new(t as u64, &case.losses, None);
    if needs.grads != GradSource::None {
        input.gram = Some(&gram);
        input.rows = needs.rows.then_some(&case.grads[..]);
    }
    let update = match method.step(&input) {
        Ok(update) => update,
        Err(e) => panic!("{ctx}: step {t} failed: {e}"),
    };
    if needs.after_step {
        let after: Vec<f64> = case.losses.iter().map(|l| 0.99 * l).collect();
        method
            .after_step(&after)
            .unwrap_or_else(|e| panic!("{ctx}: after step {t}: {e}"));
    }
    match update {
        Update::Direction(d) => d.into_iter().map(f64::from).collect(),
        other => other.coefficients().expect("coefficients").to_vec(),
    }
}

/// The run every suite run shares: its length, two steps per epoch, the suite's seed.
fn run_info(steps: usize) -> RunInfo {
    RunInfo {
        total_steps: steps as u64,
        steps_per_epoch: STEPS_PER_EPOCH as u64,
        seed: SEED,
    }
}

/// Drives `method` through `inputs` from step `from` on, ending an epoch (with its mean
/// losses) after every [`STEPS_PER_EPOCH`] steps. The update of every step.
fn drive_from(method: &mut dyn Method, from: usize, inputs: &[Case], ctx: &str) -> Vec<Vec<f64>> {
    let mut out = Vec::new();
    for (t, case) in inputs.iter().enumerate().skip(from) {
        out.push(step(method, t, case, ctx));
        if (t + 1) % STEPS_PER_EPOCH == 0 {
            let epoch = &inputs[t + 1 - STEPS_PER_EPOCH..=t];
            let mean: Vec<f64> = (0..case.k())
                .map(|i| epoch.iter().map(|c| c.losses[i]).sum::<f64>() / epoch.len() as f64)
                .collect();
            method.end_epoch((t + 1) / STEPS_PER_EPOCH, &mean);
        }
    }
    out
}

/// Drives `method` through one run, one input per step: [`Method::start`] with the run first.
/// The update of every step.
fn drive(method: &mut dyn Method, inputs: &[Case], ctx: &str) -> Vec<Vec<f64>> {
    method.start(&run_info(inputs.len()));
    drive_from(method, 0, inputs, ctx)
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
            spec.examples(k)
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

/// Entries within `tol`, relative to the entry where it exceeds 1 (free weights and
/// combinations can be large; simplex weights never are).
fn assert_close(got: &[f64], want: &[f64], tol: f64, ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{ctx}: {got:?} vs {want:?}"
        );
    }
}

/// [`assert_close`] at every step of two runs of equal length.
fn assert_runs_close(got: &[Vec<f64>], want: &[Vec<f64>], tol: f64, ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}: run lengths");
    for (t, (g, w)) in got.iter().zip(want).enumerate() {
        assert_close(g, w, tol, &format!("{ctx}, step {t}"));
    }
}

/// Every update finite with one entry per task (per coordinate for a direction), and on the
/// simplex where the method answers simplex weights.
fn assert_valid(spec: &MethodSpec, run: &[Vec<f64>], case: &Case, ctx: &str) {
    let kind = spec.update_kind();
    let len = match kind {
        UpdateKind::Direction => case.grads.first().map_or(0, Vec::len),
        _ => case.k(),
    };
    for (t, w) in run.iter().enumerate() {
        assert_eq!(w.len(), len, "{ctx}, step {t}: {w:?}");
        assert!(w.iter().all(|x| x.is_finite()), "{ctx}, step {t}: {w:?}");
        if kind == UpdateKind::Weights {
            assert!(w.iter().all(|x| *x >= 0.0), "{ctx}, step {t}: {w:?}");
            assert!(
                (w.iter().sum::<f64>() - 1.0).abs() < 1e-9,
                "{ctx}, step {t}: {w:?}"
            );
        }
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

/// The run `w` with the tasks of every step in the order `perm`; a direction lives in the
/// gradients' coordinates, so it stays as it is.
fn permute_run_of(spec: &MethodSpec, w: &[Vec<f64>], perm: &[usize]) -> Vec<Vec<f64>> {
    match spec.update_kind() {
        UpdateKind::Direction => w.to_vec(),
        _ => permute_run(w, perm),
    }
}

/// The run `w` with the tasks of every step in the order `perm`.
fn permute_run(w: &[Vec<f64>], perm: &[usize]) -> Vec<Vec<f64>> {
    w.iter()
        .map(|step| perm.iter().map(|&i| step[i]).collect())
        .collect()
}

#[test]
fn updates_are_finite_and_on_the_simplex_where_declared() {
    let mut checked = 0;
    for_every_input(|spec, _, params, case, ctx| {
        assert_valid(spec, &weights(spec, params, case, ctx), case, ctx);
        checked += 1;
    });
    assert!(checked > 400, "{checked}");
}

#[test]
fn weights_permute_with_the_tasks() {
    let mut checked = 0;
    for_every_input(|spec, _, params, case, ctx| {
        if !holds(spec, spec.permutation_equivariant(params).unwrap()) || case.k() < 2 {
            return;
        }
        let w = weights(spec, params, case, ctx);
        for perm in permutations(case.k()) {
            let w_p = weights(spec, params, &case.permuted(&perm), ctx);
            assert_runs_close(
                &w_p,
                &permute_run_of(spec, &w, &perm),
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
            for (t, case) in inputs.iter().enumerate() {
                assert_valid(spec, &w[t..=t], case, &format!("{ctx}, step {t}"));
            }
            if !holds(spec, spec.permutation_equivariant(&params).unwrap()) || k < 2 {
                continue;
            }
            for perm in permutations(k) {
                let permuted: Vec<Case> = inputs.iter().map(|c| c.permuted(&perm)).collect();
                assert_runs_close(
                    &run(spec, &params, &permuted, &ctx),
                    &permute_run_of(spec, &w, &perm),
                    PERMUTATION_TOL,
                    &format!("{ctx}, permutation {perm:?}"),
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 3 * 3 * 11, "{checked}");
}

/// Identical gradients and equal losses: simplex weights are the mean 1/K; free weights and
/// combinations treat every task alike (equal coefficients, > 0); a direction is a positive
/// multiple of the common gradient.
#[test]
fn identical_gradients_and_losses_give_the_mean() {
    let mut checked = 0;
    for k in TASK_COUNTS {
        for (spec, variant, params) in online_variants(k) {
            if !holds(spec, spec.mean_when_identical(&params).unwrap()) {
                continue;
            }
            for case in identical(k, SEED) {
                let ctx = format!("{} ({variant}) K={k} on `{}`", spec.name, case.name);
                let w = weights(spec, &params, &case, &ctx);
                match spec.update_kind() {
                    UpdateKind::Weights => {
                        let mean = vec![vec![1.0 / k as f64; k]; RUN_STEPS];
                        assert_runs_close(&w, &mean, 1e-12, &ctx);
                    }
                    UpdateKind::FreeWeights | UpdateKind::Combination => {
                        for (t, c) in w.iter().enumerate() {
                            assert!(c[0] > 0.0, "{ctx}, step {t}: {c:?}");
                            assert_close(c, &vec![c[0]; k], 1e-12 * c[0], &ctx);
                        }
                    }
                    UpdateKind::Direction => {
                        let g: Vec<f64> = case.grads[0].iter().map(|&x| x.into()).collect();
                        for (t, d) in w.iter().enumerate() {
                            let scale = dot(d, &g) / dot(&g, &g);
                            assert!(scale > 0.0, "{ctx}, step {t}");
                            let along: Vec<f64> = g.iter().map(|x| scale * x).collect();
                            assert_close(d, &along, 1e-6 * scale.abs(), &ctx);
                        }
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 4 * 3 * 11, "{checked}");
}

/// The method's declared two-task reference weights of one step, or `None` when it declares
/// none (with a reason).
fn two_task_reference(spec: &MethodSpec, params: &Value, case: &Case) -> Option<Vec<f64>> {
    match spec.two_task_reference(params, &case.gram(), &case.losses) {
        Ok(Ok(w)) => Some(w),
        Ok(Err(reason)) => {
            assert!(
                !reason.trim().is_empty(),
                "`{}` must say why it has no two-task form",
                spec.name
            );
            None
        }
        Err(e) => panic!("{} with {params}: {e}", spec.name),
    }
}

#[test]
fn two_tasks_match_the_closed_form() {
    let mut checked = 0;
    for (spec, variant, params) in online_variants(2) {
        for case in cases(2, SEED) {
            let ctx = format!("{} ({variant}) K=2 on `{}`", spec.name, case.name);
            let inputs = case.steps(RUN_STEPS);
            let Some(want) = inputs
                .iter()
                .map(|c| two_task_reference(spec, &params, c))
                .collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            let w = run(spec, &params, &inputs, &ctx);
            assert_runs_close(&w, &want, 1e-9, &ctx);
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
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
        let declared = spec
            .scale_invariance(params)
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let (common_inv, per_task_inv) = (declared.common, declared.per_task);
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

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A run interrupted after any step and continued by a fresh method restored from the state
/// (through its JSON text) goes on exactly as the uninterrupted run.
#[test]
fn state_restores_the_run_exactly() {
    let mut checked = 0;
    for k in TASK_COUNTS {
        let inputs = cases(k, SEED);
        for (spec, variant, params) in online_variants(k) {
            let ctx = format!("{} ({variant}) K={k}", spec.name);
            let whole = run(spec, &params, &inputs, &ctx);
            for cut in [0, 1, STEPS_PER_EPOCH + 1, inputs.len() - 1] {
                let mut first = spec.build(&params, k).unwrap();
                first.start(&run_info(inputs.len()));
                drive_from(first.as_mut(), 0, &inputs[..cut], &ctx);
                let text = serde_json::to_string(&first.state())
                    .unwrap_or_else(|e| panic!("{ctx}: state does not serialise: {e}"));
                let mut resumed = spec.build(&params, k).unwrap();
                resumed.start(&run_info(inputs.len()));
                resumed
                    .restore(&serde_json::from_str(&text).unwrap())
                    .unwrap_or_else(|e| panic!("{ctx}: restore after {cut} steps: {e}"));
                let rest = drive_from(resumed.as_mut(), cut, &inputs, &ctx);
                assert_runs_close(&rest, &whole[cut..], 0.0, &format!("{ctx}, cut at {cut}"));
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "{checked}");
}

/// The head-scaling rule `mtlbench list` shows (from the configuration) is the built method's.
#[test]
fn head_scaling_is_declared_by_the_configuration() {
    for k in TASK_COUNTS {
        for (spec, variant, params) in online_variants(k) {
            let method = spec.build(&params, k).unwrap();
            assert_eq!(
                spec.head_scaling(&params).unwrap(),
                method.head_scaling(),
                "{} ({variant}) K={k}",
                spec.name
            );
        }
    }
}

#[test]
fn every_method_declares_examples_that_build() {
    for spec in METHODS {
        for k in TASK_COUNTS {
            let examples = spec.examples(k);
            assert!(
                !examples.is_empty(),
                "{} declares no example for K={k}",
                spec.name
            );
            for (label, params) in examples {
                spec.check(&params, k)
                    .unwrap_or_else(|e| panic!("{} ({label}) K={k}: {params}: {e}", spec.name));
            }
        }
    }
}
