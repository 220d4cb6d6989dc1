//! Runs grouped for the tables: per comparable block (see [`crate::partition`]), one group
//! per model × method configuration, with each run's Δm% against its own single-task
//! baselines and the per-model ranks of the methods.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::partition::{partition, Block};
use crate::record::ModelInfo;
use crate::stats::{ranks, summarize, Summary};
use crate::{Error, Result, RunRecord};

/// Registry name of the single-task baseline.
pub const STL: &str = "stl";
/// Registry name of the method step times are compared with.
pub const UNIFORM: &str = "uniform";

/// The runs of one method configuration on one model of one block.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// The model (of the first run; all runs share its name).
    pub model: &'a ModelInfo,
    /// Method registry name.
    pub method: String,
    /// Row label: the name, plus the hyper-parameters that tell configurations apart.
    pub label: String,
    /// Every run, diverged ones included, ordered by (seed, cell id).
    pub runs: Vec<&'a RunRecord>,
    /// Δm% per seed (mean over the seed's completed runs with complete baselines).
    pub delta: BTreeMap<u64, f64>,
}

impl Group<'_> {
    /// Whether this is the single-task baseline.
    pub fn is_stl(&self) -> bool {
        self.method == STL
    }

    /// Completed runs.
    pub fn done(&self) -> impl Iterator<Item = &RunRecord> + '_ {
        self.runs.iter().copied().filter(|r| r.completed())
    }

    /// Number of distinct seeds among completed runs.
    pub fn seeds(&self) -> usize {
        self.done().map(|r| r.seed).collect::<BTreeSet<_>>().len()
    }

    /// Runs that did not complete.
    pub fn diverged(&self) -> usize {
        self.runs.len() - self.done().count()
    }

    /// Δm% over seeds.
    pub fn delta_summary(&self) -> Option<Summary> {
        summarize(&self.delta.values().copied().collect::<Vec<_>>())
    }

    /// Summary of `f` over completed runs.
    pub fn summary(&self, f: impl Fn(&RunRecord) -> f64) -> Option<Summary> {
        summarize(&self.done().map(f).collect::<Vec<_>>())
    }
}

/// One block's groups, in row order: by model width, then model name, then `stl`, then the
/// methods in the caller's order, then label.
#[derive(Debug, Clone)]
pub struct BlockAnalysis<'a> {
    /// The records' block.
    pub block: Block<'a>,
    /// Groups in row order.
    pub groups: Vec<Group<'a>>,
    /// Rank of each non-`stl` group by mean Δm% among the groups of its model (1 = lowest
    /// Δm%; ties share the average rank); `None` without Δm%.
    pub rank: Vec<Option<f64>>,
}

impl BlockAnalysis<'_> {
    /// Model names in row order (ascending width).
    pub fn models(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for g in &self.groups {
            if !seen.contains(&g.model.name.as_str()) {
                seen.push(&g.model.name);
            }
        }
        seen
    }

    /// Task names of the block.
    pub fn tasks(&self) -> &[crate::record::TaskInfo] {
        &self.block.records[0].dataset.tasks
    }

    /// The group of `uniform` (default configuration label) on `model`.
    pub fn uniform(&self, model: &str) -> Option<&Group<'_>> {
        self.groups
            .iter()
            .find(|g| g.model.name == model && g.method == UNIFORM)
    }
}

/// All blocks of a record set.
#[derive(Debug, Clone)]
pub struct Analysis<'a> {
    /// Blocks in key order.
    pub blocks: Vec<BlockAnalysis<'a>>,
    /// Why blocks of one dataset id were separated (R20).
    pub notes: Vec<String>,
}

