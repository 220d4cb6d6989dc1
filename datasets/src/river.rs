//! `solar-flare` and `yeast`: small real multi-output tables from PyPI `river`, for fast
//! end-to-end runs.
//!
//! `solar-flare` (UCI Solar Flare, 1,066 active regions): 3 regression tasks, the number of
//! C-, M- and X-class flares in the next 24 h (raw counts, MSE, MAE), from 10 features (the
//! 3 categorical ones one-hot: 24 inputs). `yeast` (Elisseeff & Weston 2002, MULAN; 2,417
//! genes): 14 binary gene-function labels (BCE, accuracy) from 103 expression features.
//! Features are standardised with training statistics; rows are split by a seeded random
//! permutation (ChaCha8, `split_seed`) into 70/15/15 %.
//!
//! Parameters (defaults): `source` (`cache`; the manifests `river-solar-flare` and
//! `river-yeast`), `split_seed` (0).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::formats::river_csv::{self, Table};
use crate::loaded::Loaded;
use crate::source::{self, Source};
use crate::standardize::{random_split, rows, Standardizer};
use crate::tabular::{TabularData, TabularSplit};
use crate::task::{LossKind, MetricKind, TaskKind};
use crate::{DataFile, Dataset, Error, Result, Targets, Task};

/// Version of the split and preprocessing.
pub const GENERATOR_VERSION: &str = "river-table-v1";

/// Parameters of the river tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiverConfig {
    /// Where the table comes from (only `cache`).
    pub source: Source,
    /// Seed of the random split.
    pub split_seed: u64,
}

impl Default for RiverConfig {
    fn default() -> Self {
        Self {
            source: Source::Cache,
            split_seed: 0,
        }
    }
}

/// Parameter docs for `mtlbench list`.
pub const PARAMS: &[(&str, &str)] = &[
    (
        "source",
        "cache: the river table from the Hub cache (cache)",
    ),
    ("split_seed", "seed of the random 70/15/15 split (0)"),
];

/// Which table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiverTable {
    /// UCI Solar Flare, 3 count regressions.
    SolarFlare,
    /// MULAN Yeast, 14 binary labels.
    Yeast,
}

impl RiverTable {
    /// Registry name.
    pub fn name(self) -> &'static str {
        match self {
            RiverTable::SolarFlare => "solar-flare",
            RiverTable::Yeast => "yeast",
        }
    }

    fn manifest(self) -> &'static str {
        match self {
            RiverTable::SolarFlare => "river-solar-flare",
            RiverTable::Yeast => "river-yeast",
        }
    }

    /// Reads the table from a directory laid out as the manifest's snapshot.
    pub fn read_dir(self, dir: &std::path::Path) -> Result<Table> {
        Ok(match self {
            RiverTable::SolarFlare => river_csv::read_solar_flare(dir)?,
            RiverTable::Yeast => river_csv::read_yeast(dir)?,
        })
    }

    fn task(self, name: &str) -> Task {
        match self {
            RiverTable::SolarFlare => Task::regression(name),
            RiverTable::Yeast => Task {
                name: name.to_owned(),
                kind: TaskKind::Binary,
                loss: LossKind::Bce,
                metric: MetricKind::Accuracy,
            },
        }
    }
}

/// Builds the benchmark from a parsed table.
pub fn build_from(
    which: RiverTable,
    table: &Table,
    config: &RiverConfig,
    files: Vec<DataFile>,
    revision: &str,
) -> Result<Loaded> {
    let n = table.rows();
    let (val, test) = (
        (n as f64 * 0.15).round() as usize,
        (n as f64 * 0.15).round() as usize,
    );
    if val == 0 || val + test >= n {
        return Err(Error::InvalidConfig {
            dataset: which.name().into(),
            message: format!("the table has {n} rows; a 70/15/15 split needs at least 4"),
        });
    }
    let dim = table.features.len();
    let parts = random_split(n, val, test, config.split_seed);
    let stats = Standardizer::fit(&rows(&table.x, dim, &parts[0]), dim);
    let split = |idx: &[usize]| TabularSplit {
        x: stats.apply(&rows(&table.x, dim, idx)),
        dim,
        targets: table
            .targets
            .iter()
            .map(|col| match which {
                RiverTable::SolarFlare => {
                    Targets::Real(idx.iter().map(|&i| col[i] as f32).collect())
                }
                RiverTable::Yeast => Targets::Labels(idx.iter().map(|&i| col[i] as u32).collect()),
            })
            .collect(),
    };
    Ok(Loaded {
        id: format!(
            "{}/{}-split{}",
            which.name(),
            config.source.name(),
            config.split_seed
        ),
        revision: format!("{revision}/{GENERATOR_VERSION}"),
        tasks: table.target_names.iter().map(|t| which.task(t)).collect(),
        input_shape: vec![dim],
        data: TabularData {
            splits: [split(&parts[0]), split(&parts[1]), split(&parts[2])],
        },
        files,
        split_seed: Some(config.split_seed),
    })
}

