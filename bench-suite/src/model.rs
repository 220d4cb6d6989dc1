//! Models: a shared encoder from a size ladder plus one head per task.
//!
//! Model names are `<arch>-<size>`: arch `linear` (two-layer linear network of Hu et al.,
//! 2023: z = W x, heads a_kᵀ z, no biases; width = q) or `mlp` (two ReLU layers of equal
//! width, linear heads with bias). Size is a rung of the ladder [`SIZES`] (width multiplier of
//! the arch's base width) or an explicit width `w<N>` (e.g. `linear-w3`).

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result};

/// The size ladder: rung name and width multiplier of the arch's base width.
pub const SIZES: &[(&str, f64)] = &[
    ("xs", 0.25),
    ("s", 0.5),
    ("m", 1.0),
    ("l", 2.0),
    ("xl", 4.0),
];

/// Encoder families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// z = W x, heads a_kᵀ z; base width q = 4.
    Linear,
    /// z = relu(W₂ relu(W₁ x + b₁) + b₂), linear heads; base width 64.
    Mlp,
}

impl Arch {
    /// Every arch, for `mtlbench list`.
    pub const ALL: [Arch; 2] = [Arch::Linear, Arch::Mlp];

    /// Name in model names and records.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Linear => "linear",
            Arch::Mlp => "mlp",
        }
    }

    /// Width at ladder rung `m`.
    pub fn base_width(self) -> usize {
        match self {
            Arch::Linear => 4,
            Arch::Mlp => 64,
        }
    }

    /// One-line description.
    pub fn help(self) -> &'static str {
        match self {
            Arch::Linear => {
                "two-layer linear network z = W x (width q), heads without bias (Hu et al., 2023)"
            }
            Arch::Mlp => "two ReLU layers of the given width, linear heads",
        }
    }
}

/// A parsed model name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The name as given, e.g. `mlp-m`.
    pub name: String,
    /// Encoder family.
    pub arch: Arch,
    /// Shared width.
    pub width: usize,
}

impl ModelSpec {
    /// Parses `<arch>-<size>` (`mlp-m`, `linear-xs`, `linear-w3`).
    pub fn parse(name: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::Config {
            path: "models".into(),
            message: format!(
                "bad model `{name}`: {why}. Use <arch>-<size> with arch linear|mlp and size {} or w<N>, e.g. mlp-m",
                SIZES.iter().map(|s| s.0).collect::<Vec<_>>().join("|")
            ),
        }
        };
        let (arch, size) = name.split_once('-').ok_or_else(|| bad("no `-`"))?;
        let arch = Arch::ALL
            .into_iter()
            .find(|a| a.name() == arch)
            .ok_or_else(|| bad("unknown arch"))?;
        let width = if let Some((_, mult)) = SIZES.iter().find(|s| s.0 == size) {
            ((arch.base_width() as f64 * mult).round() as usize).max(1)
        } else if let Some(n) = size.strip_prefix('w') {
            match n.parse::<usize>() {
                Ok(w) if (1..=65536).contains(&w) => w,
                _ => return Err(bad("width must be an integer in 1..=65536")),
            }
        } else {
            return Err(bad("unknown size"));
        };
        Ok(Self {
            name: name.to_owned(),
            arch,
            width,
        })
    }
}

/// A named trainable parameter.
#[derive(Debug, Clone)]
pub struct Param {
    /// Stable hierarchical name, e.g. `encoder.w1`.
    pub name: String,
    /// The variable.
    pub var: Var,
}

/// Shared encoder plus per-task heads. Parameters are kept in a fixed order: encoder first,
/// then heads by task, so flattening and optimiser state never depend on hash order.
#[derive(Debug)]
pub struct Model {
    spec: ModelSpec,
    params: Vec<Param>,
    encoder_len: usize,
    /// Index range into `params` of each head.
    heads: Vec<std::ops::Range<usize>>,
}

/// A linear layer `y = x Wᵀ (+ b)` over parameters `w` (out × in) and optional `b`.
fn linear(x: &Tensor, w: &Var, b: Option<&Var>) -> Result<Tensor> {
    let y = x.matmul(&w.as_tensor().t()?)?;
    Ok(match b {
        Some(b) => y.broadcast_add(b.as_tensor())?,
        None => y,
    })
}

struct Init<'a> {
    rng: ChaCha8Rng,
    device: &'a Device,
    params: Vec<Param>,
}

impl Init<'_> {
    /// PyTorch's default: U(−1/√fan_in, 1/√fan_in) for weights and biases.
    fn add(&mut self, name: String, shape: &[usize], fan_in: usize) -> Result<()> {
        let bound = 1.0 / (fan_in as f32).sqrt();
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| self.rng.random_range(-bound..bound))
            .collect();
        let t = Tensor::from_vec(values, shape, self.device)?;
        self.params.push(Param {
            name,
            var: Var::from_tensor(&t)?,
        });
        Ok(())
    }
}

