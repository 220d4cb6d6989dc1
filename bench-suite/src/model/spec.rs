//! Model names: `<arch>-<size>`, an encoder family and a rung of the size ladder [`SIZES`]
//! (or an explicit width `w<N>`), parsed into a [`ModelSpec`].

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
    /// MultiLeNet (Sener & Koltun, 2018): two conv + max-pool + relu stages, one fc layer;
    /// two-layer heads; base width 50 (channels width/5 and 2·width/5).
    LeNet,
}

impl Arch {
    /// Every arch, for `mtlbench list`.
    pub const ALL: [Arch; 3] = [Arch::Linear, Arch::Mlp, Arch::LeNet];

    /// Name in model names and records.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Linear => "linear",
            Arch::Mlp => "mlp",
            Arch::LeNet => "lenet",
        }
    }

    /// Width at ladder rung `m`.
    pub fn base_width(self) -> usize {
        match self {
            Arch::Linear => 4,
            Arch::Mlp => 64,
            Arch::LeNet => 50,
        }
    }

    /// One-line description.
    pub fn help(self) -> &'static str {
        match self {
            Arch::Linear => {
                "two-layer linear network z = W x (width q), heads without bias (Hu et al., 2023)"
            }
            Arch::Mlp => "two ReLU layers of the given width, linear heads",
            Arch::LeNet => {
                "MultiLeNet for images: conv k5 ×2 with max-pool, fc to the width; two-layer heads (Sener & Koltun, 2018)"
            }
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
                "bad model `{name}`: {why}. Use <arch>-<size> with arch linear|mlp|lenet and size {} or w<N>, e.g. mlp-m",
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