impl<'a> Analysis<'a> {
    /// Groups `records`; `method_order` gives the row order of method names (names not listed
    /// come after it, by label). Fails on an empty set.
    pub fn new(records: &'a [RunRecord], method_order: &[&str]) -> Result<Self> {
        if records.is_empty() {
            return Err(Error::NoRecords {
                path: Default::default(),
                parts: Vec::new(),
            });
        }
        let part = partition(records);
        let blocks = part
            .blocks
            .into_iter()
            .map(|b| analyse_block(b, method_order))
            .collect();
        Ok(Self {
            blocks,
            notes: part.notes,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RowKey {
    model_width: usize,
    model_name: String,
    method_rank: usize,
    label: String,
}

fn analyse_block<'a>(block: Block<'a>, method_order: &[&str]) -> BlockAnalysis<'a> {
    let labels = method_labels(&block.records);
    let stl_by_id: BTreeMap<&str, &RunRecord> = block
        .records
        .iter()
        .filter(|r| r.method.name == STL && r.completed())
        .map(|r| (r.cell_id.as_str(), *r))
        .collect();
    let mut rows: BTreeMap<RowKey, Vec<&'a RunRecord>> = BTreeMap::new();
    for (r, label) in block.records.iter().zip(labels) {
        let method_rank = if r.method.name == STL {
            0
        } else {
            1 + method_order
                .iter()
                .position(|m| *m == r.method.name)
                .unwrap_or(method_order.len())
        };
        let key = RowKey {
            model_width: r.model.width,
            model_name: r.model.name.clone(),
            method_rank,
            label,
        };
        rows.entry(key).or_default().push(r);
    }
    let groups: Vec<Group<'a>> = rows
        .into_iter()
        .map(|(key, mut runs)| {
            runs.sort_by(|a, b| (a.seed, &a.cell_id).cmp(&(b.seed, &b.cell_id)));
            let mut per_seed: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
            for r in runs.iter().filter(|r| r.completed()) {
                if let Some(d) = delta_m(r, &stl_by_id) {
                    per_seed.entry(r.seed).or_default().push(d);
                }
            }
            Group {
                model: &runs[0].model,
                method: runs[0].method.name.clone(),
                label: key.label,
                delta: per_seed
                    .into_iter()
                    .map(|(s, v)| (s, v.iter().sum::<f64>() / v.len() as f64))
                    .collect(),
                runs,
            }
        })
        .collect();
    let mut rank = vec![None; groups.len()];
    let mut by_model: BTreeMap<&str, Vec<(usize, f64)>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        if let (false, Some(s)) = (g.is_stl(), g.delta_summary()) {
            by_model.entry(&g.model.name).or_default().push((i, s.mean));
        }
    }
    for members in by_model.values() {
        let r = ranks(&members.iter().map(|m| m.1).collect::<Vec<_>>());
        for ((i, _), r) in members.iter().zip(r) {
            rank[*i] = Some(r);
        }
    }
    BlockAnalysis {
        block,
        groups,
        rank,
    }
}

/// Δm% = (1/K) Σ_k (−1)^{h_k} (M_k − M_k^stl) / M_k^stl × 100 against the run's own
/// single-task baselines (`stl_cells`, looked up in `stl_by_id`); `None` when any baseline is
/// missing, diverged or zero.
pub fn delta_m(r: &RunRecord, stl_by_id: &BTreeMap<&str, &RunRecord>) -> Option<f64> {
    let k = r.dataset.tasks.len();
    if r.stl_cells.len() != k || k == 0 {
        return None;
    }
    let mut sum = 0.0;
    for (t, id) in r.stl_cells.iter().enumerate() {
        let base = stl_by_id.get(id.as_str())?.test.get(t)?.metric;
        if base == 0.0 || !base.is_finite() {
            return None;
        }
        let sign = if r.dataset.tasks[t].higher_is_better {
            -1.0
        } else {
            1.0
        };
        sum += sign * (r.test[t].metric - base) / base;
    }
    Some(sum / k as f64 * 100.0)
}

/// The task a single-task baseline trained.
pub fn stl_task(r: &RunRecord) -> Option<usize> {
    r.method
        .config
        .get("task")
        .and_then(Value::as_u64)
        .map(|t| t as usize)
}

/// Row labels: the method name, plus the hyper-parameters that differ between its
/// configurations where one name appears with several.
pub(crate) fn method_labels(records: &[&RunRecord]) -> Vec<String> {
    let configs = distinct_configs(records.iter().copied(), |r| r.method.name.as_str());
    records
        .iter()
        .map(|r| {
            let variants = &configs[r.method.name.as_str()];
            // Single-task baselines (one config per task) share one row.
            if variants.len() > 1 && r.method.name != STL {
                format!(
                    "{} {}",
                    r.method.name,
                    compact_config(&r.method.config, variants)
                )
            } else {
                r.method.name.clone()
            }
        })
        .collect()
}

/// The distinct method configurations of `records` under each `key`, first-seen order.
pub(crate) fn distinct_configs<'a, K: Ord>(
    records: impl IntoIterator<Item = &'a RunRecord>,
    key: impl Fn(&'a RunRecord) -> K,
) -> BTreeMap<K, Vec<&'a Value>> {
    let mut configs: BTreeMap<K, Vec<&Value>> = BTreeMap::new();
    for r in records {
        let seen = configs.entry(key(r)).or_default();
        if !seen.contains(&&r.method.config) {
            seen.push(&r.method.config);
        }
    }
    configs
}

