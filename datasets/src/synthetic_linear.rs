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
//! `task_scales` s_k (all 1; e.g. `[1, 100]` makes task 2's loss 10⁴ times larger),
//! `thetas` (K rows of d numbers: explicit task vectors θ_k used instead of the random ones;
//! the inputs and the noise stay those of `data_seed`, and the dataset id gains a short hash of
//! the vectors so runs on different vectors never pool).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

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
    /// Explicit task vectors θ_k (`tasks` rows of `dim` numbers); empty means random ones.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thetas: Vec<Vec<f64>>,
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
            thetas: Vec::new(),
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
        self.validate_thetas()
    }

    fn validate_thetas(&self) -> std::result::Result<(), String> {
        if self.thetas.is_empty() {
            return Ok(());
        }
        if self.thetas.len() != self.tasks {
            return Err(format!(
                "field `thetas` has {} rows but `tasks` is {}; give one task vector per task",
                self.thetas.len(),
                self.tasks
            ));
        }
        for (k, row) in self.thetas.iter().enumerate() {
            if row.len() != self.dim {
                return Err(format!(
                    "field `thetas` row {} has {} numbers but `dim` is {}",
                    k + 1,
                    row.len(),
                    self.dim
                ));
            }
            if let Some(v) = row.iter().find(|v| !v.is_finite()) {
                return Err(format!(
                    "field `thetas` row {} holds {v}; every entry must be finite",
                    k + 1
                ));
            }
        }
        Ok(())
    }

    /// First 8 hex digits of SHA-256 over the task vectors' f64 bits (little-endian, row by
    /// row): the id tag of explicit `thetas`.
    fn thetas_hash(&self) -> String {
        let mut h = Sha256::new();
        for v in self.thetas.iter().flatten() {
            // + 0.0 maps −0.0 to 0.0: equal vectors get equal ids.
            h.update((v + 0.0).to_bits().to_le_bytes());
        }
        h.finalize()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
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
        (
            "thetas",
            "explicit task vectors θ_k, `tasks` rows of `dim` numbers (random)",
        ),
    ];

    /// Generates the dataset.
    pub fn new(config: SyntheticLinearConfig) -> Result<Self> {
        config.validate().map_err(|message| Error::InvalidConfig {
            dataset: "synthetic-linear".into(),
            message,
        })?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.data_seed);
        let d = config.dim;
        // The random vectors are drawn even when explicit ones replace them, so the inputs
        // and the noise of a seed do not depend on `thetas`.
        let random: Vec<Vec<f64>> = (0..config.tasks)
            .map(|_| {
                (0..d)
                    .map(|_| rng.sample::<f64, _>(StandardNormal) / (d as f64).sqrt())
                    .collect()
            })
            .collect();
        let theta = if config.thetas.is_empty() {
            random
        } else {
            config.thetas.clone()
        };
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

    /// The scaled task vectors s_k θ_k: task k's target is ⟨s_k θ_k, x⟩ + σ ε, so with
    /// optimal heads its population MSE (the trainer's loss: mean squared error, no ½) is
    /// σ² + ‖s_k θ_k‖² − (s_k θ_k)ᵀ P (s_k θ_k) for P the projection on the encoder's row space.
    pub fn scaled_task_vectors(&self) -> Vec<Vec<f64>> {
        self.theta
            .iter()
            .enumerate()
            .map(|(k, th)| th.iter().map(|v| self.config.scale(k) * v).collect())
            .collect()
    }

    /// The noise standard deviation σ.
    pub fn noise(&self) -> f64 {
        self.config.noise
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
        if !c.thetas.is_empty() {
            id.push_str(&format!("-thetas{}", c.thetas_hash()));
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

    fn explicit() -> SyntheticLinearConfig {
        SyntheticLinearConfig {
            thetas: vec![
                vec![1.0, 0.0, 0.0, 0.0, 0.0],
                vec![0.5, 0.5, 0.0, 0.0, -0.0],
                vec![0.0, 0.0, 2.0, 0.0, 1.0],
            ],
            task_scales: vec![1.0, 3.0, 0.5],
            ..small()
        }
    }

    #[test]
    fn explicit_thetas_replace_the_random_vectors_and_keep_inputs() {
        let random = SyntheticLinear::new(small()).unwrap();
        let ds = SyntheticLinear::new(explicit()).unwrap();
        assert_eq!(ds.theta(), explicit().thetas.as_slice());
        let want: Vec<Vec<f64>> = vec![
            vec![1.0, 0.0, 0.0, 0.0, 0.0],
            vec![1.5, 1.5, 0.0, 0.0, 0.0],
            vec![0.0, 0.0, 1.0, 0.0, 0.5],
        ];
        assert_eq!(ds.scaled_task_vectors(), want);
        assert_eq!(ds.noise(), 0.0);
        for split in [Split::Train, Split::Val, Split::Test] {
            let (a, b) = (random.data.split(split), ds.data.split(split));
            assert_eq!(a.x, b.x, "inputs depend only on data_seed");
            let Targets::Real(y) = &b.targets[1] else {
                panic!("regression targets")
            };
            for (row, &got) in b.x.chunks(5).zip(y) {
                let want = 1.5 * (row[0] + row[1]) as f64;
                assert!((got as f64 - want).abs() < 1e-5 * want.abs().max(1.0));
            }
        }
    }

    #[test]
    fn explicit_thetas_change_the_id_and_only_then() {
        let id = |c: SyntheticLinearConfig| SyntheticLinear::new(c).unwrap().id();
        let base = id(small());
        assert_eq!(base, "synthetic-linear/k3-d5-noise0-n50-10-10-s0");
        let a = id(explicit());
        assert!(
            a.starts_with(&format!("{base}-scales1_3_0.5-thetas")),
            "{a}"
        );
        assert_eq!(a.len(), base.len() + "-scales1_3_0.5-thetas".len() + 8);
        assert_eq!(a, id(explicit()));
        let mut other = explicit();
        other.thetas[2][4] = 1.0 + 1e-12;
        assert_ne!(a, id(other));
        let mut signed_zero = explicit();
        signed_zero.thetas[1][4] = 0.0;
        assert_eq!(a, id(signed_zero), "−0.0 and 0.0 are the same vector");
    }

    #[test]
    fn bad_thetas_name_the_field() {
        let err = |thetas: serde_json::Value| {
            SyntheticLinear::from_params(
                &serde_json::json!({"tasks": 2, "dim": 2, "thetas": thetas}),
            )
            .err()
            .unwrap()
            .to_string()
        };
        let e = err(serde_json::json!([[1, 0]]));
        assert!(e.contains("`thetas` has 1 rows but `tasks` is 2"), "{e}");
        let e = err(serde_json::json!([[1, 0], [0, 1, 0]]));
        assert!(
            e.contains("`thetas` row 2 has 3 numbers but `dim` is 2"),
            "{e}"
        );
        let e = err(serde_json::json!([[1, 0], [0, "x"]]));
        assert!(e.contains("thetas"), "{e}");
        let mut c = explicit();
        c.thetas[0][2] = f64::NAN;
        let e = SyntheticLinear::new(c).err().unwrap().to_string();
        assert!(e.contains("`thetas` row 1 holds NaN"), "{e}");
        assert!(SyntheticLinear::from_params(
            &serde_json::json!({"tasks": 2, "dim": 2, "thetas": [[1, 0], [0.5, -2]]})
        )
        .is_ok());
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
