//! One cell end to end: run the method's weight search if it has one (cached per method and
//! model in the results folder, shared by every seed), then train and stamp the record.

use std::path::Path;

use mtl_datasets::Dataset;
use mtl_methods::search::SearchOutcome;
use mtl_methods::uniform::FixedWeights;
use mtl_methods::{Method, Weights};
use mtl_reports::record::{SearchBudget, SearchRecord};
use mtl_reports::RunRecord;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::RunConfig;
use crate::model::ModelSpec;
use crate::search::SessionBackend;
use crate::trainer::{record, RunClock, RunEnv, Session};
use crate::{Error, Result};

/// Folder (inside a results folder) holding finished searches.
pub const SEARCH_DIR: &str = "searches";

#[derive(Serialize)]
struct SearchKey<'a> {
    dataset: &'a crate::config::Named,
    model: &'a str,
    method: &'a crate::config::Named,
    train: &'a crate::config::TrainConfig,
}

/// Hash of what a search depends on: everything of the cell but its seed.
pub fn search_id(run: &RunConfig) -> String {
    let key = SearchKey {
        dataset: &run.dataset,
        model: &run.model,
        method: &run.method,
        train: &run.train,
    };
    let json = serde_json::to_string(&key).expect("search key serialises");
    Sha256::digest(json.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn search_record(id: String, outcome: SearchOutcome) -> SearchRecord {
    SearchRecord {
        id,
        weights: outcome.weights,
        score: outcome.score.is_finite().then_some(outcome.score),
        rule: outcome.rule,
        budget: SearchBudget {
            trainings: outcome.budget.trainings,
            steps: outcome.budget.steps,
            schedule_steps: outcome.budget.schedule_steps,
        },
        history: outcome.history,
    }
}

/// The search of `run`'s method, from `cache` if it holds it, else run now (and stored there).
/// `None` for online methods.
pub fn search_for(
    run: &RunConfig,
    dataset: &dyn Dataset,
    env: &RunEnv,
    cache: Option<&Path>,
) -> Result<Option<SearchRecord>> {
    let spec = mtl_methods::find(&run.method.name)?;
    let Some(mut search) = spec.search(&run.method.params, dataset.tasks().len())? else {
        return Ok(None);
    };
    let id = search_id(run);
    let path = cache.map(|dir| dir.join(SEARCH_DIR).join(format!("{id}.json")));
    if let Some(path) = &path {
        if let Ok(bytes) = std::fs::read(path) {
            match serde_json::from_slice::<SearchRecord>(&bytes) {
                Ok(found) if found.id == id && found.weights.len() == dataset.tasks().len() => {
                    return Ok(Some(found))
                }
                _ => {
                    tracing::warn!(path = %path.display(), "ignoring an unreadable search record; searching again")
                }
            }
        }
    }
    let model = ModelSpec::parse(&run.model)?;
    let mut backend = SessionBackend::new(dataset, model, run.train.clone(), env.device.clone(), 0);
    let outcome = search.run(&mut backend, 0)?;
    let found = search_record(id, outcome);
    if let Some(path) = &path {
        let bytes = serde_json::to_vec_pretty(&found).expect("search records serialise");
        mtl_reports::store::write_atomic(path, &bytes)?;
    }
    Ok(Some(found))
}

/// Trains `run` (after its search, if any) and returns its record. `cache` is the results
/// folder whose `searches/` holds shared searches.
pub fn train_cell(
    run: &RunConfig,
    dataset: &dyn Dataset,
    env: &RunEnv,
    cache: Option<&Path>,
    on_step: &mut dyn FnMut(),
) -> Result<RunRecord> {
    let clock = RunClock::start();
    let search = search_for(run, dataset, env, cache)?;
    let method: Box<dyn Method> = match &search {
        Some(s) => Box::new(FixedWeights::new(
            Weights::simplex(s.weights.clone()).map_err(Error::from)?,
        )),
        None => {
            mtl_methods::find(&run.method.name)?.build(&run.method.params, dataset.tasks().len())?
        }
    };
    let spec = ModelSpec::parse(&run.model)?;
    let mut session = Session::new(dataset, &spec, method, &run.train, run.seed, &env.device)?;
    let total = session.total_steps();
    session.train_steps(total, on_step)?;
    let done = session.finish()?;
    Ok(record(run, dataset, env, &spec, done, search, &clock))
}
