//! `mgda` and `mgda-ub` built from the registry, on degenerate inputs (DESIGN.md §8, R13) and on
//! known closed forms: every answer is finite weights on the simplex.

use mtl_methods::solver::Normalization;
use mtl_methods::{find, GradSource, Gram, Method, StepInput, Update};
use serde_json::json;

const METHODS: [&str; 2] = ["mgda", "mgda-ub"];

fn build(method: &str, normalization: Normalization, k: usize) -> Box<dyn Method> {
    find(method)
        .unwrap()
        .build(&json!({ "normalization": normalization.as_str() }), k)
        .unwrap()
}

fn weights(method: &mut dyn Method, rows: &[Vec<f32>], losses: &[f64]) -> Vec<f64> {
    let gram = Gram::from_rows(rows);
    let input = StepInput::new(0, losses, Some(&gram));
    match method.step(&input) {
        Ok(Update::Weights(w)) => w.into_vec(),
        Ok(other) => panic!("mgda answers simplex weights, got {other:?}"),
        Err(e) => panic!("step failed on {rows:?} with losses {losses:?}: {e}"),
    }
}

fn assert_simplex(w: &[f64], k: usize, ctx: &str) {
    assert_eq!(w.len(), k, "{ctx}: {w:?}");
    assert!(w.iter().all(|x| x.is_finite() && *x >= 0.0), "{ctx}: {w:?}");
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{ctx}: {w:?}");
}

fn mul(row: &[f32], s: f32) -> Vec<f32> {
    row.iter().map(|x| x * s).collect()
}

fn scaled(rows: &[Vec<f32>], s: f32) -> Vec<Vec<f32>> {
    rows.iter().map(|r| mul(r, s)).collect()
}

/// Named degenerate gradient families (rows are per-task gradients).
fn families() -> Vec<(String, Vec<Vec<f32>>)> {
    let base = vec![
        vec![1.0f32, -0.5, 0.25, 2.0],
        vec![-0.3, 1.2, 0.0, 0.7],
        vec![0.9, 0.1, -1.1, -0.2],
    ];
    let g = vec![0.6f32, -1.4, 0.3, 0.0];
    let neg = mul(&g, -1.0);
    let zero = vec![0.0f32; 4];
    let mut out = vec![
        ("zero k=1", vec![zero.clone()]),
        ("zero k=2", vec![zero.clone(); 2]),
        ("zero k=3", vec![zero.clone(); 3]),
        ("single task", vec![g.clone()]),
        ("identical k=2", vec![g.clone(); 2]),
        ("identical k=4", vec![g.clone(); 4]),
        (
            "parallel, different lengths",
            vec![g.clone(), mul(&g, 3.0), mul(&g, 0.1)],
        ),
        ("opposite k=2", vec![g.clone(), neg.clone()]),
        (
            "opposite k=3",
            vec![g.clone(), neg.clone(), base[0].clone()],
        ),
        (
            "opposite pairs k=4",
            vec![g.clone(), neg.clone(), base[1].clone(), mul(&base[1], -1.0)],
        ),
        (
            "one zero task",
            vec![base[0].clone(), zero.clone(), base[2].clone()],
        ),
        ("generic k=3", base.clone()),
        ("rank one k=3", vec![g.clone(), mul(&g, -2.0), mul(&g, 0.5)]),
        (
            "mixed scales 1e8 / 1e-8",
            vec![mul(&base[0], 1e8), mul(&base[1], 1e-8)],
        ),
        (
            "mixed scales 1e8 / 1e-8 / 1",
            vec![mul(&base[0], 1e8), mul(&base[1], 1e-8), base[2].clone()],
        ),
        (
            "mixed scales with a zero task",
            vec![mul(&base[0], 1e8), zero.clone(), mul(&base[2], 1e-8)],
        ),
    ]
    .into_iter()
    .map(|(name, rows)| (name.to_owned(), rows))
    .collect::<Vec<_>>();
    for s in [1e-8f32, 1e8] {
        out.push((format!("generic scaled {s:e}"), scaled(&base, s)));
        out.push((
            format!("opposite scaled {s:e}"),
            scaled(&[g.clone(), neg.clone()], s),
        ));
        out.push((
            format!("identical scaled {s:e}"),
            scaled(&[g.clone(), g.clone(), g.clone()], s),
        ));
    }
    out
}

