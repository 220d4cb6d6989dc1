use super::cells::{cell_of, project};
use super::problem::{dot, eigen};
use super::search;
use super::*;
use crate::hypervolume::non_dominated;

const SIGMA: f64 = 0.1;

fn problem(task_vectors: Vec<Vec<f64>>, width: usize) -> LinearProblem {
    LinearProblem {
        task_vectors,
        noise: SIGMA,
        width,
    }
}

/// Three unit task vectors in R³ with pairwise cosines (c12, c13, c23) (Cholesky rows).
fn with_cosines(c12: f64, c13: f64, c23: f64) -> Vec<Vec<f64>> {
    let b = (1.0 - c12 * c12).sqrt();
    let y = (c23 - c12 * c13) / b;
    let z = (1.0 - c13 * c13 - y * y).sqrt();
    vec![vec![1.0, 0.0, 0.0], vec![c12, b, 0.0], vec![c13, y, z]]
}

/// Unit vectors on a Fibonacci sphere: an independent, brute-force sample of Gr(1, 3)
/// (and, as normals, of Gr(2, 3)).
fn sphere(n: usize) -> Vec<Vec<f64>> {
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    (0..n)
        .map(|i| {
            let z = 1.0 - 2.0 * (i as f64 + 0.5) / n as f64;
            let r = (1.0 - z * z).sqrt();
            let t = golden * i as f64;
            vec![r * t.cos(), r * t.sin(), z]
        })
        .collect()
}

