//! The method registry: [`MethodSpec`], a method's entry, and the `methods!` macro that
//! `lib.rs` invokes with one line per method, in a stable, visible order.

use serde_json::Value;

use crate::method::{
    HeadScaling, Method, MethodConfig, ParamDoc, Property, ScaleInvariance, UpdateKind,
};
use crate::search::WeightSearch;
use crate::{Error, Gram, Result, METHODS};

/// A registered method: its name, help line and typed configuration.
pub struct MethodSpec {
    /// Kebab-case name used in the CLI, TOML, records and tables.
    pub name: &'static str,
    /// One-line description (the first sentence of the method's module docs).
    pub help: &'static str,
    params: fn() -> &'static [ParamDoc],
    canonical: fn(&str, &Value) -> Result<Value>,
    build: fn(&str, &Value, usize) -> Result<Box<dyn Method>>,
    search: fn(&str, &Value, usize) -> Result<Option<SearchBox>>,
    examples: fn(usize) -> Vec<(String, Value)>,
    permutation_equivariant: fn(&str, &Value) -> Result<Property>,
    mean_when_identical: fn(&str, &Value) -> Result<Property>,
    scale_invariance: fn(&str, &Value) -> Result<ScaleInvariance>,
    two_task_reference: fn(&str, &Value, &Gram, &[f64]) -> Result<TwoTask>,
    update_kind: fn() -> UpdateKind,
    baseline: fn(usize) -> Option<Value>,
    head_scaling: fn(&str, &Value) -> Result<HeadScaling>,
}

/// A method's two-task reference weights, or why it has none.
type TwoTask = std::result::Result<Vec<f64>, &'static str>;

/// A boxed weight search.
type SearchBox = Box<dyn WeightSearch>;

/// Declares the module of every method and lists it in [`METHODS`](crate::METHODS), in the
/// order `mtlbench list` shows them: one line per method, `module::Config => "name", "help";`.
/// Invoked once, in `lib.rs`, so that adding a method is its file plus its line there.
macro_rules! methods {
    ($($module:ident :: $config:ident => $name:literal, $help:literal;)*) => {
        $(pub mod $module;)*

        /// Every method, in the order `mtlbench list` shows them.
        pub static METHODS: &[$crate::registry::MethodSpec] = &[
            $($crate::registry::MethodSpec::new::<$module::$config>($name, $help),)*
        ];
    };
}

/// The single-task baseline of task `task`: the baseline method's name and its canonical
/// configuration ([`MethodConfig::single_task_baseline`]).
pub fn single_task_baseline(task: usize) -> Option<(&'static str, Value)> {
    METHODS
        .iter()
        .find_map(|m| (m.baseline)(task).map(|params| (m.name, params)))
}

/// Whether `name` is the single-task baseline method.
pub fn is_single_task_baseline(name: &str) -> bool {
    find(name).is_ok_and(MethodSpec::is_single_task_baseline)
}

