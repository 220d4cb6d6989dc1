//! Per-task gradient normalisation before a min-norm solve: g_k ↦ g_k / c_k.
//!
//! The scales follow `gradient_normalizers` in Sener & Koltun's public MGDA-UB code
//! (NeurIPS 2018, <https://arxiv.org/abs/1810.04650>):
//!
//! | name    | c_k          |
//! | ------- | ------------ |
//! | `none`  | 1            |
//! | `l2`    | ‖g_k‖        |
//! | `loss`  | L_k          |
//! | `loss+` | L_k · ‖g_k‖  |
//!
//! The normalised Gram matrix is M_ij / (c_i c_j) ([`Gram::rescaled`]). The solver's weights
//! are then applied to the raw losses, as in the reference code.
//!
//! Guard: a scale is used only if it is finite and in [[`MIN_SCALE`], [`MAX_SCALE`]]; anything
//! else (a zero gradient, a zero or negative loss, NaN, ∞) falls back to c_k = 1 and leaves that
//! task unnormalised. The guard is deliberately not an ε added to or clamped onto every scale: a
//! run whose gradients are all of size 1e-8 must still be normalised to unit length. The range
//! keeps every product c_i c_j a normal `f64` (no underflow to 0, no overflow to ∞), so the
//! division is always defined.

use serde::{Deserialize, Serialize};

use crate::Gram;

/// Smallest scale used as is; smaller ones (including 0) fall back to 1.
pub const MIN_SCALE: f64 = 1e-150;

/// Largest scale used as is; larger ones fall back to 1.
pub const MAX_SCALE: f64 = 1e150;

/// How task gradients are scaled before the min-norm solve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    /// c_k = 1: the raw gradients.
    None,
    /// c_k = ‖g_k‖: unit-length gradients.
    L2,
    /// c_k = L_k: gradients divided by the task loss.
    Loss,
    /// c_k = L_k ‖g_k‖: unit-length gradients divided by the task loss.
    #[serde(rename = "loss+")]
    LossPlus,
}

impl Normalization {
    /// Every variant, in declaration order.
    pub const ALL: [Normalization; 4] = [Self::None, Self::L2, Self::Loss, Self::LossPlus];

    /// The name used in configs and records: `none`, `l2`, `loss`, `loss+`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::L2 => "l2",
            Self::Loss => "loss",
            Self::LossPlus => "loss+",
        }
    }

    /// The guarded per-task scales c_k (see the module docs), task order.
    ///
    /// # Panics
    /// If `losses.len() != gram.k()` (a caller bug: methods check the task count first).
    pub fn scales(self, gram: &Gram, losses: &[f64]) -> Vec<f64> {
        assert_eq!(
            losses.len(),
            gram.k(),
            "normalisation needs one loss per task of the Gram matrix"
        );
        let norms = gram.norms();
        norms
            .iter()
            .zip(losses)
            .map(|(&norm, &loss)| {
                guard(match self {
                    Self::None => 1.0,
                    Self::L2 => norm,
                    Self::Loss => loss,
                    Self::LossPlus => loss * norm,
                })
            })
            .collect()
    }

    /// The Gram matrix of the normalised gradients g_k / c_k.
    ///
    /// # Panics
    /// If `losses.len() != gram.k()`.
    pub fn apply(self, gram: &Gram, losses: &[f64]) -> Gram {
        match self {
            Self::None => {
                assert_eq!(
                    losses.len(),
                    gram.k(),
                    "normalisation needs one loss per task"
                );
                gram.clone()
            }
            _ => gram.rescaled(&self.scales(gram, losses)),
        }
    }
}

impl std::fmt::Display for Normalization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `c` if it is a usable scale, else 1.
fn guard(c: f64) -> f64 {
    if c.is_finite() && (MIN_SCALE..=MAX_SCALE).contains(&c) {
        c
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gram() -> Gram {
        // ‖g1‖ = 5, ‖g2‖ = 1e-8.
        Gram::from_rows(&[vec![3.0f32, 4.0], vec![0.0, 1e-8]])
    }

    #[test]
    fn serde_names() {
        for n in Normalization::ALL {
            let json = serde_json::to_string(&n).unwrap();
            assert_eq!(json, format!("\"{}\"", n.as_str()));
            assert_eq!(serde_json::from_str::<Normalization>(&json).unwrap(), n);
        }
        assert!(serde_json::from_str::<Normalization>("\"loss-plus\"").is_err());
    }

    #[test]
    fn scales_per_normalisation() {
        let g = gram();
        let losses = [2.0, 0.5];
        assert_eq!(Normalization::None.scales(&g, &losses), vec![1.0, 1.0]);
        let l2 = Normalization::L2.scales(&g, &losses);
        assert!(
            (l2[0] - 5.0).abs() < 1e-12 && (l2[1] / 1e-8 - 1.0).abs() < 1e-6,
            "{l2:?}"
        );
        assert_eq!(Normalization::Loss.scales(&g, &losses), vec![2.0, 0.5]);
        let lp = Normalization::LossPlus.scales(&g, &losses);
        assert!(
            (lp[0] - 10.0).abs() < 1e-12 && (lp[1] / 5e-9 - 1.0).abs() < 1e-6,
            "{lp:?}"
        );
    }

    #[test]
    fn tiny_gradients_are_still_unit_length_after_l2() {
        let g = Normalization::L2.apply(&gram(), &[1.0, 1.0]);
        assert!((g.get(0, 0) - 1.0).abs() < 1e-12);
        assert!((g.get(1, 1) - 1.0).abs() < 1e-6, "{}", g.get(1, 1));
    }

    #[test]
    fn unusable_scales_fall_back_to_one() {
        let g = Gram::from_rows(&[
            vec![0.0f32, 0.0],
            vec![1.0, 0.0],
            vec![2.0, 0.0],
            vec![3.0, 0.0],
        ]);
        let losses = [1.0, 0.0, -1.0, f64::NAN];
        assert_eq!(
            Normalization::L2.scales(&g, &losses),
            vec![1.0, 1.0, 2.0, 3.0]
        );
        assert_eq!(
            Normalization::Loss.scales(&g, &losses),
            vec![1.0, 1.0, 1.0, 1.0]
        );
        assert_eq!(
            Normalization::LossPlus.scales(&g, &losses),
            vec![1.0, 1.0, 1.0, 1.0]
        );
        assert_eq!(
            Normalization::Loss.scales(&g, &[1e200, 1e-200, f64::INFINITY, 3.0]),
            vec![1.0, 1.0, 1.0, 3.0]
        );
        let normed = Normalization::LossPlus.apply(&g, &losses);
        assert!(normed.as_slice().iter().all(|v| v.is_finite()));
    }
}
