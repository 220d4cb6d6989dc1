//! Which records may share a column (R20): records of one dataset id but another record
//! schema, data revision, source-file hash, split seed or task list are never mixed; they
//! form separate, labelled blocks and a note says why.

use std::collections::BTreeMap;

use crate::RunRecord;

/// Everything that must agree for two records to be compared in one column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DataKey {
    /// Dataset id (generator parameters included).
    pub dataset: String,
    /// Record schema version.
    pub schema_version: u32,
    /// Data revision (hub commit or generator version).
    pub revision: String,
    /// Source files as (path, sha256), sorted.
    pub files: Vec<(String, String)>,
    /// Seed of a generated split, if any.
    pub split_seed: Option<u64>,
    /// Tasks as (name, loss, metric, higher is better).
    pub tasks: Vec<(String, String, String, bool)>,
}

impl DataKey {
    /// The key of one record.
    pub fn of(r: &RunRecord) -> Self {
        let mut files: Vec<(String, String)> = r
            .dataset
            .files
            .iter()
            .map(|f| (f.path.clone(), f.sha256.clone()))
            .collect();
        files.sort();
        Self {
            dataset: r.dataset.id.clone(),
            schema_version: r.schema_version,
            revision: r.dataset.revision.clone(),
            files,
            split_seed: r.dataset.split_seed,
            tasks: r
                .dataset
                .tasks
                .iter()
                .map(|t| {
                    (
                        t.name.clone(),
                        t.loss.clone(),
                        t.metric.clone(),
                        t.higher_is_better,
                    )
                })
                .collect(),
        }
    }

    /// The identity facts other than the dataset id, as (name, value).
    fn facts(&self) -> [(&'static str, String); 5] {
        let files = if self.files.is_empty() {
            "none".to_owned()
        } else {
            self.files
                .iter()
                .map(|(path, sha)| format!("{path}@{}", &sha[..sha.len().min(8)]))
                .collect::<Vec<_>>()
                .join(" ")
        };
        [
            ("schema", self.schema_version.to_string()),
            ("revision", self.revision.clone()),
            ("files", files),
            (
                "split seed",
                self.split_seed.map_or("none".into(), |s| s.to_string()),
            ),
            (
                "tasks",
                self.tasks
                    .iter()
                    .map(|t| t.0.as_str())
                    .collect::<Vec<_>>()
                    .join("/"),
            ),
        ]
    }
}

/// Records that may share a column.
#[derive(Debug, Clone)]
pub struct Block<'a> {
    /// Their common identity.
    pub key: DataKey,
    /// Display name: the dataset id, plus the facts that tell it apart from blocks of the
    /// same id.
    pub label: String,
    /// The records, in input order.
    pub records: Vec<&'a RunRecord>,
}

/// Records split into comparable blocks, in key order, with a note for each dataset id
/// that had to be split.
#[derive(Debug, Clone)]
pub struct Partition<'a> {
    /// The blocks.
    pub blocks: Vec<Block<'a>>,
    /// Why blocks of one dataset id were separated.
    pub notes: Vec<String>,
}

/// Splits `records` into blocks of equal [`DataKey`].
pub fn partition(records: &[RunRecord]) -> Partition<'_> {
    let mut by_key: BTreeMap<DataKey, Vec<&RunRecord>> = BTreeMap::new();
    for r in records {
        by_key.entry(DataKey::of(r)).or_default().push(r);
    }
    let mut by_id: BTreeMap<&str, Vec<&DataKey>> = BTreeMap::new();
    for key in by_key.keys() {
        by_id.entry(key.dataset.as_str()).or_default().push(key);
    }
    let mut notes = Vec::new();
    let mut differing: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for (id, keys) in &by_id {
        if keys.len() < 2 {
            continue;
        }
        let facts: Vec<_> = keys.iter().map(|k| k.facts()).collect();
        let names: Vec<&'static str> = (0..facts[0].len())
            .filter(|&i| facts.iter().any(|f| f[i].1 != facts[0][i].1))
            .map(|i| facts[0][i].0)
            .collect();
        let detail: Vec<String> = names
            .iter()
            .map(|name| {
                let i = facts[0].iter().position(|f| f.0 == *name).unwrap_or(0);
                let values: Vec<String> = facts.iter().map(|f| format!("`{}`", f[i].1)).collect();
                format!("{name} ({})", values.join(" vs "))
            })
            .collect();
        notes.push(format!(
            "Records of {id} differ in {}: they are reported as {} separate datasets, never mixed \
             in one column.",
            detail.join(", "),
            keys.len()
        ));
        differing.insert(id.to_string(), names);
    }
    let blocks = by_key
        .into_iter()
        .map(|(key, records)| {
            let label = match differing.get(&key.dataset) {
                Some(names) => {
                    let facts = key.facts();
                    let parts: Vec<String> = facts
                        .iter()
                        .filter(|f| names.contains(&f.0))
                        .map(|(n, v)| format!("{n} {v}"))
                        .collect();
                    format!("{} [{}]", key.dataset, parts.join(", "))
                }
                None => key.dataset.clone(),
            };
            Block {
                key,
                label,
                records,
            }
        })
        .collect();
    Partition { blocks, notes }
}
