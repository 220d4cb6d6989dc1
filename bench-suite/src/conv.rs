//! Convolution stages of the LeNet encoder.
//!
//! candle's CPU `conv2d` backward goes through `conv_transpose2d` and a convolution with the
//! whole image as kernel, several times slower than the forward pass. On CPU a stage is one
//! fused custom op (`conv_ops::ConvPoolRelu`: patches gathered group by group,
//! multiplied by the kernel matrix, pooled, biased and rectified, with its own backward
//! pass). On other devices it is tensor expressions: every k × k patch gathered with one
//! `index_select` (im2col) into a `(rows · positions) × (c_in · k²)` matrix, a matrix
//! product, and pooling as a reshape and two `max` reductions. A stage's input and output
//! rows are each channels-first (`c, h, w`, the dataset's row layout) or channels-last (`h,
//! w, c`): the encoder keeps the first stage's output channels-first, so the second stage
//! gathers runs of image rows, and flattens the second's channels-last. Kernels keep
//! PyTorch's `(c_out, c_in, k, k)` layout. candle 0.11's own `max_pool2d` is not used: its backward multiplies the
//! gradient of each window's maximum by 1/4 (and misaligns odd sizes), which the tests below
//! pin.

use std::sync::Arc;

use candle_core::{Device, Tensor, Var};

pub(crate) use crate::conv_ops::ChannelOrder;
use crate::conv_ops::{ConvPoolRelu, StageGeometry};
use crate::Result;

/// A valid convolution (stride 1) with bias, then 2 × 2 max-pooling (floor) and relu.
#[derive(Debug, Clone)]
pub(crate) struct ConvStage {
    /// The gather as a tensor, for the generic path.
    index: Tensor,
    geometry: Arc<StageGeometry>,
    /// Output side after pooling, `(height, width)`.
    pub(crate) pooled: (usize, usize),
}

impl ConvStage {
    /// A stage over `c_in × h × w` inputs laid out as `input`, with `k × k` kernels and
    /// outputs laid out as `output`. `None` when the input is too small for a pooled output.
    pub(crate) fn new(
        (c_in, h, w): (usize, usize, usize),
        input: ChannelOrder,
        k: usize,
        output: ChannelOrder,
        device: &Device,
    ) -> Result<Option<Self>> {
        let geometry = StageGeometry {
            input: (c_in, h, w),
            input_order: input,
            k,
            output_order: output,
        };
        let Some((oh, ow)) = geometry.out() else {
            return Ok(None);
        };
        if oh < 2 || ow < 2 {
            return Ok(None);
        }
        let mut index = Vec::with_capacity(oh * ow * geometry.patch());
        for y in 0..oh {
            for x in 0..ow {
                for c in 0..c_in {
                    for ky in 0..k {
                        for kx in 0..k {
                            index.push(geometry.input_offset((y, x), (c, ky, kx)) as u32);
                        }
                    }
                }
            }
        }
        let len = index.len();
        Ok(Some(Self {
            index: Tensor::from_vec(index, len, device)?,
            pooled: geometry.pooled(),
            geometry: Arc::new(geometry),
        }))
    }

