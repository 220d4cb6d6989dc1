//! Configuration: training settings, one run, and a sweep file; parsed, then validated
//! into a [`SweepPlan`] before any data is generated or any training starts.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::ModelSpec;
use crate::optim::OptimizerKind;
use crate::{Error, Result};

/// Training settings shared by every cell of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Passes over the training split.
    pub epochs: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// `sgd`, `adam` or `adamw`.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// Weight decay (L2 for sgd/adam, decoupled for adamw).
    pub weight_decay: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Adam β₁.
    pub beta1: f64,
    /// Adam β₂.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
    /// Log gradient diagnostics (norms, cosine, GMS, condition number, conflict rate) on the
    /// first batch of every epoch: K extra backward passes per epoch.
    pub diagnostics: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 64,
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            weight_decay: 0.0,
            momentum: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            diagnostics: false,
        }
    }
}

/// The rule that picks the checkpoint whose test metrics are reported.
pub const SELECTION_RULE: &str =
    "min over epochs 0..=E of the mean over scored tasks (all; stl: its own) \
     of val_loss_k / val_loss_k(epoch 0)";

impl TrainConfig {
    /// Checks ranges; errors name the field under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |field: &str, message: String| Error::Config {
            path: format!("{prefix}.{field}"),
            message,
        };
        if !(1..=1_000_000).contains(&self.epochs) {
            return Err(bad(
                "epochs",
                format!("must be in 1..=1000000, got {}", self.epochs),
            ));
        }
        if !(1..=1_000_000).contains(&self.batch_size) {
            return Err(bad(
                "batch_size",
                format!("must be in 1..=1000000, got {}", self.batch_size),
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(bad(
                "lr",
                format!("must be finite and > 0, got {}", self.lr),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(bad(
                "weight_decay",
                format!("must be finite and ≥ 0, got {}", self.weight_decay),
            ));
        }
        for (field, v) in [
            ("momentum", self.momentum),
            ("beta1", self.beta1),
            ("beta2", self.beta2),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(bad(field, format!("must be in [0, 1), got {v}")));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(bad(
                "eps",
                format!("must be finite and > 0, got {}", self.eps),
            ));
        }
        Ok(())
    }

    /// Training settings from a JSON object of overrides (null = defaults).
    pub fn from_params(params: &Value, origin: &str) -> Result<Self> {
        let config: Self =
            serde_path_to_error::deserialize(params.clone()).map_err(|e| Error::Config {
                path: origin.to_owned(),
                message: e.to_string(),
            })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// The record's `train` field: the configuration plus the selection rule.
    pub fn to_record_value(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("train config serialises");
        v["selection"] = Value::String(SELECTION_RULE.into());
        v
    }
}

/// A registry name with its canonical parameters (defaults filled in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Named {
    /// Registry name.
    pub name: String,
    /// Canonical parameters.
    pub params: Value,
}

/// Everything that defines one run; its hash is the cell id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Dataset with its canonical parameters.
    pub dataset: Named,
    /// Model name, e.g. `mlp-m`.
    pub model: String,
    /// Method with its canonical hyper-parameters.
    pub method: Named,
    /// Training settings.
    pub train: TrainConfig,
    /// Seed of model init and data order.
    pub seed: u64,
}

impl RunConfig {
    /// Hash of the canonical JSON of this configuration (first 16 hex digits of SHA-256).
    pub fn cell_id(&self) -> String {
        let json = serde_json::to_string(self).expect("run config serialises");
        let digest = Sha256::digest(json.as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// Parses `key=value` pairs into a JSON object; values are read as JSON where they parse
/// (`3`, `0.5`, `[0.3, 0.7]`, `true`) and as strings otherwise (`l2`). `flag` names the
/// command-line flag in errors.
pub fn params_from_pairs(pairs: &[String], flag: &str) -> Result<Value> {
    let mut map = serde_json::Map::new();
    for pair in pairs {
        let (key, value) = pair.split_once('=').ok_or_else(|| Error::Config {
            path: flag.to_owned(),
            message: format!("expected key=value, got `{pair}`"),
        })?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        map.insert(key.trim().to_owned(), value);
    }
    Ok(Value::Object(map))
}

impl RunConfig {
    /// Validates the parts of a single run (as `mtlbench run` gets them) into a run config
    /// with canonical method parameters.
    pub fn validated(
        dataset: Named,
        model: &str,
        method: &str,
        method_params: &Value,
        train: TrainConfig,
        seed: u64,
    ) -> Result<Self> {
        train.validate("train")?;
        ModelSpec::parse(model)?;
        let ds = mtl_datasets::find(&dataset.name)?.build(&dataset.params)?;
        let spec = mtl_methods::find(method)?;
        let params = spec.canonical_config(method_params)?;
        spec.check(&params, ds.tasks().len())?;
        Ok(Self {
            dataset,
            model: model.to_owned(),
            method: Named {
                name: method.to_owned(),
                params,
            },
            train,
            seed,
        })
    }
}

/// A method entry of a sweep file: `name` plus its hyper-parameters.
#[derive(Debug, Clone, Deserialize)]
struct Entry {
    name: String,
    #[serde(flatten)]
    params: toml::Table,
}

/// The sweep file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    seeds: Vec<u64>,
    models: Vec<String>,
    dataset: Entry,
    #[serde(default)]
    train: TrainConfig,
    #[serde(default = "default_stl")]
    stl: bool,
    methods: Vec<Entry>,
}

fn default_stl() -> bool {
    true
}

/// A validated sweep: datasets × methods × models × seeds.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// The dataset (shared by every cell).
    pub dataset: Named,
    /// Model names, ladder order as given.
    pub models: Vec<String>,
    /// Methods with canonical hyper-parameters.
    pub methods: Vec<Named>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Training settings.
    pub train: TrainConfig,
    /// Whether single-task baselines (`stl`, one per task, model and seed) run too.
    pub stl: bool,
    /// Number of tasks of the dataset.
    pub num_tasks: usize,
}

/// The embedded default sweep (`mtlbench sweep` with no file).
pub const DEFAULT_SWEEP: &str = include_str!("default_sweep.toml");

fn to_json(table: &toml::Table) -> Value {
    serde_json::to_value(table).expect("TOML values convert to JSON")
}

impl SweepPlan {
    /// Parses and validates a sweep file's text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let file: SweepFile = toml::from_str(text).map_err(|e| Error::Config {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let at = |path: String, message: String| Error::Config {
            path: format!("{origin}: {path}"),
            message,
        };
        if file.seeds.is_empty() {
            return Err(at(
                "seeds".into(),
                "needs at least one seed, e.g. seeds = [0, 1]".into(),
            ));
        }
        if file.seeds.iter().collect::<BTreeSet<_>>().len() != file.seeds.len() {
            return Err(at(
                "seeds".into(),
                format!("seeds must be distinct, got {:?}", file.seeds),
            ));
        }
        if file.models.is_empty() {
            return Err(at(
                "models".into(),
                "needs at least one model, e.g. models = [\"mlp-m\"]".into(),
            ));
        }
        for (i, m) in file.models.iter().enumerate() {
            ModelSpec::parse(m).map_err(|e| at(format!("models[{i}]"), inner_message(e)))?;
        }
        if file.methods.is_empty() {
            return Err(at(
                "methods".into(),
                "needs at least one [[methods]] entry".into(),
            ));
        }
        file.train
            .validate("train")
            .map_err(|e| at(String::new(), inner_message(e)))?;
        let dataset_spec = mtl_datasets::find(&file.dataset.name)
            .map_err(|e| at("dataset.name".into(), e.to_string()))?;
        let dataset = Named {
            name: file.dataset.name.clone(),
            params: to_json(&file.dataset.params),
        };
        let ds = dataset_spec
            .build(&dataset.params)
            .map_err(|e| at("dataset".into(), e.to_string()))?;
        let num_tasks = ds.tasks().len();
        let mut methods = Vec::new();
        for (i, m) in file.methods.iter().enumerate() {
            let spec = mtl_methods::find(&m.name)
                .map_err(|e| at(format!("methods[{i}].name"), e.to_string()))?;
            let params = spec
                .canonical_config(&to_json(&m.params))
                .map_err(|e| at(format!("methods[{i}]"), e.to_string()))?;
            spec.check(&params, num_tasks)
                .map_err(|e| at(format!("methods[{i}]"), e.to_string()))?;
            let named = Named {
                name: m.name.clone(),
                params,
            };
            if methods.contains(&named) {
                return Err(at(
                    format!("methods[{i}]"),
                    format!("duplicate method entry `{}`", m.name),
                ));
            }
            methods.push(named);
        }
        Ok(Self {
            dataset,
            models: file.models,
            methods,
            seeds: file.seeds,
            train: file.train,
            stl: file.stl,
            num_tasks,
        })
    }

    /// Hash of every cell id: the same plan always gets the same id.
    pub fn id(&self) -> String {
        let ids: Vec<String> = self.cells().iter().map(RunConfig::cell_id).collect();
        let digest = Sha256::digest(ids.join(",").as_bytes());
        digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
    }

    /// The single-task baselines, one `stl` entry per task (empty when `stl = false`).
    pub fn stl_methods(&self) -> Vec<Named> {
        if !self.stl {
            return Vec::new();
        }
        (0..self.num_tasks)
            .map(|task| {
                let spec = mtl_methods::find("stl").expect("stl is registered");
                Named {
                    name: "stl".into(),
                    params: spec
                        .canonical_config(&serde_json::json!({ "task": task }))
                        .expect("stl task indices are valid"),
                }
            })
            .collect()
    }

    /// Cell ids of the single-task baselines of `run` (same model, seed, training), task
    /// order; empty when baselines are off or `run` is one itself.
    pub fn stl_cells(&self, run: &RunConfig) -> Vec<String> {
        if run.method.name == "stl" {
            return Vec::new();
        }
        self.stl_methods()
            .into_iter()
            .map(|method| {
                RunConfig {
                    method,
                    ..run.clone()
                }
                .cell_id()
            })
            .collect()
    }

    /// Every cell: the single-task baselines first, then method × model × seed.
    pub fn cells(&self) -> Vec<RunConfig> {
        let mut cells = Vec::new();
        let baselines = self.stl_methods();
        let listed = self.methods.iter().filter(|m| !baselines.contains(m));
        for method in baselines.iter().chain(listed) {
            for model in &self.models {
                for &seed in &self.seeds {
                    cells.push(RunConfig {
                        dataset: self.dataset.clone(),
                        model: model.clone(),
                        method: method.clone(),
                        train: self.train.clone(),
                        seed,
                    });
                }
            }
        }
        cells
    }
}

