//! Parsing a dataset's JSON parameters into its typed config.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Error, Result};

/// Parses `params` (an object, or null for all defaults) into `T`, naming the field path of a
/// mistake.
pub fn parse<T: DeserializeOwned>(dataset: &str, params: &Value) -> Result<T> {
    let value = match params {
        Value::Null => Value::Object(Default::default()),
        v => v.clone(),
    };
    serde_path_to_error::deserialize(value).map_err(|e| Error::InvalidConfig {
        dataset: dataset.to_owned(),
        message: e.to_string(),
    })
}