/// Loss vectors to pair with the gradients, including ones the `loss` normalisations must guard.
fn loss_sets(k: usize) -> Vec<Vec<f64>> {
    vec![
        (0..k).map(|i| 0.5 + i as f64).collect(),
        vec![1e-8; k],
        vec![1e8; k],
        (0..k).map(|i| if i == 0 { 1e8 } else { 1e-8 }).collect(),
        (0..k).map(|i| if i == 0 { 0.0 } else { 1.0 }).collect(),
        (0..k).map(|i| if i == 0 { -1.0 } else { 2.0 }).collect(),
    ]
}

#[test]
fn degenerate_inputs_give_finite_simplex_weights() {
    let mut checked = 0;
    for method in METHODS {
        for normalization in Normalization::ALL {
            for (name, rows) in families() {
                let k = rows.len();
                let mut m = build(method, normalization, k);
                for losses in loss_sets(k) {
                    let w = weights(m.as_mut(), &rows, &losses);
                    assert_simplex(
                        &w,
                        k,
                        &format!("{method} {normalization} {name} losses {losses:?}"),
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 500, "{checked}");
}

#[test]
fn single_task_weight_is_one() {
    for method in METHODS {
        for normalization in Normalization::ALL {
            let mut m = build(method, normalization, 1);
            for rows in [
                vec![vec![0.0f32, 0.0]],
                vec![vec![3.0f32, 4.0]],
                vec![vec![1e8f32, 0.0]],
            ] {
                assert_eq!(weights(m.as_mut(), &rows, &[0.7]), vec![1.0]);
            }
        }
    }
}

#[test]
fn all_zero_gradients_give_uniform_weights() {
    for method in METHODS {
        for normalization in Normalization::ALL {
            let mut m = build(method, normalization, 3);
            let w = weights(
                m.as_mut(),
                &[vec![0.0f32; 5], vec![0.0; 5], vec![0.0; 5]],
                &[1.0, 2.0, 3.0],
            );
            assert_eq!(w, vec![1.0 / 3.0; 3], "{method} {normalization}");
        }
    }
}

#[test]
fn opposite_equal_gradients_are_balanced() {
    for method in METHODS {
        for normalization in [Normalization::None, Normalization::L2] {
            let mut m = build(method, normalization, 2);
            let w = weights(
                m.as_mut(),
                &[vec![1.0f32, -2.0, 0.5], vec![-1.0, 2.0, -0.5]],
                &[1.0, 1.0],
            );
            assert_eq!(w, vec![0.5, 0.5], "{method} {normalization}");
        }
    }
}

#[test]
fn l2_with_two_tasks_is_uniform_for_any_nonzero_gradients() {
    // The min-norm point of two unit vectors is their midpoint (DESIGN.md §4).
    let pairs: Vec<[Vec<f32>; 2]> = vec![
        [vec![1.0, 0.0], vec![0.0, 2.0]],
        [vec![1.0, 0.0], vec![5.0, 0.1]],
        [vec![1.0, 2.0, 3.0], vec![3.0, 6.0, 9.0]],
        [vec![1.0, 2.0, 3.0], vec![-0.1, -0.2, -0.3]],
        [vec![1e8, -3e8, 0.0], vec![2e-8, 1e-8, 5e-8]],
        [vec![0.3, -0.7, 1.9, 0.0], vec![-1.1, 0.4, 0.2, 0.8]],
        [vec![1e-8, 1e-8], vec![1e-8, 1.1e-8]],
    ];
    for method in METHODS {
        for [a, b] in &pairs {
            let mut m = build(method, Normalization::L2, 2);
            for losses in loss_sets(2) {
                let w = weights(m.as_mut(), &[a.clone(), b.clone()], &losses);
                assert!(
                    (w[0] - 0.5).abs() < 1e-9 && (w[1] - 0.5).abs() < 1e-9,
                    "{method} {a:?} {b:?}: {w:?}"
                );
            }
        }
    }
}

#[test]
fn two_task_closed_form_without_normalisation() {
    // g1 = (1, 0), g2 = (0, 2): λ1 = ‖g2‖² / ‖g1 − g2‖² = 4 / 5.
    for method in METHODS {
        let mut m = build(method, Normalization::None, 2);
        let w = weights(m.as_mut(), &[vec![1.0, 0.0], vec![0.0, 2.0]], &[1.0, 1.0]);
        assert!(
            (w[0] - 0.8).abs() < 1e-12 && (w[1] - 0.2).abs() < 1e-12,
            "{method}: {w:?}"
        );
    }
}

#[test]
fn default_normalisation_is_loss_plus() {
    // With the default `loss+`, g_k / (L_k ‖g_k‖): two orthogonal gradients with losses 2 and 1
    // become lengths ½ and 1, so λ = (0.8, 0.2) whatever the raw gradient lengths.
    for method in METHODS {
        let mut m = find(method)
            .unwrap()
            .build(&serde_json::Value::Null, 2)
            .unwrap();
        let w = weights(m.as_mut(), &[vec![7.0, 0.0], vec![0.0, 0.01]], &[2.0, 1.0]);
        assert!((w[0] - 0.8).abs() < 1e-12, "{method}: {w:?}");
    }
}

#[test]
fn weights_follow_a_permutation_of_the_tasks() {
    let rows = vec![
        vec![1.0f32, -0.5, 0.25, 2.0, 0.1],
        vec![-0.3, 1.2, 0.0, 0.7, -0.4],
        vec![0.9, 0.1, -1.1, -0.2, 0.3],
        vec![-0.8, -0.6, 0.5, -1.0, 0.0],
    ];
    let losses = [0.4, 1.1, 0.9, 2.5];
    let perm = [2usize, 0, 3, 1];
    for method in METHODS {
        for normalization in Normalization::ALL {
            let w = weights(build(method, normalization, 4).as_mut(), &rows, &losses);
            let rows_p: Vec<Vec<f32>> = perm.iter().map(|&i| rows[i].clone()).collect();
            let losses_p: Vec<f64> = perm.iter().map(|&i| losses[i]).collect();
            let w_p = weights(build(method, normalization, 4).as_mut(), &rows_p, &losses_p);
            for (j, &i) in perm.iter().enumerate() {
                assert!(
                    (w_p[j] - w[i]).abs() < 1e-6,
                    "{method} {normalization}: {w:?} vs permuted {w_p:?}"
                );
            }
        }
    }
}

#[test]
fn registry_entries_need_the_right_gradients_and_share_the_config() {
    let mgda = find("mgda").unwrap();
    let ub = find("mgda-ub").unwrap();
    assert_eq!(
        mgda.build(&json!({}), 2).unwrap().needs().grads,
        GradSource::Params
    );
    assert_eq!(
        ub.build(&json!({}), 2).unwrap().needs().grads,
        GradSource::Representation
    );
    let expected = json!({"normalization": "loss+", "max_iter": 250, "tol": 1e-5});
    assert_eq!(mgda.default_config(), expected);
    assert_eq!(ub.default_config(), expected);
    assert_eq!(mgda.params(), ub.params());
    let names: Vec<_> = mgda.params().iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        ["normalization", "max_iter", "tol", "min_weight", "heads"]
    );
    // A non-default head rule is part of the identity; the default stays out of it.
    assert_eq!(
        mgda.canonical_config(&json!({"heads": "own"})).unwrap()["heads"],
        "own"
    );
    assert!(mgda
        .canonical_config(&json!({"heads": "weighted"}))
        .unwrap()
        .get("heads")
        .is_none());
}

#[test]
fn invalid_configs_name_the_field() {
    for method in METHODS {
        let spec = find(method).unwrap();
        for (params, field) in [
            (json!({"max_iter": 0}), "max_iter"),
            (json!({"tol": 0.0}), "tol"),
            (json!({"tol": -1e-3}), "tol"),
            (json!({"min_weight": 0.7}), "min_weight"),
            (json!({"normalization": "l1"}), "l1"),
            (json!({"normalisation": "l2"}), "normalisation"),
            (json!({"heads": "scaled"}), "scaled"),
        ] {
            let err = spec.canonical_config(&params).unwrap_err().to_string();
            assert!(
                err.contains(field) && err.contains(method),
                "{method} {params}: {err}"
            );
        }
        assert!(spec
            .canonical_config(&json!({"normalization": "loss+", "max_iter": 10, "tol": 1e-3}))
            .is_ok());
    }
}

#[test]
fn missing_gram_is_a_trainer_error() {
    for method in METHODS {
        let mut m = build(method, Normalization::None, 2);
        let err = m.step(&StepInput::new(3, &[1.0, 1.0], None)).unwrap_err();
        assert!(err.to_string().contains(method), "{err}");
    }
}
