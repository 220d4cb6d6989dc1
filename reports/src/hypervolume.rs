//! Pareto dominance and the hypervolume indicator for minimisation, on plain `&[f64]` points.
//!
//! The hypervolume of a point set P with reference point r is the Lebesgue measure of
//! ∪_{p∈P} [p, r] (every point no worse than r in each objective contributes the box between
//! itself and r; points beyond r in any objective contribute nothing). It is computed exactly
//! by slicing objectives (HSO, While et al., IEEE TEC 2006): sort by the first objective,
//! cut the space into slabs between consecutive values, and recurse on the points of each slab
//! with one objective fewer. The work grows like C(n + K − 1, K) for n points and K objectives;
//! above [`EXACT_WORK_LIMIT`] the measure is *estimated* by Monte Carlo with a fixed seed
//! ([`MC_SAMPLES`] uniform samples in the box between the ideal point and r), so results stay
//! deterministic, and [`Hypervolume::exact`] says which was done.
//!
//! The samples come from a five-line SplitMix64 of our own. `mtl_methods::testing` has the
//! same generator, but reports and methods share no crate below them that could hold one
//! copy (both sit directly under mtl-bench, and neither may depend on the other); the
//! workspace's `rand`/`rand_chacha` generators would draw another stream and move the
//! estimates in tables and reports, which must stay byte-identical.

/// Largest slicing work (≈ C(n + K − 1, K) leaf boxes) computed exactly.
pub const EXACT_WORK_LIMIT: f64 = 2.0e6;
/// Samples of the Monte Carlo estimate used above [`EXACT_WORK_LIMIT`].
pub const MC_SAMPLES: u64 = 200_000;

/// A hypervolume value and how it was obtained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hypervolume {
    /// The measure.
    pub value: f64,
    /// `true` when computed exactly, `false` for the seeded Monte Carlo estimate.
    pub exact: bool,
}

/// Whether `a` weakly dominates `b` for minimisation: no worse in every objective and
/// strictly better in at least one.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y)
}

/// Indices of the points no other point dominates, in input order (duplicates all kept).
pub fn non_dominated(points: &[Vec<f64>]) -> Vec<usize> {
    (0..points.len())
        .filter(|&i| !points.iter().any(|q| dominates(q, &points[i])))
        .collect()
}

/// The hypervolume of `points` (minimisation) with reference point `reference`. Points with
/// a non-finite coordinate, or not strictly better than the reference in every objective,
/// contribute nothing. Every point must have `reference.len()` coordinates.
pub fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> Hypervolume {
    let k = reference.len();
    let inside: Vec<Vec<f64>> = points
        .iter()
        .filter(|p| p.len() == k && p.iter().zip(reference).all(|(x, r)| x.is_finite() && x < r))
        .cloned()
        .collect();
    let front: Vec<Vec<f64>> = non_dominated(&inside)
        .into_iter()
        .map(|i| inside[i].clone())
        .collect();
    if front.is_empty() || k == 0 {
        return Hypervolume {
            value: 0.0,
            exact: true,
        };
    }
    if slicing_work(front.len(), k) <= EXACT_WORK_LIMIT {
        Hypervolume {
            value: slice(front, reference),
            exact: true,
        }
    } else {
        Hypervolume {
            value: monte_carlo(&front, reference),
            exact: false,
        }
    }
}

/// C(n + k − 1, k), the number of leaf boxes slicing may visit.
fn slicing_work(n: usize, k: usize) -> f64 {
    (1..=k).fold(1.0, |acc, i| acc * (n + i - 1) as f64 / i as f64)
}

/// Exact hypervolume by slicing the first objective; `points` are inside the reference box.
fn slice(mut points: Vec<Vec<f64>>, reference: &[f64]) -> f64 {
    if reference.len() == 1 {
        let best = points.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min);
        return reference[0] - best;
    }
    points.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let mut volume = 0.0;
    for i in 0..points.len() {
        let upper = points.get(i + 1).map_or(reference[0], |p| p[0]);
        let depth = upper - points[i][0];
        if depth <= 0.0 {
            continue;
        }
        // The slab [x_i, x_{i+1}) is covered by the first i + 1 points, one objective fewer.
        let rest: Vec<Vec<f64>> = points[..=i].iter().map(|p| p[1..].to_vec()).collect();
        let keep: Vec<Vec<f64>> = non_dominated(&rest)
            .into_iter()
            .map(|j| rest[j].clone())
            .collect();
        volume += depth * slice(keep, &reference[1..]);
    }
    volume
}

/// Seeded Monte Carlo estimate: the box [ideal, r] times the fraction of uniform samples in
/// it that some point dominates (weakly).
fn monte_carlo(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let k = reference.len();
    let ideal: Vec<f64> = (0..k)
        .map(|j| points.iter().map(|p| p[j]).fold(f64::INFINITY, f64::min))
        .collect();
    let box_volume: f64 = ideal.iter().zip(reference).map(|(a, r)| r - a).product();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut sample = vec![0.0; k];
    let mut hits = 0u64;
    for _ in 0..MC_SAMPLES {
        for (j, s) in sample.iter_mut().enumerate() {
            *s = ideal[j] + (reference[j] - ideal[j]) * unit(&mut state);
        }
        if points
            .iter()
            .any(|p| p.iter().zip(&sample).all(|(x, s)| x <= s))
        {
            hits += 1;
        }
    }
    box_volume * hits as f64 / MC_SAMPLES as f64
}

