//! The text of `mtlbench list`: datasets, methods with hyper-parameters, model sizes.

use std::fmt::Write;

use crate::model::{Arch, SIZES};

/// Method names in registry order: the row order of every table.
pub fn method_order() -> Vec<&'static str> {
    mtl_methods::METHODS.iter().map(|m| m.name).collect()
}

/// Everything a user can name in a config, with help and defaults.
pub fn listing() -> String {
    // One name column, as wide as the longest name.
    let w = mtl_datasets::DATASETS
        .iter()
        .map(|d| d.name)
        .chain(mtl_methods::METHODS.iter().map(|m| m.name))
        .chain(Arch::ALL.iter().map(|a| a.name()))
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(20);
    let mut out = String::new();
    let _ = writeln!(out, "DATASETS");
    for d in mtl_datasets::DATASETS {
        let _ = writeln!(out, "  {:<w$} {}", d.name, d.help);
        for (name, help) in d.params {
            let _ = writeln!(out, "      {name:<16} {help}");
        }
    }
    let _ = writeln!(out, "\nMETHODS");
    for m in mtl_methods::METHODS {
        let _ = writeln!(out, "  {:<w$} {}", m.name, m.help);
        let defaults = m.default_config();
        for p in m.params() {
            let default = match defaults.get(p.name) {
                Some(v) if !(v.is_null() || v.as_array().is_some_and(|a| a.is_empty())) => {
                    format!(" [default: {v}]")
                }
                _ => String::new(),
            };
            let _ = writeln!(out, "      {:<16} {}: {}{default}", p.name, p.kind, p.help);
        }
        let _ = writeln!(out, "      {}", contract_line(m));
    }
    let _ = writeln!(
        out,
        "\nMODELS  <arch>-<size>, size one of {} or w<N>",
        SIZES.iter().map(|s| s.0).collect::<Vec<_>>().join("|")
    );
    for arch in Arch::ALL {
        let widths: Vec<String> = SIZES
            .iter()
            .map(|(name, mult)| {
                format!(
                    "{name}={}",
                    ((arch.base_width() as f64 * mult).round() as usize).max(1)
                )
            })
            .collect();
        let _ = writeln!(out, "  {:<w$} {}", arch.name(), arch.help());
        let _ = writeln!(out, "      widths: {}", widths.join(" "));
    }
    out
}

/// What a method answers and costs as its example configures it: its update form, what the
/// heads receive, and the backward passes of one step (K tasks).
fn contract_line(m: &mtl_methods::MethodSpec) -> String {
    use mtl_methods::GradSource;
    let defaults = m
        .examples(2)
        .into_iter()
        .next()
        .map_or(serde_json::Value::Null, |(_, params)| params);
    let heads = m.head_scaling(&defaults).map_or("?", |h| h.describe());
    let cost = match m.search(&defaults, 2) {
        Ok(Some(_)) => "1 per step, after a search (see its budget)".to_owned(),
        _ => match m.build(&defaults, 2).map(|b| b.needs()) {
            Ok(needs) => {
                let mut cost = match needs.grads {
                    GradSource::None => "1".to_owned(),
                    GradSource::Params | GradSource::LastSharedLayer => {
                        "K through the encoder".to_owned()
                    }
                    GradSource::Representation => {
                        "1 through the encoder + K through the heads".to_owned()
                    }
                };
                if needs.after_step {
                    cost.push_str(", + 1 forward after the step");
                }
                cost
            }
            Err(_) => "?".to_owned(),
        },
    };
    format!(
        "= update: {} · heads: {heads} · backward/step: {cost}",
        m.update_kind().describe()
    )
}
