//! Training-time dropout: Sener & Koltun's hand-rolled masks for MultiLeNet, drawn once per
//! training step and used by every pass of that step.
//!
//! Their public code (`multi_task/models/multi_lenet.py`, `multi_task/train_multi_task.py`
//! in <https://github.com/intel-isl/MultiObjectiveOptimization>) does not use `nn.Dropout`:
//! - the encoder multiplies the output of its second convolution (before that stage's
//!   max-pooling and relu) by one Bernoulli(½) draw per channel, shared by every row of the
//!   batch and every spatial position;
//! - each task head multiplies its hidden layer (after fc1 and relu) by an element-wise
//!   Bernoulli(½) mask, rows × width, a fresh one per task;
//! - nothing is rescaled by 1/(1 − p), and no mask is applied in evaluation mode;
//! - the masks drawn by the first forward pass of a step (MGDA's gradient pass, or
//!   scalarization's only pass) are handed back to the forward pass of the update, so the
//!   per-task gradients and the update see the same network.
//!
//! `dropout = "sener-koltun"` in `[train]` reproduces this for `lenet` models. The trainer
//! runs one forward pass per step and takes every gradient of the step from it (see
//! [`crate::step`]), so drawing the masks once per step shares them between the gradient pass
//! and the update on all three gradient paths. The masks are a function of (run seed, step):
//! ChaCha8 seeded with the run seed, stream [`STREAM`], word position step · 2⁴⁰, so they do
//! not depend on what else consumed random numbers (gradient diagnostics measured on a step's
//! batch use that step's masks).
//!
//! The channel mask is applied after the second stage's max-pooling and relu rather than
//! before: for m ∈ {0, 1}, relu(maxpool(m · y)) = m · relu(maxpool(y)) in value and in
//! gradient, and the pooled map is a quarter of the size (a test in [`crate::conv`] pins the
//! equivalence against a convolution masked before pooling).

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};
use mtl_datasets::Batch;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::model::{Arch, Model, ModelSpec};
use crate::{Error, Result};

/// The ChaCha stream of dropout masks ("dropout" in ASCII): far from the data order's
/// per-epoch streams and the other fixed streams.
pub const STREAM: u64 = u64::from_le_bytes(*b"dropout\0");

/// Words of the stream reserved for one step's masks (2⁴⁰; a step uses a few thousand).
const WORDS_PER_STEP: u128 = 1 << 40;

/// Dropout during training (`[train] dropout`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dropout {
    /// No dropout (the default).
    #[default]
    None,
    /// Sener & Koltun's MultiLeNet masks (`lenet` models only), see the module docs.
    SenerKoltun,
}

impl Dropout {
    /// Whether this is the default (no dropout); such configurations serialise without it.
    pub fn is_none(&self) -> bool {
        *self == Dropout::None
    }

    /// Checks that `model` has the layers this dropout acts on; the message names the model.
    pub fn check_model(self, model: &ModelSpec) -> std::result::Result<(), String> {
        match (self, model.arch) {
            (Dropout::None, _) | (Dropout::SenerKoltun, Arch::LeNet) => Ok(()),
            (Dropout::SenerKoltun, _) => Err(format!(
                "dropout = \"sener-koltun\" acts on MultiLeNet's second convolution and head hidden layers; model `{}` has neither. Use a lenet model or dropout = \"none\"",
                model.name
            )),
        }
    }
}

/// The masks of one training step (all absent without dropout).
#[derive(Debug, Clone, Default)]
pub struct Masks {
    /// 0/1 per channel of the encoder's last convolution, shape `(1, channels)`.
    channels: Option<Tensor>,
    /// Per input group of the batch: task → 0/1 mask of the head's hidden layer,
    /// shape `(rows, width)`.
    heads: Vec<BTreeMap<usize, Tensor>>,
}

impl Masks {
    /// No masks: the plain network, as in evaluation.
    pub fn none() -> Self {
        Self::default()
    }

    /// The masks of training step `step` of the run seeded by `seed`, for `batch` on `model`.
    pub fn draw(
        dropout: Dropout,
        model: &Model,
        batch: &Batch,
        seed: u64,
        step: u64,
        device: &Device,
    ) -> Result<Self> {
        if dropout == Dropout::None {
            return Ok(Self::none());
        }
        dropout
            .check_model(model.spec())
            .map_err(|message| Error::Config {
                path: "train.dropout".into(),
                message,
            })?;
        let (channels, width) = model.dropout_widths().ok_or_else(|| {
            Error::Internal(format!(
                "model `{}` has no dropout sites",
                model.spec().name
            ))
        })?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(STREAM);
        rng.set_word_pos(u128::from(step) * WORDS_PER_STEP);
        let channel_mask =
            Tensor::from_vec(bernoulli_half(&mut rng, channels), (1, channels), device)?;
        let heads = batch
            .groups
            .iter()
            .map(|group| {
                group
                    .targets
                    .iter()
                    .map(|(t, _)| {
                        let bits = bernoulli_half(&mut rng, group.rows * width);
                        Ok((*t, Tensor::from_vec(bits, (group.rows, width), device)?))
                    })
                    .collect::<Result<BTreeMap<_, _>>>()
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            channels: Some(channel_mask),
            heads,
        })
    }