/// Looks a method up by name.
pub fn find(name: &str) -> Result<&'static MethodSpec> {
    METHODS
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::UnknownMethod {
            name: name.to_owned(),
            known: METHODS
                .iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn parse<C: MethodConfig>(method: &str, params: &Value) -> Result<C> {
    let value = match params {
        Value::Null => Value::Object(Default::default()),
        other => other.clone(),
    };
    let config: C = serde_path_to_error::deserialize(value).map_err(|e| Error::InvalidConfig {
        method: method.to_owned(),
        message: e.to_string(),
    })?;
    config.validate().map_err(|message| Error::InvalidConfig {
        method: method.to_owned(),
        message,
    })?;
    Ok(config)
}

fn canonical<C: MethodConfig>(method: &str, params: &Value) -> Result<Value> {
    let config = parse::<C>(method, params)?;
    Ok(serde_json::to_value(config).expect("method configs serialise to JSON"))
}

fn search<C: MethodConfig>(
    method: &str,
    params: &Value,
    num_tasks: usize,
) -> Result<Option<Box<dyn WeightSearch>>> {
    parse::<C>(method, params)?.search(num_tasks)
}

fn scale_invariance<C: MethodConfig>(method: &str, params: &Value) -> Result<ScaleInvariance> {
    Ok(parse::<C>(method, params)?.scale_invariance())
}

fn permutation_equivariant<C: MethodConfig>(method: &str, params: &Value) -> Result<Property> {
    Ok(parse::<C>(method, params)?.permutation_equivariant())
}

fn mean_when_identical<C: MethodConfig>(method: &str, params: &Value) -> Result<Property> {
    Ok(parse::<C>(method, params)?.mean_when_identical())
}

fn baseline<C: MethodConfig>(task: usize) -> Option<Value> {
    C::single_task_baseline(task)
        .map(|c| serde_json::to_value(c).expect("method configs serialise to JSON"))
}

fn head_scaling<C: MethodConfig>(method: &str, params: &Value) -> Result<HeadScaling> {
    Ok(parse::<C>(method, params)?.head_scaling())
}

fn two_task_reference<C: MethodConfig>(
    method: &str,
    params: &Value,
    gram: &Gram,
    losses: &[f64],
) -> Result<TwoTask> {
    Ok(parse::<C>(method, params)?.two_task_reference(gram, losses))
}

fn build<C: MethodConfig>(
    method: &str,
    params: &Value,
    num_tasks: usize,
) -> Result<Box<dyn Method>> {
    parse::<C>(method, params)?.build(num_tasks)
}

impl MethodSpec {
    /// A registry entry for the method configured by `C`.
    pub const fn new<C: MethodConfig>(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            params: C::params,
            canonical: canonical::<C>,
            build: build::<C>,
            search: search::<C>,
            examples: C::examples,
            permutation_equivariant: permutation_equivariant::<C>,
            mean_when_identical: mean_when_identical::<C>,
            scale_invariance: scale_invariance::<C>,
            two_task_reference: two_task_reference::<C>,
            update_kind: C::update_kind,
            baseline: baseline::<C>,
            head_scaling: head_scaling::<C>,
        }
    }

    /// The documented hyper-parameters.
    pub fn params(&self) -> &'static [ParamDoc] {
        (self.params)()
    }

    /// Parses and validates `params` (a JSON object, or null for defaults) and returns the
    /// full configuration with every default filled in: what records store and hash.
    pub fn canonical_config(&self, params: &Value) -> Result<Value> {
        (self.canonical)(self.name, params)
    }

    /// The default configuration.
    pub fn default_config(&self) -> Value {
        self.canonical_config(&Value::Null).unwrap_or(Value::Null)
    }

    /// The weight search of a search method (`None` for online methods).
    pub fn search(
        &self,
        params: &Value,
        num_tasks: usize,
    ) -> Result<Option<Box<dyn WeightSearch>>> {
        (self.search)(self.name, params, num_tasks)
    }

    /// Checks that `params` configure this method for `num_tasks` tasks (online or search).
    pub fn check(&self, params: &Value, num_tasks: usize) -> Result<()> {
        match self.search(params, num_tasks)? {
            Some(_) => Ok(()),
            None => self.build(params, num_tasks).map(|_| ()),
        }
    }

    /// Builds the method for `num_tasks` tasks from `params`.
    pub fn build(&self, params: &Value, num_tasks: usize) -> Result<Box<dyn Method>> {
        (self.build)(self.name, params, num_tasks)
    }

    /// Labelled hyper-parameter sets covering the method's behaviours for `num_tasks` tasks,
    /// the example first ([`MethodConfig::examples`]).
    pub fn examples(&self, num_tasks: usize) -> Vec<(String, Value)> {
        (self.examples)(num_tasks)
    }

    /// Whether permuting the tasks permutes the weights ([`MethodConfig::permutation_equivariant`]).
    pub fn permutation_equivariant(&self, params: &Value) -> Result<Property> {
        (self.permutation_equivariant)(self.name, params)
    }

    /// Whether identical gradients and equal losses give the mean
    /// ([`MethodConfig::mean_when_identical`]).
    pub fn mean_when_identical(&self, params: &Value) -> Result<Property> {
        (self.mean_when_identical)(self.name, params)
    }

    /// How the weights configured by `params` respond to gradient scaling.
    pub fn scale_invariance(&self, params: &Value) -> Result<ScaleInvariance> {
        (self.scale_invariance)(self.name, params)
    }

    /// Whether this is the single-task baseline method ([`MethodConfig::single_task_baseline`]).
    pub fn is_single_task_baseline(&self) -> bool {
        (self.baseline)(0).is_some()
    }

    /// What the method's updates are ([`MethodConfig::update_kind`]).
    pub fn update_kind(&self) -> UpdateKind {
        (self.update_kind)()
    }

    /// What the task heads receive under `params` ([`MethodConfig::head_scaling`]).
    pub fn head_scaling(&self, params: &Value) -> Result<HeadScaling> {
        (self.head_scaling)(self.name, params)
    }

    /// The two-task reference weights of one step under `params`, or why there are none
    /// ([`MethodConfig::two_task_reference`]).
    pub fn two_task_reference(
        &self,
        params: &Value,
        gram: &Gram,
        losses: &[f64],
    ) -> Result<TwoTask> {
        (self.two_task_reference)(self.name, params, gram, losses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case_with_help() {
        let mut names: Vec<_> = METHODS.iter().map(|m| m.name).collect();
        for m in METHODS {
            assert!(!m.help.is_empty(), "{} has no help", m.name);
            assert!(
                m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{} is not kebab-case",
                m.name
            );
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METHODS.len());
    }

    #[test]
    fn unknown_method_lists_known_ones() {
        let err = find("pcgradd").err().unwrap().to_string();
        assert!(err.contains("uniform") && err.contains("mgda-ub"), "{err}");
    }

    #[test]
    fn unknown_field_is_rejected_with_its_name() {
        let err = find("mgda")
            .unwrap()
            .canonical_config(&serde_json::json!({"normalisation": "l2"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("normalisation"), "{err}");
    }
}
