//! Hyper-parameter grids of a sweep file's method entries: a list value that is not itself a
//! valid value of its parameter is an axis, and the plan gets every combination.

use serde_json::{Map, Value};

use super::spec::to_json;

pub(super) fn describe_point(point: &str) -> String {
    if point.is_empty() {
        String::new()
    } else {
        format!(" at grid point {point}")
    }
}

/// Expands a method entry's hyper-parameter grid: a list value whose elements are valid values
/// of that parameter (while the list itself is not, as `weights = [0.5, 0.5]` is) is an axis,
/// and every combination of the axes' values is one entry. Returns the canonical parameters
/// and a description of each grid point; errors carry a field suffix and a message.
pub(super) fn expand_grid(
    spec: &mtl_methods::MethodSpec,
    params: &toml::Table,
) -> std::result::Result<Vec<(Value, String)>, (String, String)> {
    let Value::Object(base) = to_json(params) else {
        unreachable!("a TOML table converts to a JSON object")
    };
    let alone = |key: &str, v: &Value| {
        let mut one = Map::new();
        one.insert(key.to_owned(), v.clone());
        spec.canonical_config(&Value::Object(one)).is_ok()
    };
    let mut axes: Vec<(String, Vec<Value>)> = Vec::new();
    for (key, value) in &base {
        if let Value::Array(items) = value {
            if items.is_empty() {
                return Err((
                    format!(".{key}"),
                    "an empty list: give a value, or a list of values to sweep over".into(),
                ));
            }
            if !alone(key, value) && items.iter().any(|item| alone(key, item)) {
                axes.push((key.clone(), items.clone()));
            }
        }
    }
    let mut points: Vec<Map<String, Value>> = vec![base];
    for (key, items) in &axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                items.iter().map(move |item| {
                    let mut q = p.clone();
                    q.insert(key.clone(), item.clone());
                    q
                })
            })
            .collect();
    }
    points
        .into_iter()
        .map(|p| {
            let point = axes
                .iter()
                .map(|(key, _)| format!("{key} = {}", p[key]))
                .collect::<Vec<_>>()
                .join(", ");
            spec.canonical_config(&Value::Object(p))
                .map(|c| (c, point.clone()))
                .map_err(|e| (String::new(), format!("{e}{}", describe_point(&point))))
        })
        .collect()
}
