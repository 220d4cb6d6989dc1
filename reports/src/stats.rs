//! Statistics over seeds. Pure functions on `&[f64]`: mean, sample standard deviation
//! (n − 1), the two-sided 95 % Student t-interval of the mean, and paired differences.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Confidence level of every interval in the reports.
pub const CONFIDENCE: f64 = 0.95;

/// Mean, sample standard deviation (n − 1 denominator) and 95 % t-interval of a non-empty
/// sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Sample size.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation; `None` when n = 1.
    pub std: Option<f64>,
    /// Half-width of the two-sided 95 % t-interval of the mean, t_{0.975, n−1} · s / √n;
    /// `None` when n = 1 (no interval can be given).
    pub ci95: Option<f64>,
}

impl Summary {
    /// The interval `(mean − ci95, mean + ci95)`, if there is one.
    pub fn interval(&self) -> Option<(f64, f64)> {
        self.ci95.map(|h| (self.mean - h, self.mean + h))
    }
}

/// Summarises `xs`; `None` for an empty sample.
pub fn summarize(xs: &[f64]) -> Option<Summary> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    let std = (n > 1).then(|| {
        let ss: f64 = xs.iter().map(|x| (x - mean).powi(2)).sum();
        (ss / (n - 1) as f64).sqrt()
    });
    let ci95 = std.map(|s| t_quantile(n - 1) * s / (n as f64).sqrt());
    Some(Summary { n, mean, std, ci95 })
}

/// The 0.975 quantile of Student's t distribution with `df` ≥ 1 degrees of freedom: the
/// multiplier of s/√n in a two-sided 95 % interval (12.706 for df = 1, 4.303 for df = 2,
/// → 1.960 as df grows). NaN for df = 0.
pub fn t_quantile(df: usize) -> f64 {
    match StudentsT::new(0.0, 1.0, df as f64) {
        Ok(t) if df > 0 => t.inverse_cdf(1.0 - (1.0 - CONFIDENCE) / 2.0),
        _ => f64::NAN,
    }
}

/// What a paired comparison of two methods allows one to claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The interval lies below zero: the first is lower (better when lower is better).
    FirstLower,
    /// The interval lies above zero: the second is lower.
    SecondLower,
    /// The interval contains zero: no difference can be claimed.
    Inconclusive,
    /// Fewer than two pairs: no interval, no claim.
    TooFew,
}

/// The paired difference a − b over the keys (seeds) both samples have, in key order.
/// Returns the summary of the differences and the verdict of its 95 % interval; `None` when
/// no key is shared.
pub fn paired_difference<K: Ord>(
    a: &std::collections::BTreeMap<K, f64>,
    b: &std::collections::BTreeMap<K, f64>,
) -> Option<(Summary, Verdict)> {
    let diffs: Vec<f64> = a
        .iter()
        .filter_map(|(k, x)| b.get(k).map(|y| x - y))
        .collect();
    let s = summarize(&diffs)?;
    let verdict = match s.interval() {
        None => Verdict::TooFew,
        Some((_, hi)) if hi < 0.0 => Verdict::FirstLower,
        Some((lo, _)) if lo > 0.0 => Verdict::SecondLower,
        Some(_) => Verdict::Inconclusive,
    };
    Some((s, verdict))
}