impl Model {
    /// A freshly initialised model for `input_dim` inputs and heads of the given output
    /// widths, seeded by `seed`.
    pub fn new(
        spec: &ModelSpec,
        input_dim: usize,
        head_outputs: &[usize],
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(1); // model init; data order uses other streams
        let mut init = Init {
            rng,
            device,
            params: Vec::new(),
        };
        let w = spec.width;
        match spec.arch {
            Arch::Linear => init.add("encoder.w".into(), &[w, input_dim], input_dim)?,
            Arch::Mlp => {
                init.add("encoder.w1".into(), &[w, input_dim], input_dim)?;
                init.add("encoder.b1".into(), &[w], input_dim)?;
                init.add("encoder.w2".into(), &[w, w], w)?;
                init.add("encoder.b2".into(), &[w], w)?;
            }
        }
        let encoder_len = init.params.len();
        let mut heads = Vec::new();
        for (k, &out) in head_outputs.iter().enumerate() {
            let start = init.params.len();
            init.add(format!("head{k}.w"), &[out, w], w)?;
            if spec.arch == Arch::Mlp {
                init.add(format!("head{k}.b"), &[out], w)?;
            }
            heads.push(start..init.params.len());
        }
        Ok(Self {
            spec: spec.clone(),
            params: init.params,
            encoder_len,
            heads,
        })
    }

    /// The model's spec.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// All parameters: encoder first, then heads in task order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The shared encoder's parameters.
    pub fn encoder_params(&self) -> &[Param] {
        &self.params[..self.encoder_len]
    }

    /// Index range into [`Model::params`] of head `k`.
    pub fn head_range(&self, k: usize) -> std::ops::Range<usize> {
        self.heads[k].clone()
    }

    /// Number of scalars in `params`.
    pub fn count(params: &[Param]) -> usize {
        params.iter().map(|p| p.var.elem_count()).sum()
    }

    /// The shared representation z of inputs `x` (rows × input_dim).
    pub fn encode(&self, x: &Tensor) -> Result<Tensor> {
        let p = &self.params;
        match self.spec.arch {
            Arch::Linear => linear(x, &p[0].var, None),
            Arch::Mlp => {
                let h = linear(x, &p[0].var, Some(&p[1].var))?.relu()?;
                Ok(linear(&h, &p[2].var, Some(&p[3].var))?.relu()?)
            }
        }
    }

    /// Head `k`'s output on representation `z`.
    pub fn head(&self, k: usize, z: &Tensor) -> Result<Tensor> {
        let r = &self.heads[k];
        let p = &self.params;
        linear(
            z,
            &p[r.start].var,
            (r.len() > 1).then(|| &p[r.start + 1].var),
        )
    }

    /// Copies of every parameter's current value (a checkpoint).
    pub fn snapshot(&self) -> Result<Vec<Tensor>> {
        Ok(self
            .params
            .iter()
            .map(|p| p.var.as_tensor().copy())
            .collect::<candle_core::Result<_>>()?)
    }

    /// Restores a checkpoint taken by [`Model::snapshot`].
    pub fn restore(&self, snapshot: &[Tensor]) -> Result<()> {
        for (p, t) in self.params.iter().zip(snapshot) {
            p.var.set(t)?;
        }
        Ok(())
    }

    /// The dtype of all parameters.
    pub fn dtype(&self) -> DType {
        DType::F32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_parse_to_ladder_widths() {
        assert_eq!(ModelSpec::parse("mlp-m").unwrap().width, 64);
        assert_eq!(ModelSpec::parse("mlp-xs").unwrap().width, 16);
        assert_eq!(ModelSpec::parse("linear-s").unwrap().width, 2);
        assert_eq!(ModelSpec::parse("linear-w3").unwrap().width, 3);
        for bad in ["mlp", "cnn-m", "mlp-xxl", "mlp-w0", "mlp-wx"] {
            let err = ModelSpec::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn same_seed_same_init() {
        let spec = ModelSpec::parse("mlp-s").unwrap();
        let a = Model::new(&spec, 5, &[1, 3], 7, &Device::Cpu).unwrap();
        let b = Model::new(&spec, 5, &[1, 3], 7, &Device::Cpu).unwrap();
        let c = Model::new(&spec, 5, &[1, 3], 8, &Device::Cpu).unwrap();
        let flat = |m: &Model| -> Vec<f32> {
            m.params()
                .iter()
                .flat_map(|p| p.var.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                .collect()
        };
        assert_eq!(flat(&a), flat(&b));
        assert_ne!(flat(&a), flat(&c));
        assert_eq!(a.params().len(), 4 + 2 * 2);
        assert_eq!(Model::count(a.encoder_params()), 32 * 5 + 32 + 32 * 32 + 32);
    }
}
