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
//! Guard: each factor — the loss L_k and the norm ‖g_k‖ — is used only if it is finite and in
//! [[`MIN_SCALE`], [`MAX_SCALE`]]; an unusable one (a zero gradient, a zero or negative loss,
//! NaN, ∞) is replaced by 1 on its own. For `loss+` that means c_k = guard(L_k) · guard(‖g_k‖):
//! a task whose loss is unusable is still brought to unit length, like every other task, so
//! scaling all gradients by one factor still divides out (guarding the product as a whole
//! would leave that task in raw gradient units while the others are unit length). The product
//! of two usable factors is then clamped into [[`MIN_SCALE`], [`MAX_SCALE`]]; it only leaves the
//! range when L_k‖g_k‖ itself is beyond 1e±150, far from any training (‖g_k‖ of `f32` rows lies
//! within 1e-46 … 1e39·√D).
//!
//! The guard is deliberately not an ε added to or clamped onto every scale: a run whose
//! gradients are all of size 1e-8 must still be normalised to unit length. The range keeps
//! every product c_i c_j a normal `f64` (no underflow to 0, no overflow to ∞), so the division
//! is always defined.

use serde::{Deserialize, Serialize};

use crate::Gram;

/// Smallest factor (loss or norm) used as is; smaller ones (including 0) are replaced by 1.
/// Also the lower clamp of a `loss+` scale.
pub const MIN_SCALE: f64 = 1e-150;

/// Largest factor (loss or norm) used as is; larger ones are replaced by 1. Also the upper
/// clamp of a `loss+` scale.
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
    /// c_k = L_k ‖g_k‖: unit-length gradients divided by the task loss (each factor guarded on
    /// its own).
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
            .map(|(&norm, &loss)| match self {
                Self::None => 1.0,
                Self::L2 => guard(norm),
                Self::Loss => guard(loss),
                Self::LossPlus => (guard(loss) * guard(norm)).clamp(MIN_SCALE, MAX_SCALE),
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

/// `c` if it is a usable factor (finite, in [`MIN_SCALE`, `MAX_SCALE`]), else 1.
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
    use crate::solver::two_task_weight;

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
        // Each factor on its own: an unusable loss leaves the norm, a zero norm the loss.
        assert_eq!(
            Normalization::LossPlus.scales(&g, &losses),
            vec![1.0, 1.0, 2.0, 3.0]
        );
        assert_eq!(
            Normalization::LossPlus.scales(&g, &[0.5, 0.5, 0.5, 0.5]),
            vec![0.5, 0.5, 1.0, 1.5]
        );
        assert_eq!(
            Normalization::Loss.scales(&g, &[1e200, 1e-200, f64::INFINITY, 3.0]),
            vec![1.0, 1.0, 1.0, 3.0]
        );
        let normed = Normalization::LossPlus.apply(&g, &losses);
        assert!(normed.as_slice().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn loss_plus_product_is_clamped_into_range() {
        let big = Gram::from_matrix(2, vec![1e200, 0.0, 0.0, 1e-200]).unwrap();
        // ‖g‖ = 1e100 and 1e-100, both usable; the products 1e160 and 1e-160 are not.
        let c = Normalization::LossPlus.scales(&big, &[1e60, 1e-60]);
        assert_eq!(c, vec![MAX_SCALE, MIN_SCALE]);
        let normed = Normalization::LossPlus.apply(&big, &[1e60, 1e-60]);
        assert!(normed.as_slice().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn loss_plus_with_an_unusable_loss_is_invariant_to_scaling_all_gradients() {
        // Task 1's loss is 0 (unusable), task 2's is 2. Before the per-factor guard, c_1 fell
        // back to 1, so task 1 stayed in raw units: at scale 1 the shorter g_1 (0.1 against
        // g_2 / c_2 of length ½) took all the weight, at scale 2^50 (‖g_1‖ ≈ 1e14) none of it.
        let g = [vec![0.1f32, 0.0], vec![0.6, 0.8]];
        let losses = [0.0, 2.0];
        let s = 2f32.powi(50);
        let scaled: Vec<Vec<f32>> = g
            .iter()
            .map(|r| r.iter().map(|x| x * s).collect())
            .collect();
        let weight = |rows: &[Vec<f32>]| {
            let n = Normalization::LossPlus.apply(&Gram::from_rows(rows), &losses);
            two_task_weight(n.get(0, 0), n.get(0, 1), n.get(1, 1))
        };
        // Powers of two scale exactly: the normalised Gram matrices agree bit for bit.
        assert_eq!(
            Normalization::LossPlus.apply(&Gram::from_rows(&g), &losses),
            Normalization::LossPlus.apply(&Gram::from_rows(&scaled), &losses)
        );
        // Unit g_1 and g_2 / 2: λ_1 = (¼ − 0.3) / (1 + ¼ − 0.6) < 0 → clamped to 0.
        assert_eq!(weight(&g), weight(&scaled));
        assert_eq!(weight(&g), 0.0);
    }
}
