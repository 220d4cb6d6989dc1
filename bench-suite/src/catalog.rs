//! The text of `mtlbench list`: datasets, methods with hyper-parameters, model sizes.

use std::fmt::Write;

use crate::model::{Arch, SIZES};

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
