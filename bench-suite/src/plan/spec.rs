//! The sweep file as written, parsed and checked into a [`SweepSpec`] as far as it can be
//! without its data; [`SweepSpec::open`] loads the datasets and makes the plan.

use std::collections::BTreeSet;
use std::path::PathBuf;

use mtl_datasets::Dataset;
use serde::Deserialize;
use serde_json::Value;

use super::grid::{describe_point, expand_grid};
use super::{PlanDataset, SweepPlan, MAX_WORKERS};
use crate::config::{inner_message, Named, TrainConfig};
use crate::model::ModelSpec;
use crate::{Error, Result};

/// A dataset or method entry of a sweep file: `name` plus its parameters.
#[derive(Debug, Clone, Deserialize)]
struct Entry {
    name: String,
    /// Models for this dataset only (dataset entries; replaces the top-level list).
    #[serde(default)]
    models: Option<Vec<String>>,
    #[serde(flatten)]
    params: toml::Table,
}

/// The sweep file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    seeds: Vec<u64>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    dataset: Option<Entry>,
    #[serde(default)]
    datasets: Vec<Entry>,
    #[serde(default)]
    train: TrainConfig,
    #[serde(default = "default_stl")]
    stl: bool,
    methods: Vec<Entry>,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    out: Option<PathBuf>,
    #[serde(default)]
    workers: Option<usize>,
    #[serde(default)]
    slurm: Option<crate::slurm::SlurmSettings>,
}

fn default_stl() -> bool {
    true
}

/// Where and how a sweep runs, as the file says; command-line flags override each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepSettings {
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: Option<String>,
    /// Results folder.
    pub out: Option<PathBuf>,
    /// Cells trained side by side.
    pub workers: Option<usize>,
    /// What each task of a Slurm job array asks for (`mtlbench slurm`).
    pub slurm: crate::slurm::SlurmSettings,
}

/// One method entry after grid expansion.
#[derive(Debug, Clone)]
pub(super) struct MethodEntry {
    /// Index of the `[[methods]]` entry it came from.
    index: usize,
    /// `key = value` of each grid axis, empty without a grid.
    grid_point: String,
    pub(super) named: Named,
}

/// A sweep file checked as far as it can be without its data: syntax, unknown fields, seeds,
/// models, training settings, method hyper-parameters (grids expanded), settings.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    origin: String,
    /// Whether the file used the single `[dataset]` table (else `[[datasets]]`).
    single_table: bool,
    /// Datasets with their parameters, file order.
    pub datasets: Vec<Named>,
    /// The models of each dataset (its own list, else the top-level one), file order.
    dataset_models: Vec<Vec<String>>,
    pub(super) methods: Vec<MethodEntry>,
    seeds: Vec<u64>,
    pub(super) train: TrainConfig,
    stl: bool,
    /// Device, results folder and worker count from the file.
    pub settings: SweepSettings,
}

/// Checks a model list at `field`: not empty, every name parses, none twice.
fn check_models(
    models: &[String],
    field: &str,
    at: &dyn Fn(String, String) -> Error,
) -> Result<()> {
    for (i, m) in models.iter().enumerate() {
        ModelSpec::parse(m).map_err(|e| at(format!("{field}[{i}]"), inner_message(e)))?;
        if models[..i].contains(m) {
            return Err(at(
                format!("{field}[{i}]"),
                format!("model `{m}` is listed twice"),
            ));
        }
    }
    Ok(())
}

pub(super) fn to_json(table: &toml::Table) -> Value {
    serde_json::to_value(table).expect("TOML values convert to JSON")
}