fn from_params(which: RiverTable, params: &Value) -> Result<Box<dyn Dataset>> {
    let config: RiverConfig = crate::params::parse(which.name(), params)?;
    if config.source != Source::Cache {
        return Err(Error::InvalidConfig {
            dataset: which.name().into(),
            message: format!(
                "no source = \"{}\" (no subset of this table ships in the repository): use source = \"cache\" after `mtlbench data import {} <river wheel>` (or fetch)",
                config.source.name(),
                which.manifest()
            ),
        });
    }
    let snap = source::snapshot(which.manifest())?;
    let table = which.read_dir(&snap.dir)?;
    Ok(Box::new(build_from(
        which,
        &table,
        &config,
        snap.files.clone(),
        &source::revision(&snap),
    )?))
}

/// Registry builder of `solar-flare`.
pub fn solar_flare(params: &Value) -> Result<Box<dyn Dataset>> {
    from_params(RiverTable::SolarFlare, params)
}

/// Registry builder of `yeast`.
pub fn yeast(params: &Value) -> Result<Box<dyn Dataset>> {
    from_params(RiverTable::Yeast, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::river_csv::tests::{yeast as yeast_csv, SOLAR};
    use crate::Split;

    #[test]
    fn yeast_fixture_gives_binary_tasks_and_standard_features() {
        let table = river_csv::parse_yeast("y.csv", yeast_csv(40).as_bytes()).unwrap();
        let d = build_from(
            RiverTable::Yeast,
            &table,
            &RiverConfig::default(),
            Vec::new(),
            "t",
        )
        .unwrap();
        assert_eq!(
            [Split::Train, Split::Val, Split::Test].map(|s| d.split_len(s)),
            [28, 6, 6]
        );
        assert_eq!(d.tasks.len(), 14);
        assert_eq!(d.tasks[3].loss, LossKind::Bce);
        assert_eq!(d.tasks[3].output_dim(), 1);
        let train = d.data.split(Split::Train);
        let col0: f32 = (0..28).map(|r| train.x[r * 103]).sum::<f32>() / 28.0;
        assert!(col0.abs() < 1e-5);
        assert!(matches!(&train.targets[0], Targets::Labels(v) if v.iter().all(|&l| l <= 1)));
        assert_eq!(d.id, "yeast/cache-split0");
    }

    #[test]
    fn solar_fixture_in_a_folder_and_too_small_tables() {
        let dir = tempfile::tempdir().unwrap();
        let rows: String = SOLAR
            .lines()
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .repeat(4);
        let body = format!("{}\n{rows}", SOLAR.lines().next().unwrap());
        std::fs::write(dir.path().join("solar-flare.csv"), body).unwrap();
        let table = RiverTable::SolarFlare.read_dir(dir.path()).unwrap();
        let d = build_from(
            RiverTable::SolarFlare,
            &table,
            &RiverConfig::default(),
            Vec::new(),
            "t",
        )
        .unwrap();
        assert_eq!(d.input_shape, [24]);
        assert_eq!(
            d.split_len(Split::Train) + d.split_len(Split::Val) + d.split_len(Split::Test),
            12
        );
        assert_eq!(d.tasks[2].name, "x-class-flares");
        let tiny = river_csv::parse_solar_flare("s", SOLAR.as_bytes()).unwrap();
        assert!(build_from(
            RiverTable::SolarFlare,
            &tiny,
            &RiverConfig::default(),
            Vec::new(),
            "t"
        )
        .is_err());
        let err = solar_flare(&serde_json::json!({"source": "subset"}))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("mtlbench data import river-solar-flare"),
            "{err}"
        );
    }
}
