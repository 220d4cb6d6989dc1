//! `synthetic-linear`: K linear regression tasks with a computable Pareto front.
//!
//! After Hu, Xian, Wu, Fan, Yin, Zhao (NeurIPS 2023, "Revisiting Scalarization in Multi-Task
//! Learning: A Theoretical Perspective", <https://arxiv.org/abs/2308.13985>): inputs
//! x ~ N(0, I_d), targets y_k = s_k ⟨θ_k, x⟩ + σ ε with ε ~ N(0, 1) and θ_k ~ N(0, I_d / d)
//! (so ‖θ_k‖ ≈ 1). With a two-layer linear model of shared width q and optimal heads the
//! population loss of task k is σ² + s_k²(‖θ_k‖² − θ_kᵀ P θ_k), P the projection on the
//! encoder's row space; q < K is the under-parametrised regime of the paper.
//!
//! Parameters (defaults): `tasks` K (4), `dim` d (16), `noise` σ (0.1), `train`/`val`/`test`
//! split sizes (2048/512/1024), `data_seed` (0; the data is fixed across run seeds),
//! `task_scales` s_k (all 1; e.g. `[1, 100]` makes task 2's loss 10⁴ times larger).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::loaded::SplitData;
use crate::tabular::{TabularData, TabularSplit};
use crate::{Batch, Dataset, Error, Result, Split, Targets, Task};

/// Version of the generator; changes whenever the same parameters would give other data.
pub const GENERATOR_VERSION: &str = "synthetic-linear-v1";

/// Parameters of `synthetic-linear`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticLinearConfig {
    /// Number of tasks K.
    pub tasks: usize,
    /// Input dimension d.
    pub dim: usize,
    /// Noise standard deviation σ.
    pub noise: f64,
    /// Training examples.
    pub train: usize,
    /// Validation examples.
    pub val: usize,
    /// Test examples.
    pub test: usize,
    /// Seed of the generator (task vectors and all splits).
    pub data_seed: u64,
    /// Per-task target scales s_k; empty means all 1.
    pub task_scales: Vec<f64>,
}

impl Default for SyntheticLinearConfig {
    fn default() -> Self {
        Self {
            tasks: 4,
            dim: 16,
            noise: 0.1,
            train: 2048,
            val: 512,
            test: 1024,
            data_seed: 0,
            task_scales: Vec::new(),
        }
    }
}

impl SyntheticLinearConfig {
    fn validate(&self) -> std::result::Result<(), String> {
        if !(1..=1024).contains(&self.tasks) {
            return Err(format!(
                "field `tasks` must be in 1..=1024, got {}",
                self.tasks
            ));
        }
        if !(1..=100_000).contains(&self.dim) {
            return Err(format!(
                "field `dim` must be in 1..=100000, got {}",
                self.dim
            ));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(format!(
                "field `noise` must be finite and ≥ 0, got {}",
                self.noise
            ));
        }
        for (name, n) in [
            ("train", self.train),
            ("val", self.val),
            ("test", self.test),
        ] {
            if n == 0 || n > 10_000_000 {
                return Err(format!("field `{name}` must be in 1..=10000000, got {n}"));
            }
        }
        let values = (self.train + self.val + self.test) as u128 * (self.dim + self.tasks) as u128;
        if values > 1 << 29 {
            return Err(format!(
                "(train + val + test) × (dim + tasks) = {values} values is more than this generator holds in memory (2^29); use fewer examples or a smaller `dim`"
            ));
        }
        if !self.task_scales.is_empty() && self.task_scales.len() != self.tasks {
            return Err(format!(
                "field `task_scales` has {} entries but `tasks` is {}",
                self.task_scales.len(),
                self.tasks
            ));
        }
        if self
            .task_scales
            .iter()
            .any(|s| !(s.is_finite() && *s > 0.0))
        {
            return Err(format!(
                "field `task_scales` must be finite and > 0, got {:?}",
                self.task_scales
            ));
        }
        Ok(())
    }

    fn scale(&self, k: usize) -> f64 {
        self.task_scales.get(k).copied().unwrap_or(1.0)
    }
}

/// The generated dataset.
#[derive(Debug, Clone)]
pub struct SyntheticLinear {
    config: SyntheticLinearConfig,
    tasks: Vec<Task>,
    theta: Vec<Vec<f64>>,
    data: TabularData,
}