impl SweepSpec {
    /// Parses and checks a sweep file's text; `origin` names it in errors. Syntax errors
    /// carry line and column; every other error the field path.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
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
        check_models(&file.models, "models", &at)?;
        if file.methods.is_empty() {
            return Err(at(
                "methods".into(),
                "needs at least one [[methods]] entry".into(),
            ));
        }
        file.train.validate("train").map_err(|e| match e {
            Error::Config { path, message } => at(path, message),
            other => other,
        })?;
        if file.train.selection == crate::selection::Objective::Dm && !file.stl {
            return Err(at(
                "train.selection".into(),
                "`dm` selects on validation Δm against the single-task baselines; it needs \
                 `stl = true`"
                    .into(),
            ));
        }
        let (datasets, dataset_models) = Self::datasets(&file, &at)?;
        for model in dataset_models.iter().flatten() {
            file.train
                .validate_for("train", &ModelSpec::parse(model)?)
                .map_err(|e| at(String::new(), inner_message(e)))?;
        }
        let single_table = file.dataset.is_some();
        let mut methods: Vec<MethodEntry> = Vec::new();
        for (i, m) in file.methods.iter().enumerate() {
            let spec = mtl_methods::find(&m.name)
                .map_err(|e| at(format!("methods[{i}].name"), e.to_string()))?;
            if m.models.is_some() {
                return Err(at(
                    format!("methods[{i}].models"),
                    "models are chosen at the top level or per dataset, not per method".into(),
                ));
            }
            for (params, grid_point) in expand_grid(spec, &m.params)
                .map_err(|(field, message)| at(format!("methods[{i}]{field}"), message))?
            {
                let named = Named {
                    name: m.name.clone(),
                    params,
                };
                if let Some(earlier) = methods.iter().find(|e| e.named == named) {
                    return Err(at(
                        format!("methods[{i}]"),
                        format!(
                            "duplicate method entry `{}`{}: the same as methods[{}]",
                            m.name,
                            describe_point(&grid_point),
                            earlier.index
                        ),
                    ));
                }
                methods.push(MethodEntry {
                    index: i,
                    grid_point,
                    named,
                });
            }
        }
        if let Some(device) = &file.device {
            crate::stamp::check_device_name(device).map_err(|m| at("device".into(), m))?;
        }
        if let Some(w) = file.workers {
            if !(1..=MAX_WORKERS).contains(&w) {
                return Err(at(
                    "workers".into(),
                    format!("must be in 1..={MAX_WORKERS}, got {w}"),
                ));
            }
        }
        if let Some(slurm) = &file.slurm {
            slurm.validate(origin)?;
        }
        if file.out.as_ref().is_some_and(|o| o.as_os_str().is_empty()) {
            return Err(at(
                "out".into(),
                "must name a folder, got an empty path".into(),
            ));
        }
        Ok(Self {
            origin: origin.to_owned(),
            single_table,
            datasets,
            dataset_models,
            methods,
            seeds: file.seeds,
            train: file.train,
            stl: file.stl,
            settings: SweepSettings {
                device: file.device,
                out: file.out,
                workers: file.workers,
                slurm: file.slurm.unwrap_or_default(),
            },
        })
    }

    /// The `[dataset]` table or the `[[datasets]]` entries (one of the two), names checked.
    /// Each comes with its models: its own `models`, else the top-level list.
    fn datasets(
        file: &SweepFile,
        at: &dyn Fn(String, String) -> Error,
    ) -> Result<(Vec<Named>, Vec<Vec<String>>)> {
        let (entries, key): (Vec<&Entry>, &str) = match (&file.dataset, file.datasets.is_empty()) {
            (Some(_), false) => {
                return Err(at(
                    "datasets".into(),
                    "give either one [dataset] table or [[datasets]] entries, not both".into(),
                ))
            }
            (Some(d), true) => (vec![d], "dataset"),
            (None, false) => (file.datasets.iter().collect(), "datasets"),
            (None, true) => {
                return Err(at(
                    "datasets".into(),
                    "needs a dataset: a [dataset] table or [[datasets]] entries with a `name`"
                        .into(),
                ))
            }
        };
        let mut out: Vec<Named> = Vec::new();
        let mut models = Vec::new();
        for (i, d) in entries.into_iter().enumerate() {
            let path = if key == "dataset" {
                key.to_owned()
            } else {
                format!("{key}[{i}]")
            };
            mtl_datasets::find(&d.name).map_err(|e| at(format!("{path}.name"), e.to_string()))?;
            let named = Named {
                name: d.name.clone(),
                params: to_json(&d.params),
            };
            if out.contains(&named) {
                return Err(at(
                    path,
                    format!(
                        "dataset `{}` is listed twice with the same parameters",
                        d.name
                    ),
                ));
            }
            let own = d.models.as_ref().unwrap_or(&file.models);
            if own.is_empty() {
                let field = if d.models.is_some() {
                    format!("{path}.models")
                } else {
                    "models".into()
                };
                return Err(at(
                    field,
                    format!(
                        "needs at least one model, e.g. models = [\"mlp-m\"], at the top level or in the entry of dataset `{}`",
                        d.name
                    ),
                ));
            }
            if d.models.is_some() {
                check_models(own, &format!("{path}.models"), at)?;
            }
            out.push(named);
            models.push(own.clone());
        }
        Ok((out, models))
    }

    /// The field of dataset `i` in the file: `dataset` or `datasets[i]`.
    fn dataset_field(&self, i: usize) -> String {
        if self.single_table {
            "dataset".into()
        } else {
            format!("datasets[{i}]")
        }
    }

    /// Builds (generates or loads) dataset `i`. A parameter mistake is a configuration error
    /// naming the entry; data that cannot be loaded (say, an empty cache) keeps its own error.
    pub fn open_dataset(&self, i: usize) -> Result<Box<dyn Dataset>> {
        let named = &self.datasets[i];
        let spec = mtl_datasets::find(&named.name)?;
        spec.build(&named.params)
            .map_err(|e| self.dataset_error(i, e))
    }

    /// A parameter mistake of dataset `i` as a configuration error naming the entry; any
    /// other dataset error (missing or corrupt data) as itself.
    fn dataset_error(&self, i: usize, e: mtl_datasets::Error) -> Error {
        match e {
            mtl_datasets::Error::InvalidConfig { .. }
            | mtl_datasets::Error::UnknownDataset { .. } => Error::Config {
                path: format!("{}: {}", self.origin, self.dataset_field(i)),
                message: e.to_string(),
            },
            other => Error::Dataset(other),
        }
    }

    /// Checks every method against every dataset's task count and returns the plan.
    /// `datasets` are the opened datasets, file order.
    pub fn plan(self, datasets: &[&dyn Dataset]) -> Result<SweepPlan> {
        if datasets.len() != self.datasets.len() {
            return Err(Error::Internal(format!(
                "a plan of {} datasets given {} opened ones",
                self.datasets.len(),
                datasets.len()
            )));
        }
        let shapes = datasets
            .iter()
            .map(|ds| (ds.tasks().len(), Some(ds.input_shape())))
            .collect();
        self.plan_for(shapes)
    }

    /// The plan without opening the datasets (their task counts from the registry; the
    /// models' input shapes are not checked): enough to name every cell, for reading the
    /// records of a sweep on a machine without its data.
    pub fn plan_without_data(self) -> Result<SweepPlan> {
        let shapes = (0..self.datasets.len())
            .map(|i| {
                let named = &self.datasets[i];
                let count = mtl_datasets::find(&named.name)?.task_count(&named.params);
                count
                    .map(|k| (k, None))
                    .map_err(|e| self.dataset_error(i, e))
            })
            .collect::<Result<Vec<_>>>()?;
        self.plan_for(shapes)
    }

    /// The plan for datasets of these task counts and input shapes (`None`: not checked).
    fn plan_for(self, shapes: Vec<(usize, Option<Vec<usize>>)>) -> Result<SweepPlan> {
        let mut plan_datasets = Vec::new();
        for (i, (named, (num_tasks, input_shape))) in self.datasets.iter().zip(shapes).enumerate() {
            for m in &self.methods {
                let spec = mtl_methods::find(&m.named.name)?;
                spec.check(&m.named.params, num_tasks)
                    .map_err(|e| Error::Config {
                        path: format!("{}: methods[{}]", self.origin, m.index),
                        message: format!(
                            "{e}{} (with {} `{}`, {num_tasks} tasks)",
                            describe_point(&m.grid_point),
                            self.dataset_field(i),
                            named.name
                        ),
                    })?;
            }
            let models = self.dataset_models[i].clone();
            for m in &models {
                let model = ModelSpec::parse(m)?;
                if let Some(shape) = &input_shape {
                    model.check_input(shape).map_err(|e| Error::Config {
                        path: format!("{}: {}", self.origin, self.dataset_field(i)),
                        message: inner_message(e),
                    })?;
                }
            }
            plan_datasets.push(PlanDataset {
                named: named.clone(),
                num_tasks,
                models,
            });
        }
        let mut all_models: Vec<String> = Vec::new();
        for m in self.dataset_models.iter().flatten() {
            if !all_models.contains(m) {
                all_models.push(m.clone());
            }
        }
        Ok(SweepPlan {
            datasets: plan_datasets,
            models: all_models,
            methods: self.methods.into_iter().map(|m| m.named).collect(),
            seeds: self.seeds,
            train: self.train,
            stl: self.stl,
            settings: self.settings,
        })
    }

    /// Opens every dataset (file order, stopping at the first that fails) and checks the plan.
    pub fn open(self) -> Result<(SweepPlan, Vec<Box<dyn Dataset>>)> {
        let datasets = (0..self.datasets.len())
            .map(|i| self.open_dataset(i))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&dyn Dataset> = datasets.iter().map(|d| d.as_ref()).collect();
        let plan = self.plan(&refs)?;
        Ok((plan, datasets))
    }

    /// Lines describing the method entries and their grids, for `mtlbench check`.
    pub fn describe_methods(&self) -> Vec<String> {
        self.methods
            .iter()
            .map(|m| {
                format!(
                    "methods[{}] {}{}",
                    m.index,
                    m.named.name,
                    describe_point(&m.grid_point)
                )
            })
            .collect()
    }
}