/// The message of a config error without its path (for re-wrapping under another path).
fn inner_message(e: Error) -> String {
    match e {
        Error::Config { path, message } if path.is_empty() => message,
        Error::Config { path, message } => format!("{path}: {message}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sweep_is_valid() {
        let plan = SweepPlan::from_toml(DEFAULT_SWEEP, "default").unwrap();
        assert!(plan.seeds.len() >= 2);
        assert!(plan.models.len() >= 3);
        let names: Vec<_> = plan.methods.iter().map(|m| m.name.as_str()).collect();
        for m in ["uniform", "mgda", "mgda-ub"] {
            assert!(names.contains(&m), "{names:?}");
        }
    }

    #[test]
    fn the_readme_sweep_example_is_valid() {
        let readme = include_str!("../../README.md");
        let start =
            readme.find("```toml\n").expect("README has a TOML example") + "```toml\n".len();
        let end = start + readme[start..].find("```").expect("closed code block");
        let plan = SweepPlan::from_toml(&readme[start..end], "README.md").unwrap();
        assert!(plan.stl && plan.train.diagnostics);
        assert_eq!(plan.methods.len(), 5);
    }

    #[test]
    fn cell_ids_are_stable_and_distinct() {
        let plan = SweepPlan::from_toml(DEFAULT_SWEEP, "default").unwrap();
        let ids: BTreeSet<String> = plan.cells().iter().map(|c| c.cell_id()).collect();
        assert_eq!(ids.len(), plan.cells().len());
        assert_eq!(plan.cells()[0].cell_id(), plan.cells()[0].clone().cell_id());
    }

    #[test]
    fn errors_name_the_field() {
        let base = "seeds = [0]\nmodels = [\"mlp-s\"]\n[dataset]\nname = \"synthetic-linear\"\n";
        let cases = [
            (
                format!("{base}[[methods]]\nname = \"mgda\"\nnormalisation = \"l2\""),
                "methods[0]",
            ),
            (
                format!("{base}[[methods]]\nname = \"nope\""),
                "methods[0].name",
            ),
            (
                format!("{base}[train]\nlr = -1.0\n[[methods]]\nname = \"uniform\""),
                "train.lr",
            ),
            (
                format!("{base}[[methods]]\nname = \"fixed\"\nweights = [0.5, 0.5]"),
                "methods[0]",
            ),
            (
                format!("{base}epochs = 3\n[[methods]]\nname = \"uniform\""),
                "epochs",
            ),
        ];
        for (text, want) in cases {
            let err = SweepPlan::from_toml(&text, "t.toml").unwrap_err();
            assert!(err.is_config());
            assert!(err.to_string().contains(want), "{want}: {err}");
        }
    }
}