/// SplitMix64 (Steele, Lea & Flood, 2014) mapped to [0, 1): a fixed-seed stream, so the
/// estimate is the same on every run and platform.
fn unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(points: &[&[f64]], r: &[f64]) -> Hypervolume {
        let points: Vec<Vec<f64>> = points.iter().map(|p| p.to_vec()).collect();
        hypervolume(&points, r)
    }

    #[test]
    fn one_point_is_the_box_to_the_reference() {
        let h = hv(&[&[1.0, 2.0]], &[3.0, 5.0]);
        assert_eq!(
            h,
            Hypervolume {
                value: 6.0,
                exact: true
            }
        );
        assert_eq!(hv(&[&[1.0, 2.0, 3.0]], &[2.0, 4.0, 7.0]).value, 8.0);
    }

    #[test]
    fn two_dimensional_staircase_by_hand() {
        // Points (1,3), (2,2), (3,1), r = (4,4): boxes 3·1 + 2·1 + 1·1 (stacked slabs) = 6.
        let h = hv(&[&[1.0, 3.0], &[2.0, 2.0], &[3.0, 1.0]], &[4.0, 4.0]);
        assert_eq!(h.value, 6.0);
        // A dominated point and a point beyond the reference change nothing.
        let h2 = hv(
            &[
                &[1.0, 3.0],
                &[2.0, 2.0],
                &[3.0, 1.0],
                &[3.0, 3.0],
                &[0.5, 9.0],
            ],
            &[4.0, 4.0],
        );
        assert_eq!(h2.value, 6.0);
    }

    #[test]
    fn three_dimensional_union_by_inclusion_exclusion() {
        // a = (1,1,2), b = (2,2,1), r = (3,3,3): |A| = 2·2·1 = 4, |B| = 1·1·2 = 2,
        // |A∩B| = box from (2,2,2) = 1·1·1 = 1 → 4 + 2 − 1 = 5.
        let h = hv(&[&[1.0, 1.0, 2.0], &[2.0, 2.0, 1.0]], &[3.0, 3.0, 3.0]);
        assert!((h.value - 5.0).abs() < 1e-12 && h.exact);
    }

    #[test]
    fn empty_and_outside_sets_have_zero_volume() {
        assert_eq!(hv(&[], &[1.0, 1.0]).value, 0.0);
        assert_eq!(hv(&[&[2.0, 0.0]], &[1.0, 1.0]).value, 0.0);
        assert_eq!(hv(&[&[f64::NAN, 0.0]], &[1.0, 1.0]).value, 0.0);
    }

    #[test]
    fn many_objectives_fall_back_to_a_seeded_estimate() {
        // 12 objectives, 40 seeded random points in [0, 1)^12: far too much work for slicing.
        let k = 12;
        let mut state = 7;
        let points: Vec<Vec<f64>> = (0..40)
            .map(|_| (0..k).map(|_| unit(&mut state)).collect())
            .collect();
        let r = vec![1.2; k];
        let a = hypervolume(&points, &r);
        assert!(!a.exact);
        assert_eq!(a, hypervolume(&points, &r), "the estimate is seeded");
        // One point is cheap to slice whatever K: 1.0^12.
        let one = vec![vec![0.2; k]];
        assert!(hypervolume(&one, &r).exact);
        let exact = 1.0f64.powi(k as i32);
        assert!((hypervolume(&one, &r).value - exact).abs() < 1e-12);
        let est = monte_carlo(&points, &r);
        assert!(est > 0.0 && est <= 1.2f64.powi(k as i32));
    }

    #[test]
    fn monte_carlo_agrees_with_slicing_where_both_apply() {
        let points = vec![
            vec![1.0, 3.0, 2.0],
            vec![2.0, 2.0, 1.0],
            vec![3.0, 1.0, 2.5],
        ];
        let r = [4.0, 4.0, 4.0];
        let exact = slice(points.clone(), &r);
        let est = monte_carlo(&points, &r);
        assert!((est - exact).abs() / exact < 0.01, "{est} vs {exact}");
    }

    #[test]
    fn dominance_is_strict_somewhere() {
        assert!(dominates(&[1.0, 2.0], &[1.0, 3.0]));
        assert!(!dominates(&[1.0, 2.0], &[1.0, 2.0]));
        assert!(!dominates(&[0.0, 3.0], &[1.0, 2.0]));
        assert_eq!(
            non_dominated(&[vec![1.0, 2.0], vec![2.0, 3.0], vec![2.0, 1.0]]),
            vec![0, 2]
        );
    }
}
