//! The running summary of a run's task weights (last, mean, min, max over its steps), kept
//! in checkpoints and written into the record.

use mtl_reports::record::WeightsSummary;

/// Running summary of the weights λ over all steps.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct WeightsTracker {
    last: Vec<f64>,
    sum: Vec<f64>,
    /// ±∞ before the first step: JSON has no infinities, so they are written as null.
    #[serde(with = "infinite_as_null")]
    min: Vec<f64>,
    #[serde(with = "infinite_as_null")]
    max: Vec<f64>,
    steps: u64,
}

/// Serialises non-finite entries as null and reads null back as ±∞ (by the neighbour's
/// meaning: `min` starts at +∞, `max` at −∞, so the sign is kept in the JSON as a string).
mod infinite_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Entry {
        Finite(f64),
        Infinite(String),
    }

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|x| match x {
                x if x.is_finite() => Entry::Finite(*x),
                x if *x > 0.0 => Entry::Infinite("inf".into()),
                _ => Entry::Infinite("-inf".into()),
            })
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Entry>::deserialize(d)?
            .into_iter()
            .map(|e| match e {
                Entry::Finite(x) => x,
                Entry::Infinite(s) if s == "inf" => f64::INFINITY,
                Entry::Infinite(_) => f64::NEG_INFINITY,
            })
            .collect())
    }
}

impl WeightsTracker {
    pub(super) fn new(k: usize) -> Self {
        Self {
            last: vec![0.0; k],
            sum: vec![0.0; k],
            min: vec![f64::INFINITY; k],
            max: vec![f64::NEG_INFINITY; k],
            steps: 0,
        }
    }

    pub(super) fn push(&mut self, w: &[f64]) {
        for (k, &v) in w.iter().enumerate() {
            self.sum[k] += v;
            self.min[k] = self.min[k].min(v);
            self.max[k] = self.max[k].max(v);
        }
        self.last = w.to_vec();
        self.steps += 1;
    }

    pub(super) fn summary(&self) -> WeightsSummary {
        let n = self.steps.max(1) as f64;
        let or_zero = |v: &[f64]| {
            v.iter()
                .map(|x| if x.is_finite() { *x } else { 0.0 })
                .collect()
        };
        WeightsSummary {
            last: self.last.clone(),
            mean: self.sum.iter().map(|s| s / n).collect(),
            min: or_zero(&self.min),
            max: or_zero(&self.max),
        }
    }
}
