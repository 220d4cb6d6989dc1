//! A sweep file — datasets × methods (with hyper-parameter grids) × model sizes × seeds —
//! parsed into a [`SweepSpec`] (everything checked that can be without data), then opened into
//! a [`SweepPlan`] once its datasets are loaded. Both happen before any training starts and
//! before anything is written.

use std::collections::BTreeSet;
use std::path::PathBuf;

use mtl_datasets::Dataset;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::{inner_message, Named, RunConfig, TrainConfig};
use crate::model::ModelSpec;
use crate::{Error, Result};

/// The embedded default sweep (`mtlbench sweep` with no file).
pub const DEFAULT_SWEEP: &str = include_str!("default_sweep.toml");

/// Most cells a sweep may run side by side.
pub const MAX_WORKERS: usize = 64;

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
}

/// One method entry after grid expansion.
#[derive(Debug, Clone)]
struct MethodEntry {
    /// Index of the `[[methods]]` entry it came from.
    index: usize,
    /// `key = value` of each grid axis, empty without a grid.
    grid_point: String,
    named: Named,
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
    methods: Vec<MethodEntry>,
    seeds: Vec<u64>,
    train: TrainConfig,
    stl: bool,
    /// Device, results folder and worker count from the file.
    pub settings: SweepSettings,
}

/// A dataset of a plan with its task count.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanDataset {
    /// Name and canonical parameters.
    pub named: Named,
    /// Number of tasks.
    pub num_tasks: usize,
    /// Models trained on it, ladder order as given.
    pub models: Vec<String>,
}

/// A validated sweep: datasets × methods × models × seeds, every dataset opened.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// The datasets, file order.
    pub datasets: Vec<PlanDataset>,
    /// Every model of the plan (each dataset's list, first-seen order).
    pub models: Vec<String>,
    /// Methods with canonical hyper-parameters, grids expanded.
    pub methods: Vec<Named>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Training settings.
    pub train: TrainConfig,
    /// Whether single-task baselines (`stl`, one per task, model and seed) run too.
    pub stl: bool,
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

fn to_json(table: &toml::Table) -> Value {
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
        file.train
            .validate("train")
            .map_err(|e| at(String::new(), inner_message(e)))?;
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
        // Loading errors (missing or corrupt data) are not configuration errors; the arm for
        // them is unreachable only while every registered dataset is generated.
        #[allow(unreachable_patterns)]
        spec.build(&named.params).map_err(|e| match e {
            mtl_datasets::Error::InvalidConfig { .. }
            | mtl_datasets::Error::UnknownDataset { .. } => Error::Config {
                path: format!("{}: {}", self.origin, self.dataset_field(i)),
                message: e.to_string(),
            },
            other => Error::Dataset(other),
        })
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
        let mut plan_datasets = Vec::new();
        for (i, (named, ds)) in self.datasets.iter().zip(datasets).enumerate() {
            let num_tasks = ds.tasks().len();
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
                ModelSpec::parse(m)?
                    .check_input(&ds.input_shape())
                    .map_err(|e| Error::Config {
                        path: format!("{}: {}", self.origin, self.dataset_field(i)),
                        message: inner_message(e),
                    })?;
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

fn describe_point(point: &str) -> String {
    if point.is_empty() {
        String::new()
    } else {
        format!(" at grid point {point}")
    }
}

/// Expands a method entry's hyper-parameter grid: a list value whose elements are valid values
/// of that parameter (while the list itself is not, as `weights = [0.5, 0.5]` is) is an axis,
/// and every combination of the axes' values is one entry. Returns the canonical parameters
/// and a description of each grid point; errors carry a field suffix and a message.
fn expand_grid(
    spec: &mtl_methods::MethodSpec,
    params: &toml::Table,
) -> std::result::Result<Vec<(Value, String)>, (String, String)> {
    let Value::Object(base) = to_json(params) else {
        unreachable!("a TOML table converts to a JSON object")
    };
    let alone = |key: &str, v: &Value| {
        let mut one = Map::new();
        one.insert(key.to_owned(), v.clone());
        spec.canonical_config(&Value::Object(one)).is_ok()
    };
    let mut axes: Vec<(String, Vec<Value>)> = Vec::new();
    for (key, value) in &base {
        if let Value::Array(items) = value {
            if items.is_empty() {
                return Err((
                    format!(".{key}"),
                    "an empty list: give a value, or a list of values to sweep over".into(),
                ));
            }
            if !alone(key, value) && items.iter().any(|item| alone(key, item)) {
                axes.push((key.clone(), items.clone()));
            }
        }
    }
    let mut points: Vec<Map<String, Value>> = vec![base];
    for (key, items) in &axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                items.iter().map(move |item| {
                    let mut q = p.clone();
                    q.insert(key.clone(), item.clone());
                    q
                })
            })
            .collect();
    }
    points
        .into_iter()
        .map(|p| {
            let point = axes
                .iter()
                .map(|(key, _)| format!("{key} = {}", p[key]))
                .collect::<Vec<_>>()
                .join(", ");
            spec.canonical_config(&Value::Object(p))
                .map(|c| (c, point.clone()))
                .map_err(|e| (String::new(), format!("{e}{}", describe_point(&point))))
        })
        .collect()
}