/// Average ranks (1 = smallest) of `xs`, ties sharing the mean of their ranks.
pub fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&i, &j| xs[i].total_cmp(&xs[j]));
    let mut out = vec![0.0; xs.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && xs[order[end]] == xs[order[start]] {
            end += 1;
        }
        // Positions start..end hold equal values: ranks start+1..=end, mean (start+1+end)/2.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            out[i] = rank;
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn sample_std_uses_n_minus_one() {
        let s = summarize(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(s.n, 4);
        assert_eq!(s.mean, 2.5);
        // Σ(x − 2.5)² = 5; n − 1 = 3 (the population std would be √(5/4)).
        assert!(close(s.std.unwrap(), (5.0f64 / 3.0).sqrt(), 1e-12));
    }

    #[test]
    fn n_equal_one_has_no_std_and_no_interval_and_empty_has_no_summary() {
        let s = summarize(&[3.0]).unwrap();
        assert_eq!((s.n, s.mean, s.std, s.ci95), (1, 3.0, None, None));
        assert_eq!(s.interval(), None);
        assert!(summarize(&[]).is_none());
    }

    #[test]
    fn t_quantiles_match_the_printed_table() {
        // Two-sided 95 % critical values of Student's t (any statistics table).
        for (df, t) in [
            (1, 12.7062),
            (2, 4.3027),
            (3, 3.1824),
            (4, 2.7764),
            (9, 2.2622),
            (30, 2.0423),
        ] {
            assert!(
                close(t_quantile(df), t, 5e-5),
                "df {df}: {}",
                t_quantile(df)
            );
        }
        assert!(t_quantile(0).is_nan());
    }

    #[test]
    fn n_equal_two_interval_is_the_hand_computed_one() {
        // xs = 1, 3: mean 2, s = √2, half-width = 12.7062 · √2 / √2 = 12.7062.
        let s = summarize(&[1.0, 3.0]).unwrap();
        assert!(close(s.std.unwrap(), 2f64.sqrt(), 1e-12));
        assert!(close(s.ci95.unwrap(), 12.7062, 5e-5));
    }

    #[test]
    fn n_equal_three_interval_is_the_hand_computed_one() {
        // xs = 2, 4, 9: mean 5, Σ(x − 5)² = 9 + 1 + 16 = 26, s = √13 = 3.605551,
        // half-width = 4.302653 · 3.605551 / √3 = 8.956686.
        let s = summarize(&[2.0, 4.0, 9.0]).unwrap();
        assert_eq!(s.mean, 5.0);
        assert!(close(s.std.unwrap(), 13f64.sqrt(), 1e-12));
        assert!(close(s.ci95.unwrap(), 8.956686, 1e-5));
        let (lo, hi) = s.interval().unwrap();
        assert!(close(lo, 5.0 - 8.956686, 1e-5) && close(hi, 5.0 + 8.956686, 1e-5));
    }

    #[test]
    fn constant_values_give_a_zero_width_interval() {
        let s = summarize(&[0.25; 5]).unwrap();
        assert_eq!((s.mean, s.std, s.ci95), (0.25, Some(0.0), Some(0.0)));
    }

    #[test]
    fn an_outlier_moves_the_mean_and_widens_the_interval() {
        let calm = summarize(&[1.0, 1.1, 0.9, 1.0, 1.0]).unwrap();
        let wild = summarize(&[1.0, 1.1, 0.9, 1.0, 11.0]).unwrap();
        // mean 3.0; deviations −2, −1.9, −2.1, −2, 8: Σ² = 4 + 3.61 + 4.41 + 4 + 64 = 80.02.
        assert!(close(wild.mean, 3.0, 1e-12));
        assert!(close(wild.std.unwrap(), (80.02f64 / 4.0).sqrt(), 1e-12));
        assert!(close(
            wild.ci95.unwrap(),
            2.776445 * (80.02f64 / 4.0).sqrt() / 5f64.sqrt(),
            1e-5
        ));
        assert!(wild.ci95.unwrap() > 50.0 * calm.ci95.unwrap());
    }

    #[test]
    fn paired_differences_use_only_shared_seeds_and_claim_only_outside_zero() {
        let a = BTreeMap::from([(0u64, 1.0), (1, 2.0), (2, 3.0), (7, 100.0)]);
        let b = BTreeMap::from([(0u64, 2.0), (1, 3.1), (2, 3.9)]);
        // Differences −1, −1.1, −0.9: mean −1, s = 0.1, half-width 4.3027 · 0.1 / √3.
        let (s, v) = paired_difference(&a, &b).unwrap();
        assert_eq!(s.n, 3);
        assert!(close(s.mean, -1.0, 1e-12));
        assert!(close(s.ci95.unwrap(), 4.302653 * 0.1 / 3f64.sqrt(), 1e-6));
        assert_eq!(v, Verdict::FirstLower);
        assert_eq!(paired_difference(&b, &a).unwrap().1, Verdict::SecondLower);
        let noisy = BTreeMap::from([(0u64, 1.0), (1, 5.0), (2, 2.0)]);
        assert_eq!(
            paired_difference(&noisy, &b).unwrap().1,
            Verdict::Inconclusive
        );
        let one = BTreeMap::from([(1u64, 0.0)]);
        assert_eq!(paired_difference(&one, &b).unwrap().1, Verdict::TooFew);
        assert!(paired_difference(&BTreeMap::from([(9u64, 0.0)]), &b).is_none());
    }

    #[test]
    fn ties_share_their_average_rank() {
        assert_eq!(ranks(&[3.0, 1.0, 2.0]), vec![3.0, 1.0, 2.0]);
        assert_eq!(ranks(&[1.0, 2.0, 1.0, 5.0]), vec![1.5, 3.0, 1.5, 4.0]);
        assert!(ranks(&[]).is_empty());
    }
}
