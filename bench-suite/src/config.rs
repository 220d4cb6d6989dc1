//! Configuration of one run: training settings, the canonical run configuration whose hash
//! is the cell id, and `key=value` parameters from the command line.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::dropout::Dropout;
use crate::model::ModelSpec;
use crate::selection::Objective;
use crate::{Error, Result};

/// Which optimiser to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with optional heavy-ball momentum and L2 weight decay.
    Sgd,
    /// Adam (Kingma & Ba, 2015) with L2 weight decay added to the gradient.
    Adam,
    /// AdamW (Loshchilov & Hutter, 2019): decoupled weight decay.
    Adamw,
}

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
    /// Step decay: the learning rate of (1-based) epoch e is lr · lr_decay^⌊e / lr_decay_every⌋
    /// ([`crate::optim::epoch_lr`]); in (0, 1], default 1 (constant).
    #[serde(skip_serializing_if = "is_one")]
    pub lr_decay: f64,
    /// Epochs between decays (0 = no schedule, the default).
    #[serde(skip_serializing_if = "is_zero")]
    pub lr_decay_every: usize,
    /// Dropout during training: `none` (default) or `sener-koltun` (`lenet` models).
    #[serde(skip_serializing_if = "Dropout::is_none")]
    pub dropout: Dropout,
    /// Weight-search members trained as one stacked model, up to this many at once (0 = off,
    /// the default: members train side by side on rayon's pool). Only `mlp` models without
    /// dropout or diagnostics stack; see [`crate::population`].
    #[serde(skip_serializing_if = "is_zero")]
    pub stack_members: usize,
}

/// The most members one stacked model holds ([`TrainConfig::stack_members`]).
pub const MAX_STACK: usize = 256;

// Fields added after records existed are left out of the canonical JSON at their defaults,
// so the cell ids (hashes of that JSON) of configurations without them do not change.
fn is_one(v: &f64) -> bool {
    *v == 1.0
}

fn is_zero(v: &usize) -> bool {
    *v == 0
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
            lr_decay: 1.0,
            lr_decay_every: 0,
            dropout: Dropout::None,
            stack_members: 0,
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
        if self.stack_members > MAX_STACK {
            return Err(bad(
                "stack_members",
                format!(
                    "must be in 0..={MAX_STACK} (0 = off), got {}",
                    self.stack_members
                ),
            ));
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return Err(bad(
                "lr_decay",
                format!("must be in (0, 1], got {}", self.lr_decay),
            ));
        }
        match (self.lr_decay < 1.0, self.lr_decay_every > 0) {
            (true, false) => {
                return Err(bad(
                    "lr_decay_every",
                    format!(
                        "must be ≥ 1 (epochs between decays) when lr_decay = {} is set, e.g. lr_decay_every = 10",
                        self.lr_decay
                    ),
                ))
            }
            (false, true) => {
                return Err(bad(
                    "lr_decay",
                    format!(
                        "must be < 1 when lr_decay_every = {} is set (a factor of 1 is no schedule), e.g. lr_decay = 0.85",
                        self.lr_decay_every
                    ),
                ))
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks the settings that depend on the model (`dropout`); errors name the field under
    /// `prefix`.
    pub fn validate_for(&self, prefix: &str, model: &ModelSpec) -> Result<()> {
        self.dropout
            .check_model(model)
            .map_err(|message| Error::Config {
                path: format!("{prefix}.dropout"),
                message,
            })?;
        if self.stack_members > 0 {
            let why = if model.arch != crate::model::Arch::Mlp {
                Some(format!("model `{}` is not an mlp", model.name))
            } else if self.diagnostics {
                Some("diagnostics = true measures per-task gradients".into())
            } else {
                None
            };
            if let Some(why) = why {
                return Err(Error::Config {
                    path: format!("{prefix}.stack_members"),
                    message: format!(
                        "only mlp models without dropout or diagnostics train stacked, but {why}; \
                         remove stack_members (members then train side by side)"
                    ),
                });
            }
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
        train.validate_for("train", &ModelSpec::parse(model)?)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_fields_stay_out_of_the_json_at_their_defaults() {
        let json = serde_json::to_value(TrainConfig::default()).unwrap();
        for field in ["lr_decay", "lr_decay_every", "dropout", "stack_members"] {
            assert!(json.get(field).is_none(), "{field} in {json}");
        }
        let sk = TrainConfig {
            lr_decay: 0.85,
            lr_decay_every: 10,
            dropout: Dropout::SenerKoltun,
            ..Default::default()
        };
        let json = serde_json::to_value(&sk).unwrap();
        assert_eq!(json["lr_decay"], 0.85);
        assert_eq!(json["lr_decay_every"], 10);
        assert_eq!(json["dropout"], "sener-koltun");
        let back: TrainConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, sk);
        sk.validate("train").unwrap();
    }

    #[test]
    fn schedule_and_dropout_errors_name_the_field() {
        let cases = [
            (
                serde_json::json!({"lr_decay": 0.0, "lr_decay_every": 10}),
                "train.lr_decay:",
            ),
            (
                serde_json::json!({"lr_decay": 1.5, "lr_decay_every": 10}),
                "train.lr_decay:",
            ),
            (
                serde_json::json!({"lr_decay": 0.85}),
                "train.lr_decay_every:",
            ),
            (serde_json::json!({"lr_decay_every": 10}), "train.lr_decay:"),
            (serde_json::json!({"dropout": "half"}), "dropout"),
        ];
        for (params, want) in cases {
            let err = TrainConfig::from_params(&params, "train")
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{params}: {err}");
        }
        let sk = TrainConfig {
            dropout: Dropout::SenerKoltun,
            ..Default::default()
        };
        let err = sk
            .validate_for("train", &ModelSpec::parse("mlp-m").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("train.dropout:") && err.contains("mlp-m"),
            "{err}"
        );
        sk.validate_for("train", &ModelSpec::parse("lenet-m").unwrap())
            .unwrap();
    }

    #[test]
    fn stacking_is_refused_where_it_cannot_run_and_says_what_to_do() {
        let err = TrainConfig::from_params(&serde_json::json!({"stack_members": 1000}), "train")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("train.stack_members:"), "{err}");
        let stacked = |diagnostics| TrainConfig {
            stack_members: 8,
            diagnostics,
            ..Default::default()
        };
        let model = |name| ModelSpec::parse(name).unwrap();
        for (config, name, why) in [
            (stacked(false), "lenet-s", "not an mlp"),
            (stacked(true), "mlp-s", "diagnostics"),
        ] {
            let err = config
                .validate_for("train", &model(name))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("train.stack_members:")
                    && err.contains(why)
                    && err.contains("remove stack_members"),
                "{err}"
            );
        }
        stacked(false)
            .validate_for("train", &model("mlp-s"))
            .unwrap();
    }
}
