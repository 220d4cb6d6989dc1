//! The method registry: one line per method, in a stable, visible order.

use serde_json::Value;

use crate::aligned_mtl::AlignedMtlConfig;
use crate::autoscale::AutoScaleConfig;
use crate::cagrad::CaGradConfig;
use crate::chebyshev::ChebyshevConfig;
use crate::config::ConfigConfig;
use crate::db_mtl::DbMtlConfig;
use crate::dualproj::DualProjConfig;
use crate::dwa::DwaConfig;
use crate::fairgrad::FairGradConfig;
use crate::famo::FamoConfig;
use crate::fixed::FixedConfig;
use crate::gls::GlsConfig;
use crate::graddrop::GradDropConfig;
use crate::gradnorm::GradNormConfig;
use crate::gradvac::GradVacConfig;
use crate::imtl_g::ImtlGConfig;
use crate::method::{
    HeadScaling, Method, MethodConfig, ParamDoc, Property, ScaleInvariance, UpdateKind,
};
use crate::mgda::MgdaConfig;
use crate::mgda_ub::MgdaUbConfig;
use crate::nash_mtl::NashMtlConfig;
use crate::pcgrad::PcGradConfig;
use crate::rlw::RlwConfig;
use crate::search::WeightSearch;
use crate::stch::StchConfig;
use crate::stl::StlConfig;
use crate::tuned::TunedConfig;
use crate::uniform::UniformConfig;
use crate::upgrad::UpGradConfig;
use crate::uw::UwConfig;
use crate::{Error, Gram, Result};

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
    head_scaling: fn(&str, &Value) -> Result<HeadScaling>,
}

/// A method's two-task reference weights, or why it has none.
type TwoTask = std::result::Result<Vec<f64>, &'static str>;

/// A boxed weight search.
type SearchBox = Box<dyn WeightSearch>;

/// Every method, in the order `mtlbench list` shows them.
pub static METHODS: &[MethodSpec] = &[
    MethodSpec::new::<UniformConfig>("uniform", "Uniform linear scalarization, λ_k = 1/K"),
    MethodSpec::new::<FixedConfig>("fixed", "Linear scalarization with user-given weights on the simplex"),
    MethodSpec::new::<TunedConfig>("tuned", "Linear scalarization with fixed weights searched on validation: grid, random or PBT (Kurin et al. 2022; Royer et al. 2023)"),
    MethodSpec::new::<AutoScaleConfig>("autoscale", "AutoScale: fixed weights from MTO metrics (gradient magnitude similarity, loss scales) measured in an exploration phase (Yang et al. 2025)"),
    MethodSpec::new::<StlConfig>("stl", "Single-task learning: one task alone with the same model and schedule, the Δm% baseline"),
    MethodSpec::new::<MgdaConfig>("mgda", "MGDA: min-norm weights of the task gradients w.r.t. the shared parameters (Désidéri 2012; Sener & Koltun 2018)"),
    MethodSpec::new::<MgdaUbConfig>("mgda-ub", "MGDA-UB: min-norm weights of the task gradients w.r.t. the shared representation (Sener & Koltun, NeurIPS 2018)"),
    MethodSpec::new::<ChebyshevConfig>("chebyshev", "Chebyshev: online weighted Tchebycheff scalarization, the gradient of max_k p_k L_k (Miettinen 1999; Hu et al. 2023)"),
    MethodSpec::new::<StchConfig>("stch", "STCH: smooth Tchebycheff scalarization μ log Σ exp(p_k L_k / μ) (Lin et al., ICML 2024)"),
    MethodSpec::new::<RlwConfig>("rlw", "RLW: random loss weights λ = softmax(z), z ~ N(0, I) drawn every step (Lin et al., TMLR 2022)"),
    MethodSpec::new::<DwaConfig>("dwa", "DWA: loss weights K·softmax(r/T) from each task's epoch loss ratio r (Liu et al., CVPR 2019)"),
    MethodSpec::new::<GlsConfig>("gls", "GLS: the geometric mean of the task losses, (Π L_k)^(1/K) (Chennupati et al., CVPRW 2019)"),
    MethodSpec::new::<PcGradConfig>("pcgrad", "PCGrad: each task gradient projected off the task gradients it conflicts with, in random order (Yu et al., NeurIPS 2020)"),
    MethodSpec::new::<GradDropConfig>("graddrop", "GradDrop: per coordinate, only task gradients of one sign survive, drawn by the sign's purity (Chen et al., NeurIPS 2020)"),
    MethodSpec::new::<GradVacConfig>("gradvac", "GradVac: each task gradient turned towards the others up to a learned target cosine (Wang et al., ICLR 2021)"),
    MethodSpec::new::<ImtlGConfig>("imtl-g", "IMTL-G: the gradient combination with equal projections onto every task's gradient direction (Liu et al., ICLR 2021)"),
    MethodSpec::new::<CaGradConfig>("cagrad", "CAGrad: the update maximising the worst task's improvement within a ball around the mean gradient (Liu et al., NeurIPS 2021)"),
    MethodSpec::new::<NashMtlConfig>("nash-mtl", "Nash-MTL: loss weights α of the Nash bargaining solution, Gα = 1/α on the task gradients' Gram matrix (Navon et al., ICML 2022)"),
    MethodSpec::new::<UpGradConfig>("upgrad", "UPGrad: each task gradient projected onto the dual cone of all of them, then summed: conflicts with no task (Quinton & Rey 2024)"),
    MethodSpec::new::<DualProjConfig>("dualproj", "DualProj: the mean gradient projected onto the dual cone of the task gradients (Quinton & Rey 2024)"),
    MethodSpec::new::<AlignedMtlConfig>("aligned-mtl", "Aligned-MTL: the task gradients' system aligned to equal singular values, then combined (Senushkin et al., CVPR 2023)"),
    MethodSpec::new::<ConfigConfig>("config", "ConFIG: the direction with equal cosine to every task gradient, scaled by their projections (Liu et al., ICLR 2025)"),
    MethodSpec::new::<FairGradConfig>("fairgrad", "FairGrad: loss weights of the α-fair allocation of progress among tasks, Gw = w^(−1/α) (Ban & Ji, ICML 2024)"),
    MethodSpec::new::<GradNormConfig>("gradnorm", "GradNorm: loss weights trained so that weighted gradient norms follow each task's relative training rate (Chen et al., ICML 2018)"),
    MethodSpec::new::<DbMtlConfig>("db-mtl", "DB-MTL: log losses, and running-average task gradients scaled to the largest norm (Lin et al. 2023)"),
    MethodSpec::new::<FamoConfig>("famo", "FAMO: loss weights from task logits trained so that every task's log-loss falls at the same rate; one extra forward per step (Liu et al., NeurIPS 2023)"),
    MethodSpec::new::<UwConfig>("uw", "UW: uncertainty weighting, Σ ½e^(−s_k) L_k + ½s_k with learned log-variances s (Kendall et al., CVPR 2018)"),
];

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