impl SyntheticLinear {
    /// Parameter docs for `mtlbench list`.
    pub const PARAMS: &'static [(&'static str, &'static str)] = &[
        ("tasks", "number of tasks K (4)"),
        ("dim", "input dimension d (16)"),
        ("noise", "target noise σ (0.1)"),
        ("train", "training examples (2048)"),
        ("val", "validation examples (512)"),
        ("test", "test examples (1024)"),
        ("data_seed", "generator seed, fixed across run seeds (0)"),
        ("task_scales", "per-task target scales s_k (all 1)"),
    ];

    /// Generates the dataset.
    pub fn new(config: SyntheticLinearConfig) -> Result<Self> {
        config.validate().map_err(|message| Error::InvalidConfig {
            dataset: "synthetic-linear".into(),
            message,
        })?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.data_seed);
        let d = config.dim;
        let theta: Vec<Vec<f64>> = (0..config.tasks)
            .map(|_| {
                (0..d)
                    .map(|_| rng.sample::<f64, _>(StandardNormal) / (d as f64).sqrt())
                    .collect()
            })
            .collect();
        let mut split = |rows: usize| {
            let x: Vec<f64> = (0..rows * d).map(|_| rng.sample(StandardNormal)).collect();
            let targets = theta
                .iter()
                .enumerate()
                .map(|(k, th)| {
                    let s = config.scale(k);
                    let y = (0..rows)
                        .map(|r| {
                            let dot: f64 = x[r * d..(r + 1) * d]
                                .iter()
                                .zip(th)
                                .map(|(a, b)| a * b)
                                .sum();
                            let eps: f64 = rng.sample(StandardNormal);
                            (s * dot + config.noise * eps) as f32
                        })
                        .collect();
                    Targets::Real(y)
                })
                .collect();
            TabularSplit {
                x: x.into_iter().map(|v| v as f32).collect(),
                dim: d,
                targets,
            }
        };
        let splits = [split(config.train), split(config.val), split(config.test)];
        let tasks = (0..config.tasks)
            .map(|k| Task::regression(format!("y{}", k + 1)))
            .collect();
        Ok(Self {
            config,
            tasks,
            theta,
            data: TabularData { splits },
        })
    }

    /// Builds from JSON parameters (null = defaults).
    pub fn from_params(params: &Value) -> Result<Box<dyn Dataset>> {
        let value = match params {
            Value::Null => Value::Object(Default::default()),
            v => v.clone(),
        };
        let config: SyntheticLinearConfig =
            serde_path_to_error::deserialize(value).map_err(|e| Error::InvalidConfig {
                dataset: "synthetic-linear".into(),
                message: e.to_string(),
            })?;
        Ok(Box::new(Self::new(config)?))
    }

    /// The generator's parameters.
    pub fn config(&self) -> &SyntheticLinearConfig {
        &self.config
    }

    /// The true task vectors θ_k (before scaling by s_k).
    pub fn theta(&self) -> &[Vec<f64>] {
        &self.theta
    }
}

impl Dataset for SyntheticLinear {
    fn id(&self) -> String {
        let c = &self.config;
        let mut id = format!(
            "synthetic-linear/k{}-d{}-noise{}-n{}-{}-{}-s{}",
            c.tasks, c.dim, c.noise, c.train, c.val, c.test, c.data_seed
        );
        if !c.task_scales.is_empty() {
            let scales: Vec<String> = c.task_scales.iter().map(|s| s.to_string()).collect();
            id.push_str(&format!("-scales{}", scales.join("_")));
        }
        id
    }

    fn revision(&self) -> String {
        GENERATOR_VERSION.into()
    }

    fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    fn input_dim(&self) -> usize {
        self.config.dim
    }

    fn split_len(&self, split: Split) -> usize {
        self.data.split(split).rows()
    }

    fn batches(&self, split: Split, batch_size: usize, epoch: usize, seed: u64) -> Vec<Batch> {
        self.data.batches(split, batch_size, epoch, seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SyntheticLinearConfig {
        SyntheticLinearConfig {
            tasks: 3,
            dim: 5,
            noise: 0.0,
            train: 50,
            val: 10,
            test: 10,
            ..Default::default()
        }
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let a = SyntheticLinear::new(small()).unwrap();
        let b = SyntheticLinear::new(small()).unwrap();
        assert_eq!(a.data, b.data);
        let c = SyntheticLinear::new(SyntheticLinearConfig {
            data_seed: 1,
            ..small()
        })
        .unwrap();
        assert_ne!(a.data, c.data);
    }

    #[test]
    fn noiseless_targets_are_linear_in_inputs() {
        let ds = SyntheticLinear::new(SyntheticLinearConfig {
            task_scales: vec![1.0, 2.0, 100.0],
            ..small()
        })
        .unwrap();
        let s = ds.data.split(Split::Test);
        for (k, t) in s.targets.iter().enumerate() {
            let Targets::Real(y) = t else {
                panic!("regression targets")
            };
            for (row, &got) in s.x.chunks(5).zip(y) {
                let dot: f64 = row
                    .iter()
                    .zip(&ds.theta[k])
                    .map(|(&x, t)| x as f64 * t)
                    .sum();
                let want = ds.config.scale(k) * dot;
                assert!((got as f64 - want).abs() < 1e-3 * want.abs().max(1.0));
            }
        }
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let err = SyntheticLinear::from_params(&serde_json::json!({"taks": 3}))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("taks"), "{err}");
        let err =
            SyntheticLinear::from_params(&serde_json::json!({"tasks": 2, "task_scales": [1.0]}))
                .err()
                .unwrap()
                .to_string();
        assert!(err.contains("task_scales"), "{err}");
        let err =
            SyntheticLinear::from_params(&serde_json::json!({"dim": 100000, "train": 10000000}))
                .err()
                .unwrap()
                .to_string();
        assert!(err.contains("in memory"), "{err}");
    }
}