/// Brute-force loss vectors over the sphere sample for width 1 (u spans P) or 2 (u ⊥ P).
fn brute_force(p: &LinearProblem, n: usize) -> Vec<Vec<f64>> {
    let s2 = SIGMA * SIGMA;
    sphere(n)
        .iter()
        .map(|u| {
            p.task_vectors
                .iter()
                .map(|t| {
                    let along = dot(t, u).powi(2);
                    match p.width {
                        1 => s2 + dot(t, t) - along,
                        _ => s2 + along,
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn two_tasks_in_the_plane_match_the_hand_derivation() {
    let alpha = 1.1f64;
    let p = problem(vec![vec![1.0, 0.0], vec![alpha.cos(), alpha.sin()]], 1);
    let a = analyse(&p, &Resolution::coarse(2)).unwrap();
    let s2 = SIGMA * SIGMA;
    // u = (cos φ, sin φ): L1 = σ² + sin²φ, L2 = σ² + sin²(α − φ), front φ ∈ [0, α].
    let angle = |l: &[f64]| (l[0] - s2).max(0.0).sqrt().asin();
    let mut phis: Vec<f64> = a.front.iter().map(|f| angle(&f.losses)).collect();
    for (f, &phi) in a.front.iter().zip(&phis) {
        assert!((-1e-9..=alpha + 1e-9).contains(&phi), "{f:?}");
        assert!((f.losses[1] - (s2 + (alpha - phi).sin().powi(2))).abs() < 1e-9);
        assert!(f.reached && f.gap <= REACH_TOLERANCE, "{f:?}");
    }
    // One point per cell of side 1/30 along the front's projection: spread over the arc.
    phis.sort_by(f64::total_cmp);
    assert!(
        phis[0] < 0.03 && phis[phis.len() - 1] > alpha - 0.03,
        "{phis:?}"
    );
    assert!(phis.windows(2).all(|w| w[1] - w[0] < 0.06), "{phis:?}");
    assert_eq!(a.fraction_reached, 1.0);
    // The top eigenvector of λ₁θ₁θ₁ᵀ + λ₂θ₂θ₂ᵀ sweeps the whole arc.
    let mut swept: Vec<f64> = a.reachable.iter().map(|s| angle(&s.losses)).collect();
    swept.sort_by(f64::total_cmp);
    assert!(swept[0] < 1e-9 && swept[swept.len() - 1] > alpha - 1e-9);
    assert!(swept.windows(2).all(|w| w[1] - w[0] < 0.06));
    let want = s2 + (alpha / 2.0).sin().powi(2);
    assert!(
        (a.balanced.max_loss - want).abs() < 1e-7,
        "{:?}",
        a.balanced
    );
    assert!((a.best_scalarization.max_loss - want).abs() < 1e-7);
    assert!((a.balanced_normalised.max_loss - (want - s2)).abs() < 1e-7);
    let w = a.best_scalarization.weights.as_ref().unwrap();
    assert!(
        (w[0] - 0.5).abs() < 1e-4,
        "equal weights split the angle: {w:?}"
    );
}

#[test]
fn three_tasks_agree_with_brute_force_sampling() {
    // Negative pairwise cosines, q = 1: scalarization misses part of the front.
    let p = problem(with_cosines(-0.4, -0.4, -0.4), 1);
    let res = Resolution {
        weight_steps: 48,
        front_cells: 20,
        tie_samples: 64,
    };
    let a = analyse(&p, &res).unwrap();
    let brute = brute_force(&p, 6000);
    // Scalarization: the analysis' optimum is exact (no sample beats it) and the samples
    // come close to it.
    for s in a.reachable.iter().step_by(97) {
        let mine = dot(&s.weights, &s.losses);
        let best = brute
            .iter()
            .map(|b| dot(&s.weights, b))
            .fold(f64::INFINITY, f64::min);
        assert!(mine <= best + 1e-12, "{s:?}: {mine} > {best}");
        assert!(best - mine < 3e-3, "{s:?}: {best} vs {mine}");
    }
    // Front: no sample dominates a front point; every non-dominated sample is nearly
    // dominated by a front point.
    let us = sphere(6000);
    for f in &a.front {
        let dom = brute
            .iter()
            .position(|b| b.iter().zip(&f.losses).all(|(x, y)| *x < y - 1e-9));
        assert!(
            dom.is_none(),
            "{f:?} is dominated by {:?} u={:?}",
            brute[dom.unwrap()],
            us[dom.unwrap()]
        );
    }
    for i in non_dominated(&brute) {
        let b = &brute[i];
        let near = a
            .front
            .iter()
            .map(|f| {
                f.losses
                    .iter()
                    .zip(b)
                    .map(|(x, y)| x - y)
                    .fold(0.0, f64::max)
            })
            .fold(f64::INFINITY, f64::min);
        assert!(near < 0.06, "no front point near {b:?} ({near})");
    }
    // Reached points are weighted-sum optima of the samples' weights; unreached ones stay
    // above every weight's brute-force optimum by about their gap.
    let weights = search::simplex_grid(3, 24);
    let optimum: Vec<f64> = weights
        .iter()
        .map(|w| {
            brute
                .iter()
                .map(|b| dot(w, b))
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let mut missed = 0;
    for f in &a.front {
        if f.reached {
            let best = brute
                .iter()
                .map(|b| dot(&f.weights, b))
                .fold(f64::INFINITY, f64::min);
            assert!(dot(&f.weights, &f.losses) <= best + 1e-9, "{f:?}");
        } else if f.gap > 0.01 {
            missed += 1;
            // Raw-weight gap ≥ normalised gap × min scale (all scales are 1 here).
            for (w, o) in weights.iter().zip(&optimum) {
                assert!(dot(w, &f.losses) - o >= f.gap - 3e-3, "{f:?} at {w:?}");
            }
        }
    }
    assert!(missed > 10, "the front has a part scalarization misses");
    assert!(a.fraction_reached < 0.8, "{}", a.fraction_reached);
}

#[test]
fn the_sign_structure_decides_what_scalarization_reaches() {
    let res = Resolution::coarse(3);
    let aligned = with_cosines(0.5, 0.5, 0.5);
    let opposed = with_cosines(-0.4, -0.4, -0.4);
    // q = 1 with aligned tasks and q = 2 with opposed ones: all reached, balanced point too.
    for (vectors, q) in [(&aligned, 1), (&opposed, 2)] {
        let a = analyse(&problem(vectors.clone(), q), &res).unwrap();
        assert_eq!(a.fraction_reached, 1.0, "q = {q}");
        assert!((a.best_scalarization.max_loss - a.balanced.max_loss).abs() < 1e-6);
    }
    // The other way round scalarization misses the balanced part of the front.
    for (vectors, q) in [(&aligned, 2), (&opposed, 1)] {
        let a = analyse(&problem(vectors.clone(), q), &res).unwrap();
        assert!(a.fraction_reached < 0.8, "q = {q}: {}", a.fraction_reached);
        assert!(a.best_scalarization.max_loss > a.balanced.max_loss + 0.01);
        assert!(a.front.iter().any(|f| !f.reached && f.gap > 0.01));
    }
}

#[test]
fn full_width_makes_the_front_one_point() {
    for (vectors, q) in [
        (with_cosines(0.3, -0.2, 0.6), 3),
        (with_cosines(0.3, -0.2, 0.6), 5),
        (vec![vec![1.0, 0.0], vec![0.0, 2.0], vec![1.0, 1.0]], 2),
    ] {
        let a = analyse(&problem(vectors, q), &Resolution::coarse(3)).unwrap();
        assert_eq!(a.front.len(), 1, "q = {q}");
        let s2 = SIGMA * SIGMA;
        assert!(a.front[0].losses.iter().all(|l| (l - s2).abs() < 1e-12));
        assert_eq!(a.fraction_reached, 1.0);
        assert!(a
            .reachable
            .iter()
            .flat_map(|s| &s.losses)
            .all(|l| (l - s2).abs() < 1e-12));
        assert!((a.balanced.max_loss - s2).abs() < 1e-12);
        assert!((a.best_scalarization.max_loss - s2).abs() < 1e-12);
    }
}

#[test]
fn scales_stretch_losses_and_weights_reproduce_the_optimum() {
    let mut vectors = with_cosines(0.5, 0.5, -0.4);
    let scales = [1.0, 3.0, 0.5];
    for (v, s) in vectors.iter_mut().zip(scales) {
        v.iter_mut().for_each(|x| *x *= s);
    }
    let p = problem(vectors, 1);
    let a = analyse(&p, &Resolution::coarse(3)).unwrap();
    assert_eq!(a.loss_scale, vec![1.0, 9.0, 0.25]);
    for f in a.front.iter().step_by(7) {
        for k in 0..3 {
            let raw = SIGMA * SIGMA + a.loss_scale[k] * f.normalised[k];
            assert!((f.losses[k] - raw).abs() < 1e-12);
        }
    }
    // The best scalarization's raw weights: the top eigenvector of Σ λ_k t_k t_kᵀ gives
    // its losses (checked through the public closed form).
    let best = &a.best_scalarization;
    let w = best.weights.as_ref().unwrap();
    let mut m = vec![0.0; 9];
    for (t, wk) in p.task_vectors.iter().zip(w) {
        for i in 0..3 {
            for j in 0..3 {
                m[i * 3 + j] += wk * t[i] * t[j];
            }
        }
    }
    let (_, vectors) = eigen(&m, 3);
    let losses = p.losses(&vectors[..1]).unwrap();
    for (x, y) in losses.iter().zip(&best.losses) {
        assert!((x - y).abs() < 1e-9, "{losses:?} vs {best:?}");
    }
    let max = losses.iter().copied().fold(0.0, f64::max);
    assert!((max - best.max_loss).abs() < 1e-9);
    assert!(best.max_loss >= a.balanced.max_loss - 1e-9);
}

#[test]
fn analysis_is_deterministic() {
    let p = problem(with_cosines(0.7, 0.7, 0.1), 2);
    let res = Resolution::coarse(3);
    assert_eq!(analyse(&p, &res).unwrap(), analyse(&p, &res).unwrap());
}

#[test]
fn orthogonal_tasks_have_a_flat_front_reached_through_ties() {
    // M(w) = diag(w): every eigenvector is tied at w = (⅓, ⅓, ⅓); the front
    // Σ (1 − ℓ̃_k) = 1 is flat, and scalarization reaches it only through the ties.
    let p = problem(with_cosines(0.0, 0.0, 0.0), 1);
    let a = analyse(&p, &Resolution::coarse(3)).unwrap();
    assert!(a.front.len() > 20, "{}", a.front.len());
    for f in &a.front {
        assert!(
            (f.normalised.iter().sum::<f64>() - 2.0).abs() < 1e-9,
            "{f:?}"
        );
    }
    assert_eq!(a.fraction_reached, 1.0);
    assert!(a.reachable.iter().any(|s| s.tie));
    let want = SIGMA * SIGMA + 2.0 / 3.0;
    assert!(
        (a.balanced.max_loss - want).abs() < 1e-6,
        "{:?}",
        a.balanced
    );
    assert!(
        (a.best_scalarization.max_loss - want).abs() < 1e-6,
        "{:?}",
        a.best_scalarization
    );
}

#[test]
fn four_tasks_run_at_every_width() {
    let p = |q| {
        problem(
            vec![
                vec![1.0, 0.0, 0.0, 0.0],
                vec![0.5, 0.8, 0.0, 0.0],
                vec![0.5, 0.2, 0.8, 0.0],
                vec![0.4, 0.3, 0.3, 0.7],
            ],
            q,
        )
    };
    let res = Resolution {
        weight_steps: 10,
        front_cells: 4,
        tie_samples: 16,
    };
    let mut last = f64::INFINITY;
    for q in 1..=4 {
        let a = analyse(&p(q), &res).unwrap();
        assert!(!a.front.is_empty());
        assert!(a.balanced.max_loss <= a.best_scalarization.max_loss + 1e-9);
        assert!(
            a.balanced.max_loss < last,
            "wider is better: q = {q}: {:?} then {last}",
            a.balanced
        );
        last = a.balanced.max_loss;
    }
}

#[test]
fn cells_cut_the_plane_across_the_diagonal() {
    let p = project(&[0.3, 0.5, 0.9]);
    assert_eq!(p.len(), 2);
    // Orthonormal coordinates of the plane ⟂ (1, 1, 1): moving along the diagonal does not
    // change them, and lengths in the plane are kept.
    let q = project(&[1.3, 1.5, 1.9]);
    assert!(p.iter().zip(&q).all(|(a, b)| (a - b).abs() < 1e-12));
    let d: [f64; 3] = [0.3 - 0.5, 0.5 - 0.9, 0.9 - 0.3];
    let mean = (d[0] + d[1] + d[2]) / 3.0;
    let in_plane: f64 = d.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
    let r = project(&d);
    assert!((r[0] * r[0] + r[1] * r[1] - in_plane).abs() < 1e-12);
    assert_eq!(cell_of(&[1.0, 0.0], 10), vec![7]);
    assert_eq!(cell_of(&[0.0, 1.0], 10), vec![-8]);
}

#[test]
fn sheet_and_plot_show_the_analysis() {
    let p = problem(with_cosines(-0.4, -0.4, -0.4), 1);
    let a = analyse(&p, &Resolution::coarse(3)).unwrap();
    let sheet = front_sheet(&[("opposed q=1", &a)]);
    assert_eq!(sheet.rows.len(), 1);
    assert_eq!(sheet.rows[0].len(), sheet.columns.len());
    let md = sheet.markdown();
    assert!(
        md.contains("opposed q=1") && md.contains("reached %"),
        "{md}"
    );
    let runs = vec![
        RunPoint {
            label: "mgda-ub".into(),
            losses: a.balanced.losses.iter().map(|l| l + 0.01).collect(),
        },
        RunPoint {
            label: "uniform".into(),
            losses: a.best_scalarization.losses.clone(),
        },
    ];
    let svg = front_svg(&a, "opposed, q = 1", &runs).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    for want in [
        "mgda-ub",
        "uniform",
        "task 3 lost",
        "task 2 loss",
        "opposed, q = 1",
    ] {
        assert!(texts.iter().any(|t| t.contains(want)), "{want}");
    }
    // Dots: open circles, and filled ones written as zero-length path segments.
    let dots: usize = doc
        .descendants()
        .map(|n| match n.tag_name().name() {
            "circle" => 1,
            "path" => n.attribute("d").map_or(0, |d| d.matches('M').count()),
            _ => 0,
        })
        .sum();
    // Four panels, each with every front point.
    assert!(dots >= 4 * a.front.len(), "{dots}");
    let bad = RunPoint {
        label: "x".into(),
        losses: vec![1.0],
    };
    assert!(front_svg(&a, "t", &[bad]).is_err());
}
