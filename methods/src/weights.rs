//! Task weights λ, built only through checking constructors.

use crate::{Error, Result};

/// Tolerance for "sums to one" on the probability simplex.
pub const SIMPLEX_TOL: f64 = 1e-6;

/// softmax(x)_k = e^{x_k} / Σ_i e^{x_i}, computed from x − max x so nothing overflows.
pub fn softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

/// Task weights λ: finite, and on the probability simplex when built by [`Weights::simplex`].
#[derive(Debug, Clone, PartialEq)]
pub struct Weights(Vec<f64>);

impl Weights {
    /// λ_k = 1/K.
    pub fn uniform(num_tasks: usize) -> Self {
        Self(vec![1.0 / num_tasks.max(1) as f64; num_tasks])
    }

    /// Weights that must lie on the simplex: finite, non-negative, summing to one.
    pub fn simplex(values: Vec<f64>) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidWeights {
            weights: values.clone(),
            reason: reason.to_owned(),
        };
        if values.is_empty() {
            return Err(bad("no tasks"));
        }
        if values.iter().any(|w| !w.is_finite()) {
            return Err(bad("not finite"));
        }
        if values.iter().any(|&w| w < 0.0) {
            return Err(bad("negative entry"));
        }
        let sum: f64 = values.iter().sum();
        if (sum - 1.0).abs() > SIMPLEX_TOL {
            return Err(bad(&format!("sum is {sum}, expected 1")));
        }
        Ok(Self(values))
    }

    /// Projects non-negative finite scores with a positive sum onto the simplex by dividing by
    /// their sum; a zero or non-finite sum falls back to uniform weights.
    pub fn normalized(scores: &[f64]) -> Result<Self> {
        let sum: f64 = scores.iter().map(|s| s.max(0.0)).sum();
        if !(sum.is_finite() && sum > 0.0) {
            return Ok(Self::uniform(scores.len()));
        }
        Self::simplex(scores.iter().map(|s| s.max(0.0) / sum).collect())
    }

    /// The weights as a slice, task order.
    pub fn as_slice(&self) -> &[f64] {
        &self.0
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no tasks (never for a built method).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The weights as an owned vector.
    pub fn into_vec(self) -> Vec<f64> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplex_rejects_off_simplex_values() {
        assert!(Weights::simplex(vec![0.5, 0.5]).is_ok());
        assert!(Weights::simplex(vec![0.7, 0.5]).is_err());
        assert!(Weights::simplex(vec![1.5, -0.5]).is_err());
        assert!(Weights::simplex(vec![f64::NAN, 1.0]).is_err());
        assert!(Weights::simplex(vec![]).is_err());
    }

    #[test]
    fn normalized_falls_back_to_uniform_on_zero_sum() {
        assert_eq!(
            Weights::normalized(&[0.0, 0.0]).unwrap(),
            Weights::uniform(2)
        );
        assert_eq!(
            Weights::normalized(&[1.0, 3.0]).unwrap().as_slice(),
            &[0.25, 0.75]
        );
    }
}