impl SweepPlan {
    /// Parses a sweep file, opens its datasets and validates everything.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        Ok(SweepSpec::parse(text, origin)?.open()?.0)
    }

    /// Hash of every cell id: the same plan always gets the same id.
    pub fn id(&self) -> String {
        let ids: Vec<String> = self.cells().iter().map(RunConfig::cell_id).collect();
        let digest = Sha256::digest(ids.join(",").as_bytes());
        digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
    }

    /// Index (in [`SweepPlan::datasets`]) of the dataset `run` trains on.
    pub fn dataset_index(&self, run: &RunConfig) -> Option<usize> {
        self.datasets.iter().position(|d| d.named == run.dataset)
    }

    /// The single-task baselines for a dataset of `num_tasks` tasks, one `stl` entry per task
    /// (empty when `stl = false`).
    pub fn stl_methods(&self, num_tasks: usize) -> Vec<Named> {
        if !self.stl {
            return Vec::new();
        }
        (0..num_tasks)
            .map(|task| {
                let (name, params) =
                    mtl_methods::single_task_baseline(task).expect("a baseline is registered");
                Named {
                    name: name.into(),
                    params,
                }
            })
            .collect()
    }

    /// Cell ids of the single-task baselines of `run` (same dataset, model, seed, training),
    /// task order; empty when baselines are off or `run` is one itself.
    pub fn stl_cells(&self, run: &RunConfig) -> Vec<String> {
        if mtl_methods::is_single_task_baseline(&run.method.name) {
            return Vec::new();
        }
        let Some(i) = self.dataset_index(run) else {
            return Vec::new();
        };
        self.stl_methods(self.datasets[i].num_tasks)
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

    /// Every cell, dataset by dataset: the single-task baselines first, then
    /// method × model × seed.
    pub fn cells(&self) -> Vec<RunConfig> {
        let mut cells = Vec::new();
        for ds in &self.datasets {
            let baselines = self.stl_methods(ds.num_tasks);
            let listed = self.methods.iter().filter(|m| !baselines.contains(m));
            for method in baselines.iter().chain(listed) {
                for model in &ds.models {
                    for &seed in &self.seeds {
                        cells.push(RunConfig {
                            dataset: ds.named.clone(),
                            model: model.clone(),
                            method: method.clone(),
                            train: self.train.clone(),
                            seed,
                        });
                    }
                }
            }
        }
        cells
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dropout::Dropout;

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
        assert!(plan.methods.len() >= 5);
    }

    #[test]
    fn the_sener_koltun_study_files_parse() {
        // Parsed without their data (the full files read the Hub cache); `check` opens it.
        macro_rules! study {
            ($($name:literal),*) => {
                [$(($name, include_str!(concat!("../../reports/studies/sener-koltun/", $name)))),*]
            };
        }
        for (name, text) in study!(
            "multifashion-sk.toml",
            "multifashion-sk-quick.toml",
            "multifashion-15ep.toml",
            "multifashion-15ep-quick.toml",
            "multimnist10k-sk.toml",
            "multimnist10k-sk-quick.toml",
            "multimnist10k-15ep.toml",
            "multimnist10k-15ep-quick.toml"
        ) {
            let spec = SweepSpec::parse(text, name).unwrap();
            let sk = name.contains("-sk");
            assert_eq!(spec.train.dropout != Dropout::None, sk, "{name}");
            assert_eq!(spec.train.lr_decay_every, if sk { 10 } else { 0 }, "{name}");
            assert_eq!(spec.methods.len(), 6, "{name}");
        }
    }

    #[test]
    fn cell_ids_are_stable_and_distinct() {
        let plan = SweepPlan::from_toml(DEFAULT_SWEEP, "default").unwrap();
        let ids: BTreeSet<String> = plan.cells().iter().map(|c| c.cell_id()).collect();
        assert_eq!(ids.len(), plan.cells().len());
        assert_eq!(plan.cells()[0].cell_id(), plan.cells()[0].clone().cell_id());
    }

    const BASE: &str = "seeds = [0]\nmodels = [\"mlp-s\"]\n[dataset]\nname = \"synthetic-linear\"\ntrain = 64\nval = 16\ntest = 16\n";

    #[test]
    fn list_values_expand_into_a_grid_but_list_parameters_stay_whole() {
        let text = format!(
            "{BASE}[[methods]]\nname = \"mgda-ub\"\nnormalization = [\"l2\", \"loss+\", \"none\"]\n\
             [[methods]]\nname = \"fixed\"\nweights = [[0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]]\n\
             [[methods]]\nname = \"fixed\"\nweights = [0.4, 0.2, 0.2, 0.2]\n"
        );
        let plan = SweepPlan::from_toml(&text, "t.toml").unwrap();
        let names: Vec<_> = plan.methods.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["mgda-ub", "mgda-ub", "mgda-ub", "fixed", "fixed", "fixed"]
        );
        assert_eq!(plan.methods[1].params["normalization"], "loss+");
        assert_eq!(
            plan.methods[4].params["weights"],
            serde_json::json!([0.7, 0.1, 0.1, 0.1])
        );
        assert_eq!(plan.cells().len(), 4 + 6);
    }

    #[test]
    fn several_datasets_multiply_the_cells_with_their_own_baselines() {
        let text = "seeds = [0, 1]\nmodels = [\"mlp-s\"]\n\
            [[datasets]]\nname = \"synthetic-linear\"\ntasks = 2\ntrain = 64\nval = 16\ntest = 16\n\
            [[datasets]]\nname = \"synthetic-linear\"\ntasks = 3\ntrain = 64\nval = 16\ntest = 16\n\
            [[methods]]\nname = \"uniform\"\n";
        let plan = SweepPlan::from_toml(text, "t.toml").unwrap();
        assert_eq!(plan.datasets.len(), 2);
        assert_eq!(plan.cells().len(), (2 + 1) * 2 + (3 + 1) * 2);
        let run = &plan.cells()[2 * 2];
        assert_eq!(run.method.name, "uniform");
        assert_eq!(plan.stl_cells(run).len(), 2);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                format!("{BASE}[[methods]]\nname = \"mgda\"\nnormalisation = \"l2\""),
                "methods[0]",
            ),
            (
                format!("{BASE}[[methods]]\nname = \"nope\""),
                "methods[0].name",
            ),
            (
                format!("{BASE}[train]\nlr = -1.0\n[[methods]]\nname = \"uniform\""),
                "train.lr",
            ),
            (
                format!("{BASE}[[methods]]\nname = \"fixed\"\nweights = [0.5, 0.5]"),
                "methods[0]",
            ),
            (
                format!("{BASE}epochs = 3\n[[methods]]\nname = \"uniform\""),
                "epochs",
            ),
            (
                format!("{BASE}[[methods]]\nname = \"mgda\"\nnormalization = []"),
                "methods[0].normalization",
            ),
            (
                format!("{BASE}[[methods]]\nname = \"mgda\"\nnormalization = [\"l2\", \"l3\"]"),
                "grid point normalization = \"l3\"",
            ),
            (
                format!(
                    "{BASE}[train]\ndropout = \"sener-koltun\"\n[[methods]]\nname = \"uniform\""
                ),
                "train.dropout: dropout = \"sener-koltun\" acts on MultiLeNet",
            ),
            (
                format!("{BASE}[train]\nlr_decay = 0.85\n[[methods]]\nname = \"uniform\""),
                "train.lr_decay_every",
            ),
            (
                format!("{BASE}[[methods]]\nname = \"mgda\"\nmin_weight = 0.001"),
                "min_weight",
            ),
        ];
        for (text, want) in cases {
            let err = SweepPlan::from_toml(&text, "t.toml").unwrap_err();
            assert!(err.is_config());
            assert!(err.to_string().contains(want), "{want}: {err}");
        }
    }
}
