//! Configuration of one run: training settings, the canonical run configuration whose hash
//! is the cell id, and `key=value` parameters from the command line.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::ModelSpec;
use crate::optim::OptimizerKind;
use crate::selection::Objective;
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
    /// What checkpoint selection and weight searches minimise on validation: `loss`,
    /// `metric` (default) or `dm` (see [`crate::selection`]).
    pub selection: Objective,
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
            selection: Objective::default(),
        }
    }
}

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

    /// The record's `train` field: the configuration plus the selection rule in words.
    pub fn to_record_value(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("train config serialises");
        v["selection_rule"] = Value::String(self.selection.rule().into());
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

/// The message of a config error without its path (for re-wrapping under another path).
pub(crate) fn inner_message(e: Error) -> String {
    match e {
        Error::Config { path, message } if path.is_empty() => message,
        Error::Config { path, message } => format!("{path}: {message}"),
        other => other.to_string(),
    }
}
