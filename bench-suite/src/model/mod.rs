//! Models: a shared encoder from a size ladder plus one head per task.
//!
//! Model names are `<arch>-<size>`: arch `linear` (two-layer linear network of Hu et al.,
//! 2023: z = W x, heads a_kᵀ z, no biases; width = q), `mlp` (two ReLU layers of equal
//! width, linear heads with bias) or `lenet` (Sener & Koltun's MultiLeNet for image inputs:
//! conv 1→10 k5, max-pool 2, relu, conv 10→20 k5, max-pool 2, relu, fc →50, relu = z; heads
//! fc 50→50, relu, fc 50→outputs; a rung scales the channels 10/20 and the width 50 alike;
//! the convolutions are computed as patch matrix products, see [`crate::conv`], and the fc
//! layer reads the pooled maps channels-last, a fixed permutation of PyTorch's order). Size is a rung of the ladder [`SIZES`] (width multiplier of
//! the arch's base width) or an explicit width `w<N>` (e.g. `linear-w3`).

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::conv::{ChannelOrder, ConvStage};
use crate::linear_op::Linear;
use crate::{Error, Result};

mod spec;

pub use spec::{Arch, ModelSpec, SIZES};

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
    /// The convolution stages (`lenet` only).
    stages: Vec<ConvStage>,
    params: Vec<Param>,
    encoder_len: usize,
    /// Index range into `params` of each head.
    heads: Vec<std::ops::Range<usize>>,
}

/// Rows encoded at once by LeNet; larger batches are split.
const LENET_CHUNK: usize = 512;

/// Kernel size of the LeNet convolutions.
const KERNEL: usize = 5;

/// LeNet's channels at width `w`: conv1 and conv2 (10 and 20 at the base width 50).
fn lenet_channels(w: usize) -> (usize, usize) {
    (
        ((w as f64 / 5.0).round() as usize).max(1),
        ((w as f64 * 2.0 / 5.0).round() as usize).max(1),
    )
}

/// LeNet's two conv stages for `input_shape` and the flattened size after them.
fn lenet_stages(
    spec: &ModelSpec,
    input_shape: &[usize],
    device: &Device,
) -> Result<(usize, Vec<ConvStage>, usize)> {
    let bad = || {
        Error::Config {
        path: "models".into(),
        message: format!(
            "model `{}` needs image inputs [channels, height, width] of at least 16 × 16; the dataset's input shape is {input_shape:?}. Use an mlp or linear model for this dataset",
            spec.name
        ),
    }
    };
    let &[c, h, w] = input_shape else {
        return Err(bad());
    };
    let (c1, c2) = lenet_channels(spec.width);
    let first = match ConvStage::new(
        (c, h, w),
        ChannelOrder::First,
        KERNEL,
        ChannelOrder::First,
        device,
    )? {
        Some(s) if c > 0 => s,
        _ => return Err(bad()),
    };
    let (ph, pw) = first.pooled;
    let second = ConvStage::new(
        (c1, ph, pw),
        ChannelOrder::First,
        KERNEL,
        ChannelOrder::Last,
        device,
    )?
    .ok_or_else(bad)?;
    let flat = c2 * second.pooled.0 * second.pooled.1;
    Ok((c, vec![first, second], flat))
}

impl ModelSpec {
    /// Checks that the model can take inputs of `input_shape` (one example), so a sweep
    /// refuses a mismatch before training; `lenet` needs `[channels, height, width]` images.
    pub fn check_input(&self, input_shape: &[usize]) -> Result<()> {
        match self.arch {
            Arch::LeNet => lenet_stages(self, input_shape, &Device::Cpu).map(|_| ()),
            Arch::Linear | Arch::Mlp => Ok(()),
        }
    }
}

/// A linear layer `y = x Wᵀ (+ b)` over parameters `w` (out × in) and optional `b`; on CPU
/// with a bias, the custom op of [`crate::linear_op`].
fn linear(x: &Tensor, w: &Var, b: Option<&Var>) -> Result<Tensor> {
    if let (Some(b), true) = (b, x.device().is_cpu()) {
        return Ok(x
            .contiguous()?
            .apply_op3(w.as_tensor(), b.as_tensor(), Linear::plain())?);
    }
    let y = x.matmul(&w.as_tensor().t()?)?;
    Ok(match b {
        Some(b) => y.broadcast_add(b.as_tensor())?,
        None => y,
    })
}

