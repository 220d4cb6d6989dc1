//! The min-norm solver against brute force and the optimality (KKT) conditions, on seeded
//! random Gram matrices for K = 3, 4, 5, including rank-deficient ones.

use mtl_methods::solver::{min_norm, MinNormConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;
use common::{gram_of, normal, quad};

const D: usize = 10;
const CASES: usize = 50;

/// K gradient rows of length D. Every third case is rank-deficient: rank r < K, and some cases
/// repeat or negate a row; a shared offset makes the gradients partly agree.
fn gradients(rng: &mut ChaCha8Rng, k: usize, case: usize) -> Vec<Vec<f64>> {
    let offset: Vec<f64> = (0..D)
        .map(|_| normal(rng) * (case % 4) as f64 * 0.5)
        .collect();
    let mut rows: Vec<Vec<f64>> = if case % 3 == 0 {
        let r = rng.random_range(1..k);
        let basis: Vec<Vec<f64>> = (0..r)
            .map(|_| (0..D).map(|_| normal(rng)).collect())
            .collect();
        (0..k)
            .map(|_| {
                let coef: Vec<f64> = (0..r).map(|_| normal(rng)).collect();
                (0..D)
                    .map(|d| (0..r).map(|j| coef[j] * basis[j][d]).sum())
                    .collect()
            })
            .collect()
    } else {
        (0..k)
            .map(|_| (0..D).map(|_| normal(rng)).collect())
            .collect()
    };
    for row in &mut rows {
        row.iter_mut().zip(&offset).for_each(|(x, o)| *x += o);
    }
    match case % 5 {
        1 => rows[k - 1] = rows[0].clone(),
        2 => rows[k - 1] = rows[0].iter().map(|x| -x).collect(),
        _ => {}
    }
    rows
}

/// Every point of the simplex lattice {λ : λ_k = n_k / steps}.
fn lattice(k: usize, steps: usize, out: &mut Vec<Vec<f64>>) {
    fn rec(k: usize, left: usize, steps: usize, cur: &mut Vec<f64>, out: &mut Vec<Vec<f64>>) {
        if cur.len() == k - 1 {
            cur.push(left as f64 / steps as f64);
            out.push(cur.clone());
            cur.pop();
            return;
        }
        for n in 0..=left {
            cur.push(n as f64 / steps as f64);
            rec(k, left - n, steps, cur, out);
            cur.pop();
        }
    }
    rec(k, steps, steps, &mut Vec::new(), out);
}

/// Lattice points plus random points on random faces of the simplex (flat Dirichlet on a
/// random support), so optima on faces are probed too.
fn candidates(rng: &mut ChaCha8Rng, k: usize) -> Vec<Vec<f64>> {
    let steps = match k {
        3 => 120,
        4 => 40,
        _ => 20,
    };
    let mut out = Vec::new();
    lattice(k, steps, &mut out);
    for _ in 0..20_000 {
        let mut p: Vec<f64> = (0..k)
            .map(|_| {
                if rng.random_bool(0.7) {
                    -rng.random::<f64>().max(1e-300).ln()
                } else {
                    0.0
                }
            })
            .collect();
        let sum: f64 = p.iter().sum();
        if sum > 0.0 {
            p.iter_mut().for_each(|x| *x /= sum);
            out.push(p);
        }
    }
    out
}

fn check_k(k: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let config = MinNormConfig::default();
    for case in 0..CASES {
        let rows = gradients(&mut rng, k, case);
        let gram = gram_of(&rows);
        let scale = (0..k).map(|i| gram.get(i, i)).fold(0.0, f64::max);
        let sol = min_norm(&gram, &config);
        let l = &sol.weights;
        let ctx = format!("K={k} case {case}: λ={l:?}, iterations {}", sol.iterations);

        assert_eq!(l.len(), k, "{ctx}");
        assert!(sol.converged, "{ctx}");
        assert!(l.iter().all(|x| x.is_finite() && *x >= 0.0), "{ctx}");
        assert!((l.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{ctx}");
        let value = quad(&gram, l);
        assert!(
            (value.max(0.0) - sol.norm_sq).abs() <= 1e-9 * scale,
            "{ctx}: {value} vs {}",
            sol.norm_sq
        );

        // Brute force: no candidate beats the solver by more than 1e-4 relative.
        let best = candidates(&mut rng, k)
            .iter()
            .map(|p| quad(&gram, p))
            .fold(f64::INFINITY, f64::min);
        assert!(
            value <= best + 1e-4 * best.abs().max(1e-3 * scale),
            "{ctx}: solver {value} > brute force {best}"
        );

        // KKT on the simplex: (Mλ)_i ≥ λᵀMλ for every i (equality where λ_i > 0).
        for i in 0..k {
            let m_l: f64 = (0..k).map(|j| gram.get(i, j) * l[j]).sum();
            assert!(
                m_l >= value - 1e-10 * scale,
                "{ctx}: (Mλ)_{i} = {m_l} < λᵀMλ = {value}"
            );
        }
    }
}

#[test]
fn three_tasks_match_brute_force_and_kkt() {
    check_k(3, 3);
}

#[test]
fn four_tasks_match_brute_force_and_kkt() {
    check_k(4, 4);
}

#[test]
fn five_tasks_match_brute_force_and_kkt() {
    check_k(5, 5);
}

#[test]
fn many_tasks_stay_on_the_simplex_and_beat_every_pair() {
    let mut rng = ChaCha8Rng::seed_from_u64(128);
    for (k, d) in [(16, 8), (64, 200), (128, 64), (128, 512)] {
        let rows: Vec<Vec<f64>> = (0..k)
            .map(|_| (0..d).map(|_| normal(&mut rng) + 0.3).collect())
            .collect();
        let gram = gram_of(&rows);
        let scale = (0..k).map(|i| gram.get(i, i)).fold(0.0, f64::max);
        let sol = min_norm(&gram, &MinNormConfig::default());
        let l = &sol.weights;
        assert!(l.iter().all(|x| x.is_finite() && *x >= 0.0), "K={k}");
        assert!((l.iter().sum::<f64>() - 1.0).abs() < 1e-12, "K={k}");
        let value = quad(&gram, l);
        for i in 0..k {
            assert!(value <= gram.get(i, i), "K={k}: worse than vertex {i}");
            let m_l: f64 = (0..k).map(|j| gram.get(i, j) * l[j]).sum();
            assert!(
                m_l >= value - 1e-10 * scale,
                "K={k} D={d}: (Mλ)_{i} = {m_l} < λᵀMλ = {value}"
            );
        }
    }
}