    /// The masks of `batch` restricted as [`Batch::restricted_to`] restricts it to `tasks`: the
    /// same draws, for the groups and heads that remain, so a run that trains only some tasks
    /// sees the masks a full batch would have given them.
    pub fn restricted_to(&self, batch: &Batch, tasks: &[usize]) -> Self {
        let heads = batch
            .groups
            .iter()
            .zip(&self.heads)
            .filter(|(group, _)| group.feeds_any(tasks))
            .map(|(_, heads)| {
                heads
                    .iter()
                    .filter(|(t, _)| tasks.contains(t))
                    .map(|(t, mask)| (*t, mask.clone()))
                    .collect()
            })
            .collect();
        Self {
            channels: self.channels.clone(),
            heads,
        }
    }

    /// The encoder's channel mask.
    pub fn channels(&self) -> Option<&Tensor> {
        self.channels.as_ref()
    }

    /// The hidden-layer mask of task `task`'s head on input group `group`.
    pub fn head(&self, group: usize, task: usize) -> Option<&Tensor> {
        self.heads.get(group).and_then(|h| h.get(&task))
    }
}

/// `n` independent fair 0/1 draws as f32, 64 per random word pair.
fn bernoulli_half(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let word = rng.next_u64();
        let take = (n - out.len()).min(64);
        out.extend((0..take).map(|i| ((word >> i) & 1) as f32));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mtl_datasets::{InputGroup, Targets};

    fn lenet() -> Model {
        let spec = ModelSpec::parse("lenet-m").unwrap();
        Model::new(&spec, &[1, 28, 28], &[10, 10], 0, &Device::Cpu).unwrap()
    }

    fn batch(rows: usize) -> Batch {
        Batch {
            groups: vec![InputGroup {
                x: vec![0.0; rows * 784],
                rows,
                targets: vec![
                    (0, Targets::Labels(vec![0; rows])),
                    (1, Targets::Labels(vec![1; rows])),
                ],
            }],
        }
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    fn all(m: &Masks) -> Vec<f32> {
        let mut v = values(m.channels().unwrap());
        v.extend(values(m.head(0, 0).unwrap()));
        v.extend(values(m.head(0, 1).unwrap()));
        v
    }

    #[test]
    fn masks_are_a_function_of_seed_and_step() {
        let (model, b) = (lenet(), batch(8));
        let draw = |seed, step| {
            Masks::draw(Dropout::SenerKoltun, &model, &b, seed, step, &Device::Cpu).unwrap()
        };
        let m = draw(3, 5);
        assert_eq!(m.channels().unwrap().dims(), [1, 20]);
        assert_eq!(m.head(0, 1).unwrap().dims(), [8, 50]);
        assert!(m.head(0, 2).is_none() && m.head(1, 0).is_none());
        assert_eq!(all(&m), all(&draw(3, 5)));
        assert_ne!(all(&m), all(&draw(4, 5)));
        assert_ne!(all(&m), all(&draw(3, 6)));
        // The two heads get different masks; values are 0 or 1, about half of each.
        assert_ne!(values(m.head(0, 0).unwrap()), values(m.head(0, 1).unwrap()));
        let v = all(&m);
        assert!(v.iter().all(|&x| x == 0.0 || x == 1.0));
        let ones = v.iter().filter(|&&x| x == 1.0).count() as f64 / v.len() as f64;
        assert!((0.4..0.6).contains(&ones), "{ones}");
        assert!(Masks::draw(Dropout::None, &model, &b, 3, 5, &Device::Cpu)
            .unwrap()
            .channels()
            .is_none());
    }

    #[test]
    fn only_lenet_models_take_it() {
        for name in ["mlp-m", "linear-s"] {
            let spec = ModelSpec::parse(name).unwrap();
            let err = Dropout::SenerKoltun.check_model(&spec).unwrap_err();
            assert!(err.contains(name) && err.contains("lenet"), "{err}");
            assert!(Dropout::None.check_model(&spec).is_ok());
        }
        let spec = ModelSpec::parse("lenet-xs").unwrap();
        assert!(Dropout::SenerKoltun.check_model(&spec).is_ok());
    }

    #[test]
    fn serialises_in_kebab_case() {
        assert_eq!(
            serde_json::to_value(Dropout::SenerKoltun).unwrap(),
            "sener-koltun"
        );
        assert!(serde_json::from_value::<Dropout>(serde_json::json!("sk")).is_err());
    }
}