/// `relu(x Wᵀ + b)`: on CPU one custom op (the relu folded into the bias pass, see
/// [`crate::linear_op`]), elsewhere [`linear`] then candle's relu.
fn linear_relu(x: &Tensor, w: &Var, b: &Var) -> Result<Tensor> {
    if x.device().is_cpu() {
        return Ok(x
            .contiguous()?
            .apply_op3(w.as_tensor(), b.as_tensor(), Linear::relu())?);
    }
    Ok(linear(x, w, Some(b))?.relu()?)
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
    /// A freshly initialised model for inputs of shape `input_shape` (one example; rows of a
    /// batch are these flattened) and heads of the given output widths, seeded by `seed`.
    pub fn new(
        spec: &ModelSpec,
        input_shape: &[usize],
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
        let input_dim: usize = input_shape.iter().product();
        let mut stages = Vec::new();
        match spec.arch {
            Arch::Linear => init.add("encoder.w".into(), &[w, input_dim], input_dim)?,
            Arch::Mlp => {
                init.add("encoder.w1".into(), &[w, input_dim], input_dim)?;
                init.add("encoder.b1".into(), &[w], input_dim)?;
                init.add("encoder.w2".into(), &[w, w], w)?;
                init.add("encoder.b2".into(), &[w], w)?;
            }
            Arch::LeNet => {
                let (c, conv, flat) = lenet_stages(spec, input_shape, device)?;
                stages = conv;
                let (c1, c2) = lenet_channels(w);
                let k2 = KERNEL * KERNEL;
                init.add("encoder.conv1.w".into(), &[c1, c, KERNEL, KERNEL], c * k2)?;
                init.add("encoder.conv1.b".into(), &[c1], c * k2)?;
                init.add("encoder.conv2.w".into(), &[c2, c1, KERNEL, KERNEL], c1 * k2)?;
                init.add("encoder.conv2.b".into(), &[c2], c1 * k2)?;
                init.add("encoder.fc.w".into(), &[w, flat], flat)?;
                init.add("encoder.fc.b".into(), &[w], flat)?;
            }
        }
        let encoder_len = init.params.len();
        let mut heads = Vec::new();
        for (k, &out) in head_outputs.iter().enumerate() {
            let start = init.params.len();
            match spec.arch {
                Arch::Linear => init.add(format!("head{k}.w"), &[out, w], w)?,
                Arch::Mlp => {
                    init.add(format!("head{k}.w"), &[out, w], w)?;
                    init.add(format!("head{k}.b"), &[out], w)?;
                }
                Arch::LeNet => {
                    init.add(format!("head{k}.w1"), &[w, w], w)?;
                    init.add(format!("head{k}.b1"), &[w], w)?;
                    init.add(format!("head{k}.w2"), &[out, w], w)?;
                    init.add(format!("head{k}.b2"), &[out], w)?;
                }
            }
            heads.push(start..init.params.len());
        }
        Ok(Self {
            spec: spec.clone(),
            stages,
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

    /// The parameters of the encoder's last layer (the one producing the representation):
    /// GradNorm's "last shared layer".
    pub fn last_shared_layer(&self) -> &[Param] {
        let n = match self.spec.arch {
            Arch::Linear => 1,
            Arch::Mlp | Arch::LeNet => 2,
        };
        &self.params[self.encoder_len - n..self.encoder_len]
    }

    /// Index range into [`Model::params`] of head `k`.
    pub fn head_range(&self, k: usize) -> std::ops::Range<usize> {
        self.heads[k].clone()
    }

    /// Number of scalars in `params`.
    pub fn count(params: &[Param]) -> usize {
        params.iter().map(|p| p.var.elem_count()).sum()
    }

    /// The shared representation z of inputs `x` (rows × input_dim; image rows are
    /// reshaped to the model's input shape).
    pub fn encode(&self, x: &Tensor) -> Result<Tensor> {
        self.encode_masked(x, None)
    }

    /// Channels of the encoder's last convolution and width of the heads' hidden layer: where
    /// [`crate::dropout`] masks act (`lenet` only).
    pub fn dropout_widths(&self) -> Option<(usize, usize)> {
        match self.spec.arch {
            Arch::LeNet => Some((lenet_channels(self.spec.width).1, self.spec.width)),
            Arch::Linear | Arch::Mlp => None,
        }
    }

    fn no_dropout_sites(&self) -> Error {
        Error::Internal(format!(
            "a dropout mask was given to model `{}`, which has no dropout sites",
            self.spec.name
        ))
    }

    /// [`Model::encode`] with the second convolution's channels multiplied by
    /// `channel_mask` (`1 × channels`, see [`crate::dropout`]); `None` is the plain encoder.
    pub fn encode_masked(&self, x: &Tensor, channel_mask: Option<&Tensor>) -> Result<Tensor> {
        let p = &self.params;
        if channel_mask.is_some() && self.spec.arch != Arch::LeNet {
            return Err(self.no_dropout_sites());
        }
        match self.spec.arch {
            Arch::Linear => linear(x, &p[0].var, None),
            Arch::Mlp => {
                let h = linear_relu(x, &p[0].var, &p[1].var)?;
                linear_relu(&h, &p[2].var, &p[3].var)
            }
            Arch::LeNet => {
                let rows = x.dim(0)?;
                if rows > LENET_CHUNK {
                    // Patch matrices grow with rows × positions × k²: encode large
                    // (evaluation) batches in chunks to bound memory.
                    let parts = (0..rows)
                        .step_by(LENET_CHUNK)
                        .map(|start| {
                            let part = x.narrow(0, start, LENET_CHUNK.min(rows - start))?;
                            self.encode_masked(&part, channel_mask)
                        })
                        .collect::<Result<Vec<_>>>()?;
                    return Ok(Tensor::cat(&parts, 0)?);
                }
                let h = self.stages[0].forward(x, &p[0].var, &p[1].var, None)?;
                let h = self.stages[1].forward(&h, &p[2].var, &p[3].var, channel_mask)?;
                linear_relu(&h, &p[4].var, &p[5].var)
            }
        }
    }

    /// Head `k`'s output on representation `z`.
    pub fn head(&self, k: usize, z: &Tensor) -> Result<Tensor> {
        self.head_masked(k, z, None)
    }

    /// [`Model::head`] with the hidden layer multiplied element-wise by `mask` (`rows ×
    /// width`, see [`crate::dropout`]); `None` is the plain head.
    pub fn head_masked(&self, k: usize, z: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let r = &self.heads[k];
        let p = &self.params[r.clone()];
        match (self.spec.arch, mask) {
            (Arch::Linear, None) => linear(z, &p[0].var, None),
            (Arch::Mlp, None) => linear(z, &p[0].var, Some(&p[1].var)),
            (Arch::LeNet, _) => {
                let h = linear_relu(z, &p[0].var, &p[1].var)?;
                let h = match mask {
                    Some(m) => h.mul(m)?,
                    None => h,
                };
                linear(&h, &p[2].var, Some(&p[3].var))
            }
            (Arch::Linear | Arch::Mlp, Some(_)) => Err(self.no_dropout_sites()),
        }
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

    /// Flattens `tensors` (parameters in model order, e.g. a [`Model::snapshot`]) to plain
    /// values, for checkpoints and stacked members.
    pub fn flat_values(tensors: &[Tensor]) -> Result<Vec<Vec<f32>>> {
        Ok(tensors
            .iter()
            .map(|t| t.flatten_all()?.to_vec1::<f32>())
            .collect::<candle_core::Result<_>>()?)
    }

    /// The current parameters, model order, flattened.
    pub fn flat_params(&self) -> Result<Vec<Vec<f32>>> {
        let params: Vec<Tensor> = self
            .params
            .iter()
            .map(|p| p.var.as_tensor().clone())
            .collect();
        Self::flat_values(&params)
    }

    /// Plain values (model order, as [`Model::flat_params`] gives them) shaped as the
    /// parameters, on their device: what [`Model::restore`] takes.
    pub fn shaped(&self, values: &[Vec<f32>]) -> Result<Vec<Tensor>> {
        if values.len() != self.params.len() {
            return Err(Error::Internal(format!(
                "{} parameter blocks do not fit model `{}`, which has {}",
                values.len(),
                self.spec.name,
                self.params.len()
            )));
        }
        self.params
            .iter()
            .zip(values)
            .map(|(p, v)| Ok(Tensor::from_slice(v, p.var.shape(), p.var.device())?))
            .collect()
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
        let a = Model::new(&spec, &[5], &[1, 3], 7, &Device::Cpu).unwrap();
        let b = Model::new(&spec, &[5], &[1, 3], 7, &Device::Cpu).unwrap();
        let c = Model::new(&spec, &[5], &[1, 3], 8, &Device::Cpu).unwrap();
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

    #[test]
    fn the_channel_mask_zeroes_whole_channels_of_every_row() {
        use crate::dropout::{Dropout, Masks};
        let spec = ModelSpec::parse("lenet-m").unwrap();
        let m = Model::new(&spec, &[1, 28, 28], &[10, 10], 0, &Device::Cpu).unwrap();
        let rows = 6;
        let x = Tensor::randn(0f32, 1.0, (rows, 784), &Device::Cpu).unwrap();
        let batch = mtl_datasets::Batch {
            groups: vec![mtl_datasets::InputGroup {
                x: x.flatten_all().unwrap().to_vec1().unwrap(),
                rows,
                targets: vec![(0, mtl_datasets::Targets::Labels(vec![0; rows]))],
            }],
        };
        let masks = Masks::draw(Dropout::SenerKoltun, &m, &batch, 1, 0, &Device::Cpu).unwrap();
        let p = &m.params;
        let h = m.stages[0].forward(&x, &p[0].var, &p[1].var, None).unwrap();
        let second = |mask| {
            m.stages[1]
                .forward(&h, &p[2].var, &p[3].var, mask)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap()
        };
        let (plain, masked) = (second(None), second(masks.channels()));
        let c2 = 20;
        let (mut dropped, mut kept) = (0, 0);
        for c in 0..c2 {
            // Channels-last: position-major, so channel c is every c2-th entry of a row.
            let entries = |rows: &[Vec<f32>]| -> Vec<f32> {
                rows.iter()
                    .flat_map(|r| r.iter().skip(c).step_by(c2).copied())
                    .collect::<Vec<_>>()
            };
            let (a, b) = (entries(&plain), entries(&masked));
            assert_eq!(a.len(), rows * 16);
            if b.iter().all(|&v| v == 0.0) && a.iter().any(|&v| v != 0.0) {
                dropped += 1;
            } else {
                assert_eq!(a, b, "channel {c} is neither dropped nor untouched");
                kept += 1;
            }
        }
        assert!(dropped > 0 && kept > 0, "{dropped} dropped, {kept} kept");
        // Off without a mask: the plain encoder is what `encode` computes.
        let z = m.encode(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(
            z,
            m.encode_masked(&x, None).unwrap().to_vec2::<f32>().unwrap()
        );
        assert_ne!(
            z,
            m.encode_masked(&x, masks.channels())
                .unwrap()
                .to_vec2::<f32>()
                .unwrap()
        );
    }

    #[test]
    fn lenet_matches_sener_koltun_at_the_base_width() {
        let spec = ModelSpec::parse("lenet-m").unwrap();
        let m = Model::new(&spec, &[1, 28, 28], &[10, 10], 0, &Device::Cpu).unwrap();
        let shapes: Vec<Vec<usize>> = m.params().iter().map(|p| p.var.dims().to_vec()).collect();
        assert_eq!(
            &shapes[..6],
            &[
                vec![10, 1, 5, 5],
                vec![10],
                vec![20, 10, 5, 5],
                vec![20],
                vec![50, 320],
                vec![50]
            ]
        );
        assert_eq!(
            &shapes[6..10],
            &[vec![50, 50], vec![50], vec![10, 50], vec![10]]
        );
        let x = Tensor::zeros((3, 784), DType::F32, &Device::Cpu).unwrap();
        let z = m.encode(&x).unwrap();
        assert_eq!(z.dims(), [3, 50]);
        // Large batches are encoded in chunks with the same result.
        let big = Tensor::arange(0f32, (LENET_CHUNK + 3) as f32 * 784.0, &Device::Cpu)
            .unwrap()
            .affine(1e-6, 0.0)
            .unwrap()
            .reshape((LENET_CHUNK + 3, 784))
            .unwrap();
        let whole = m.encode(&big).unwrap();
        let tail = m.encode(&big.narrow(0, LENET_CHUNK, 3).unwrap()).unwrap();
        assert_eq!(whole.dims(), [LENET_CHUNK + 3, 50]);
        assert_eq!(
            whole
                .narrow(0, LENET_CHUNK, 3)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap(),
            tail.to_vec2::<f32>().unwrap()
        );
        assert_eq!(m.head(1, &z).unwrap().dims(), [3, 10]);
        // 36 × 36 inputs (pareto-mtl layout): 36 → 32 → 16 → 12 → 6.
        let small = ModelSpec::parse("lenet-s").unwrap();
        let m = Model::new(&small, &[1, 36, 36], &[10], 0, &Device::Cpu).unwrap();
        assert_eq!(m.params()[4].var.dims(), [25, 10 * 36]);
        for bad in [&[784][..], &[1, 12, 12], &[0, 28, 28]] {
            let err = Model::new(&spec, bad, &[10], 0, &Device::Cpu)
                .unwrap_err()
                .to_string();
            assert!(err.contains("lenet-m") && err.contains("16 × 16"), "{err}");
        }
    }
}
