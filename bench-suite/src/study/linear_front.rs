//! The `linear-front` analysis of a study part: for every `synthetic-linear` dataset and
//! linear-model width q of the part, the exact Pareto front and the part of it linear
//! scalarization reaches (closed form, [`mtl_reports::linear_front`]), with the part's trained
//! runs placed on the same plot.

use std::collections::BTreeMap;

use mtl_datasets::{SyntheticLinear, SyntheticLinearConfig};
use mtl_reports::html::Block;
use mtl_reports::linear_front::{
    analyse, front_sheet, front_svg, LinearProblem, Resolution, RunPoint,
};
use mtl_reports::report::Plot;
use mtl_reports::RunRecord;

use crate::{Error, Result};

/// One analysed configuration: its label and the problem's analysis with its runs.
struct Configuration {
    label: String,
    slug: String,
    analysis: mtl_reports::linear_front::FrontAnalysis,
    runs: Vec<RunPoint>,
}

/// The front table and one plot per (dataset, width) of `records`; `quick` analyses on the
/// coarse grid.
pub fn blocks(records: &[RunRecord], quick: bool) -> Result<Vec<Block>> {
    let mut groups: BTreeMap<(String, usize), Vec<&RunRecord>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.model.arch == "linear") {
        groups
            .entry((r.dataset.id.clone(), r.model.width))
            .or_default()
            .push(r);
    }
    let mut configs = Vec::new();
    for ((id, width), runs) in groups {
        let config: SyntheticLinearConfig = serde_json::from_value(runs[0].dataset.config.clone())
            .map_err(|e| Error::Config {
                path: format!("dataset {id}"),
                message: format!("the linear-front analysis needs synthetic-linear data: {e}"),
            })?;
        let data = SyntheticLinear::new(config)?;
        let problem = LinearProblem {
            task_vectors: data.scaled_task_vectors(),
            noise: data.noise(),
            width,
        };
        let k = problem.task_vectors.len();
        let resolution = if quick {
            Resolution::coarse(k)
        } else {
            Resolution::fine(k)
        };
        let analysis = analyse(&problem, &resolution)?;
        let points = runs
            .iter()
            .filter(|r| r.completed() && !mtl_methods::is_single_task_baseline(&r.method.name))
            .map(|r| RunPoint {
                label: r.method.name.clone(),
                losses: r.test.iter().map(|t| t.loss).collect(),
            })
            .collect();
        configs.push(Configuration {
            label: format!("{id}, q = {width}"),
            slug: format!("front-q{width}-{}", configs.len()),
            analysis,
            runs: points,
        });
    }
    if configs.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(&str, &mtl_reports::linear_front::FrontAnalysis)> = configs
        .iter()
        .map(|c| (c.label.as_str(), &c.analysis))
        .collect();
    let mut blocks = vec![Block::Table(front_sheet(&rows))];
    for c in &configs {
        blocks.push(Block::Plot(Plot {
            file_name: format!("{}.svg", c.slug),
            title: format!("exact front and scalarization, {}", c.label),
            svg: front_svg(&c.analysis, &c.label, &c.runs)?,
        }));
    }
    Ok(blocks)
}