/// Settings that choose a variant of a method: a search strategy, an exploration mode.
const VARIANT_KEYS: [&str; 2] = ["strategy", "exploration"];

/// `key=value` for each key whose value differs between `variants`; a key other than a
/// [`VARIANT_KEYS`] one only where it differs among the configurations of this one's variant,
/// so that a setting only another variant reads (PBT's `population` on a random search's row)
/// does not name the row. Distinct configurations keep distinct labels: two that differ either
/// differ in a variant key, or share their variant and differ in a key both rows show.
pub(crate) fn compact_config(config: &Value, variants: &[&Value]) -> String {
    let same_variant: Vec<&Value> = variants
        .iter()
        .copied()
        .filter(|other| VARIANT_KEYS.iter().all(|k| other.get(k) == config.get(k)))
        .collect();
    match config {
        Value::Object(map) => {
            let mut shown: Vec<(&String, &Value)> = map
                .iter()
                .filter(|(k, v)| {
                    let pool = if VARIANT_KEYS.contains(&k.as_str()) {
                        variants
                    } else {
                        &same_variant
                    };
                    pool.iter().any(|other| other.get(k.as_str()) != Some(v))
                })
                .collect();
            // The variant first (`strategy=pbt,perturb=0.2`), so that rows of one variant
            // sort together; the rest in key order.
            shown.sort_by_key(|(k, _)| !VARIANT_KEYS.contains(&k.as_str()));
            shown
                .iter()
                .map(|(k, v)| format!("{k}={}", v.to_string().trim_matches('"')))
                .collect::<Vec<_>>()
                .join(",")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(configs: &[Value]) -> Vec<String> {
        let variants: Vec<&Value> = configs.iter().collect();
        configs
            .iter()
            .map(|c| compact_config(c, &variants))
            .collect()
    }

    #[test]
    fn a_row_is_named_by_its_variant_and_what_differs_within_it() {
        let random = |trials: u64| json!({ "strategy": "random", "trials": trials, "population": 8, "ready": 50 });
        let pbt = json!({ "strategy": "pbt", "trials": 16, "population": 16, "ready": 433 });
        // PBT's population and ready differ from the defaults a random search carries unread.
        assert_eq!(
            labels(&[random(16), pbt.clone()]),
            ["strategy=random", "strategy=pbt"]
        );
        // Two random searches differ in their trials; PBT's row is still its strategy alone.
        assert_eq!(
            labels(&[random(8), random(16), pbt]),
            [
                "strategy=random,trials=8",
                "strategy=random,trials=16",
                "strategy=pbt"
            ]
        );
        // Two PBT rows: the variant first, then what tells them apart.
        let control = json!({ "strategy": "pbt", "perturb": 0.0, "start": "uniform" });
        assert_eq!(
            labels(&[
                json!({ "strategy": "grid", "perturb": 0.2 }),
                json!({ "strategy": "pbt", "perturb": 0.2 }),
                control
            ]),
            [
                "strategy=grid",
                "strategy=pbt,perturb=0.2",
                "strategy=pbt,perturb=0.0,start=uniform"
            ]
        );
        // Methods without variants: every key that differs.
        assert_eq!(
            labels(&[
                json!({ "normalization": "none", "tol": 1e-5 }),
                json!({ "normalization": "loss+", "tol": 1e-5 })
            ]),
            ["normalization=none", "normalization=loss+"]
        );
    }
}