    /// Inputs `rows × (c_in·h·w)` → outputs `rows × (pooled_h · pooled_w · c_out)`,
    /// channels-last, for kernel `w` (`c_out × c_in × k × k`) and bias `b` (`c_out`).
    /// `channel_mask` (`1 × c_out`, entries 0 or 1) multiplies every position of each output
    /// channel: the same as masking the convolution before pooling and relu, which commute
    /// with a 0/1 factor per channel (see [`crate::dropout`]).
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        w: &Var,
        b: &Var,
        channel_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let y = self.forward_on(x, w, b, x.device().is_cpu())?;
        match channel_mask {
            Some(mask) => self.mask(y, w.dim(0)?, mask),
            None => Ok(y),
        }
    }

    /// The stage's output `y` with each of its `c_out` channels multiplied by `mask`.
    fn mask(&self, y: Tensor, c_out: usize, mask: &Tensor) -> Result<Tensor> {
        let rows = y.dim(0)?;
        let positions = self.pooled.0 * self.pooled.1;
        let (shape, mask_shape) = if self.geometry.output_order == ChannelOrder::First {
            ((rows, c_out, positions), (1, c_out, 1))
        } else {
            ((rows, positions, c_out), (1, 1, c_out))
        };
        Ok(y.reshape(shape)?
            .broadcast_mul(&mask.reshape(mask_shape)?)?
            .reshape((rows, positions * c_out))?)
    }

    /// [`ConvStage::forward`] without a mask, with the fused CPU op (`kernels`) or tensor
    /// expressions.
    fn forward_on(&self, x: &Tensor, w: &Var, b: &Var, kernels: bool) -> Result<Tensor> {
        if kernels {
            let op = ConvPoolRelu::new(self.geometry.clone());
            return Ok(x
                .contiguous()?
                .apply_op3(w.as_tensor(), b.as_tensor(), op)?);
        }
        let rows = x.dim(0)?;
        let c_out = w.dim(0)?;
        let patch = self.geometry.patch();
        let (out_h, out_w) = self.geometry.out().unwrap_or_default();
        let (ph, pw) = self.pooled;
        let (oh, ow) = (2 * ph, 2 * pw);
        let y = x
            .index_select(&self.index, 1)?
            .reshape((rows * out_h * out_w, patch))?
            .matmul(&w.as_tensor().reshape((c_out, patch))?.t()?)?
            .broadcast_add(b.as_tensor())?
            .reshape((rows, out_h, out_w, c_out))?;
        let y = if (out_h, out_w) == (oh, ow) {
            y
        } else {
            y.narrow(1, 0, oh)?.narrow(2, 0, ow)?
        };
        let pooled = y.reshape((rows, ph, 2, pw, 2, c_out))?.max(4)?.max(2)?;
        let pooled = if self.geometry.output_order == ChannelOrder::First {
            pooled.permute((0, 3, 1, 2))?
        } else {
            pooled
        };
        Ok(pooled.reshape((rows, ph * pw * c_out))?.relu()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(shape: &[usize], seed: u64) -> Var {
        crate::cpu_ops::seeded_var(shape, seed)
    }

    /// candle's conv2d with bias, then `pool`, relu, permuted to channels-last.
    fn reference(x: &Tensor, w: &Var, b: &Var, pool: impl Fn(Tensor) -> Tensor) -> Tensor {
        reference_in(ChannelOrder::Last, x, w, b, pool)
    }

    /// [`reference`] with rows in `order`.
    fn reference_in(
        order: ChannelOrder,
        x: &Tensor,
        w: &Var,
        b: &Var,
        pool: impl Fn(Tensor) -> Tensor,
    ) -> Tensor {
        let c = w.dim(0).unwrap();
        let y = x
            .conv2d(w.as_tensor(), 0, 1, 1, 1)
            .unwrap()
            .broadcast_add(&b.as_tensor().reshape((1, c, 1, 1)).unwrap())
            .unwrap();
        let y = pool(y).relu().unwrap();
        let y = match order {
            ChannelOrder::First => y,
            ChannelOrder::Last => y.permute((0, 2, 3, 1)).unwrap(),
        };
        y.flatten_from(1).unwrap()
    }

    /// 2 × 2 max-pooling by reshape-and-max (candle 0.11's `max_pool2d` backward scales the
    /// gradient by 1/4 and misaligns odd sizes).
    fn pool_by_max(y: Tensor) -> Tensor {
        let (n, c, h, w) = y.dims4().unwrap();
        let (ph, pw) = (h / 2, w / 2);
        y.narrow(2, 0, 2 * ph)
            .unwrap()
            .narrow(3, 0, 2 * pw)
            .unwrap()
            .reshape((n, c, ph, 2, pw, 2))
            .unwrap()
            .max(5)
            .unwrap()
            .max(3)
            .unwrap()
    }

    /// A CPU stage that fits its input.
    fn cpu_stage(
        input: (usize, usize, usize),
        from: ChannelOrder,
        k: usize,
        to: ChannelOrder,
    ) -> ConvStage {
        ConvStage::new(input, from, k, to, &Device::Cpu)
            .unwrap()
            .unwrap()
    }

    fn close(a: &Tensor, b: &Tensor) {
        let d = a.sub(b).unwrap().abs().unwrap().max_all().unwrap();
        assert!(d.to_scalar::<f32>().unwrap() < 1e-4, "max diff {d}");
    }

    #[test]
    fn stages_match_candle_conv_pool_relu_in_value_and_gradient() {
        let dev = Device::Cpu;
        // Odd 13 × 11 input: outputs 9 × 7, pooled 4 × 3 (floor), as max_pool2d.
        let x = var(&[3, 2, 13, 11], 1);
        let (w, b) = (var(&[4, 2, 5, 5], 2), var(&[4], 3));
        let stage = cpu_stage((2, 13, 11), ChannelOrder::First, 5, ChannelOrder::Last);
        assert_eq!(stage.pooled, (4, 3));
        let ours = stage
            .forward(&x.as_tensor().flatten_from(1).unwrap(), &w, &b, None)
            .unwrap();
        let theirs = reference(x.as_tensor(), &w, &b, pool_by_max);
        close(&ours, &theirs);
        let generic = stage
            .forward_on(&x.as_tensor().flatten_from(1).unwrap(), &w, &b, false)
            .unwrap();
        close(&generic, &theirs);
        // Values (not gradients) also agree with candle's own max_pool2d.
        let candle = reference(x.as_tensor(), &w, &b, |y| y.max_pool2d(2).unwrap());
        close(&ours, &candle);
        let g_ours = ours.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let g_theirs = theirs.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let g_generic = generic
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&x, &w, &b] {
            let want = g_theirs.get(v.as_tensor()).unwrap();
            close(g_ours.get(v.as_tensor()).unwrap(), want);
            close(g_generic.get(v.as_tensor()).unwrap(), want);
        }
        // A channels-last input gives the same result and gradients as its channels-first twin.
        let last = x
            .as_tensor()
            .permute((0, 2, 3, 1))
            .unwrap()
            .flatten_from(1)
            .unwrap();
        let stage = cpu_stage((2, 13, 11), ChannelOrder::Last, 5, ChannelOrder::Last);
        let from_last = stage.forward(&last, &w, &b, None).unwrap();
        close(&from_last, &theirs);
        let g_last = from_last
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&x, &w, &b] {
            close(
                g_last.get(v.as_tensor()).unwrap(),
                g_theirs.get(v.as_tensor()).unwrap(),
            );
        }
        assert!(
            ConvStage::new((1, 5, 5), ChannelOrder::First, 5, ChannelOrder::Last, &dev)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_channel_mask_after_pooling_equals_one_before_it() {
        // Sener & Koltun mask the convolution's output, then pool and rectify; the stage
        // masks its pooled, rectified output. Same values and gradients for a 0/1 mask.
        let dev = Device::Cpu;
        let x = var(&[3, 2, 12, 12], 4);
        let (w, b) = (var(&[4, 2, 5, 5], 5), var(&[4], 6));
        let mask = Tensor::new(&[[1f32, 0.0, 0.0, 1.0]], &dev).unwrap();
        let stage = cpu_stage((2, 12, 12), ChannelOrder::First, 5, ChannelOrder::Last);
        let ours = stage
            .forward(&x.as_tensor().flatten_from(1).unwrap(), &w, &b, Some(&mask))
            .unwrap();
        let nchw = mask.reshape((1, 4, 1, 1)).unwrap();
        let masked_first = |y: Tensor| pool_by_max(y.broadcast_mul(&nchw).unwrap());
        let theirs = reference(x.as_tensor(), &w, &b, masked_first);
        close(&ours, &theirs);
        let g_ours = ours.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let g_theirs = theirs.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        for v in [&x, &w, &b] {
            close(
                g_ours.get(v.as_tensor()).unwrap(),
                g_theirs.get(v.as_tensor()).unwrap(),
            );
        }
        // The masked channels get no gradient at all.
        let gb = g_ours.get(b.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        assert!(
            gb[1] == 0.0 && gb[2] == 0.0 && gb[0] != 0.0 && gb[3] != 0.0,
            "{gb:?}"
        );
    }

    #[test]
    fn a_channels_first_output_holds_the_same_stage_in_c_h_w_order() {
        let dev = Device::Cpu;
        let x = var(&[3, 2, 13, 11], 14);
        let (w, b) = (var(&[4, 2, 5, 5], 15), var(&[4], 16));
        let rows = x.as_tensor().flatten_from(1).unwrap();
        let stage = cpu_stage((2, 13, 11), ChannelOrder::First, 5, ChannelOrder::First);
        let mask = Tensor::new(&[[1f32, 0.0, 1.0, 1.0]], &dev).unwrap();
        let nchw = mask.reshape((1, 4, 1, 1)).unwrap();
        let theirs = reference_in(ChannelOrder::First, x.as_tensor(), &w, &b, |y| {
            pool_by_max(y.broadcast_mul(&nchw).unwrap())
        });
        let g_theirs = theirs.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        for kernels in [true, false] {
            let ours = stage.forward_on(&rows, &w, &b, kernels).unwrap();
            let ours = stage.mask(ours, 4, &mask).unwrap();
            close(&ours, &theirs);
            let g_ours = ours.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            for v in [&x, &w, &b] {
                close(
                    g_ours.get(v.as_tensor()).unwrap(),
                    g_theirs.get(v.as_tensor()).unwrap(),
                );
            }
        }
    }

    /// Σ out² of a stage and its gradients with respect to input, kernel and bias.
    fn loss_and_grads(stage: &ConvStage, x: &Var, w: &Var, b: &Var) -> (f32, Vec<Vec<f32>>) {
        let out = stage.forward(x.as_tensor(), w, b, None).unwrap();
        let loss = out.sqr().unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let flat = |v: &Var| {
            grads
                .get(v.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        (loss.to_scalar().unwrap(), vec![flat(x), flat(w), flat(b)])
    }

    #[test]
    fn gradients_match_finite_differences_where_candle_max_pool_does_not() {
        let dev = Device::Cpu;
        let x = var(&[2, 2 * 9 * 8], 7);
        let (w, b) = (var(&[3, 2, 3, 3], 8), var(&[3], 9));
        let stage = cpu_stage((2, 9, 8), ChannelOrder::First, 3, ChannelOrder::Last);
        let (_, grads) = loss_and_grads(&stage, &x, &w, &b);
        let loss_at = |v: &Var, i: usize, h: f32| {
            let mut values = v
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            values[i] += h;
            let moved = Tensor::from_vec(values, v.shape(), &dev).unwrap();
            let (x, w, b) = match v.dims().len() {
                2 => (moved, w.as_tensor().clone(), b.as_tensor().clone()),
                4 => (x.as_tensor().clone(), moved, b.as_tensor().clone()),
                _ => (x.as_tensor().clone(), w.as_tensor().clone(), moved),
            };
            let (x, w, b) = (
                Var::from_tensor(&x).unwrap(),
                Var::from_tensor(&w).unwrap(),
                Var::from_tensor(&b).unwrap(),
            );
            loss_and_grads(&stage, &x, &w, &b).0
        };
        let h = 1e-2;
        for (v, grad) in [&x, &w, &b].into_iter().zip(&grads) {
            for i in (0..grad.len()).step_by(grad.len().div_ceil(12)) {
                let numeric = (loss_at(v, i, h) - loss_at(v, i, -h)) / (2.0 * h);
                let tolerance = 2e-2 * numeric.abs().max(1.0);
                assert!(
                    (numeric - grad[i]).abs() < tolerance,
                    "entry {i} of {:?}: analytic {} vs numeric {numeric}",
                    v.dims(),
                    grad[i]
                );
            }
        }
        // candle 0.11's max_pool2d routes a quarter of each window's gradient: on an even
        // map its bias gradient is a quarter of ours. Pinned, so a fixed candle is noticed.
        let x = var(&[2, 2 * 10 * 10], 13);
        let stage = cpu_stage((2, 10, 10), ChannelOrder::First, 3, ChannelOrder::Last);
        let (_, grads) = loss_and_grads(&stage, &x, &w, &b);
        let nchw = x.as_tensor().reshape((2, 2, 10, 10)).unwrap();
        let candle = reference(&nchw, &w, &b, |y| y.max_pool2d(2).unwrap());
        let g = candle.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let candle_db = g.get(b.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        for (theirs, ours) in candle_db.iter().zip(&grads[2]) {
            assert!(
                (theirs * 4.0 - ours).abs() < 1e-3 * ours.abs().max(1.0),
                "{theirs} vs {ours}"
            );
        }
    }

    #[test]
    fn the_cpu_op_gives_the_same_bits_on_any_number_of_threads() {
        // 21 examples: groups of 4 with a short last one.
        let x = var(&[21, 3 * 12 * 12], 10);
        let (w, b) = (var(&[5, 3, 5, 5], 11), var(&[5], 12));
        let stage = cpu_stage((3, 12, 12), ChannelOrder::Last, 5, ChannelOrder::Last);
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let out = stage.forward(x.as_tensor(), &w, &b, None).unwrap();
                let (_, grads) = loss_and_grads(&stage, &x, &w, &b);
                (out.flatten_all().unwrap().to_vec1::<f32>().unwrap(), grads)
            })
        };
        let one = on(1);
        assert!(one.0.iter().any(|&v| v > 0.0) && one.0.contains(&0.0));
        for threads in [2, 3] {
            assert_eq!(on(threads), one, "{threads} threads");
        }
    }
}
