//! The CPU kernel of a LeNet stage — valid convolution, bias, 2 × 2 max-pooling (floor) and
//! relu — as one candle custom op with its backward pass.
//!
//! Examples are processed in fixed groups of [`GROUP`] on rayon's pool. For each group the
//! patches are gathered (im2col) into a scratch matrix that stays in cache, one row per patch
//! entry and one column per output position, so the gather copies runs of an input row. The
//! kernel matrix times that matrix (`gemm`, the crate behind candle's CPU matmul) gives the
//! convolution channel by channel, and it is pooled straight away: bias and relu act on the
//! pooled values only (a per-channel bias commutes with the window maximum), and the window
//! that won is kept, one byte per output, for the backward pass. Nothing of size rows ×
//! positions × patch is ever materialised. The backward pass regathers each group's patches
//! and makes two products per group: the kernel gradient (summed over groups in group order,
//! so results do not depend on the thread count) and, when the input needs one, the patch
//! gradient, added back into the input (col2im) so that each input entry sums its
//! contributions in the order of their output positions.
//!
//! The maximum of a window is its first maximum in row-major order; relu passes the gradient
//! where its input is ≥ 0, as candle's relu does.

use std::sync::{Arc, Mutex};

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_ops::{f32_slice, matmul, with_values, Threads, View};

/// Examples per task: each group's scratch (patches and products) stays small and the split
/// is independent of the thread count.
const GROUP: usize = 4;

/// Route byte of an output whose relu input was negative (no gradient).
const INACTIVE: u8 = 4;

/// How the values of one example are ordered in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelOrder {
    /// `c, h, w`.
    First,
    /// `h, w, c`.
    Last,
}

/// Shape of one stage: input, kernel, output grid and the two activation layouts.
#[derive(Debug, Clone)]
pub(crate) struct StageGeometry {
    /// Input channels, height and width.
    pub(crate) input: (usize, usize, usize),
    /// How an input row is ordered.
    pub(crate) input_order: ChannelOrder,
    /// Kernel side.
    pub(crate) k: usize,
    /// How an output row is ordered.
    pub(crate) output_order: ChannelOrder,
}

impl StageGeometry {
    /// Input values per example.
    pub(crate) fn in_len(&self) -> usize {
        let (c, h, w) = self.input;
        c * h * w
    }

    /// Entries per patch (`c_in · k²`), ordered `(c, ky, kx)` as PyTorch's kernels.
    pub(crate) fn patch(&self) -> usize {
        self.input.0 * self.k * self.k
    }

    /// Convolution output height and width (`None` when the kernel does not fit).
    pub(crate) fn out(&self) -> Option<(usize, usize)> {
        let (_, h, w) = self.input;
        Some((h.checked_sub(self.k - 1)?, w.checked_sub(self.k - 1)?))
    }

    fn out_or_zero(&self) -> (usize, usize) {
        self.out().unwrap_or((0, 0))
    }

    fn positions(&self) -> usize {
        let (oh, ow) = self.out_or_zero();
        oh * ow
    }

    /// Pooled output height and width.
    pub(crate) fn pooled(&self) -> (usize, usize) {
        let (oh, ow) = self.out_or_zero();
        (oh / 2, ow / 2)
    }

    /// Offset in an example's input of patch entry `(c, ky, kx)` at output `(y, x)`.
    pub(crate) fn input_offset(
        &self,
        (y, x): (usize, usize),
        (c, ky, kx): (usize, usize, usize),
    ) -> usize {
        let (c_in, h, w) = self.input;
        let (yy, xx) = (y + ky, x + kx);
        match self.input_order {
            ChannelOrder::First => (c * h + yy) * w + xx,
            ChannelOrder::Last => (yy * w + xx) * c_in + c,
        }
    }

    /// Step in an example's input between neighbouring output columns.
    fn input_step(&self) -> usize {
        match self.input_order {
            ChannelOrder::First => 1,
            ChannelOrder::Last => self.input.0,
        }
    }

    /// Patch entry `j` as `(c, ky, kx)`.
    fn entry(&self, j: usize) -> (usize, usize, usize) {
        let k2 = self.k * self.k;
        (j / k2, j % k2 / self.k, j % self.k)
    }

    /// Offset in an example's output of channel `ch` at pooled `(y, x)`.
    fn output_offset(&self, c_out: usize, ch: usize, (y, x): (usize, usize)) -> usize {
        let (ph, pw) = self.pooled();
        match self.output_order {
            ChannelOrder::First => (ch * ph + y) * pw + x,
            ChannelOrder::Last => (y * pw + x) * c_out + ch,
        }
    }

    /// Gathers the patches of `x` (`n` examples) into `cols`, `patch × (n · positions)`: row
    /// `(c, ky, kx)`, column `(example, y, x)`.
    fn gather(&self, x: &[f32], cols: &mut Vec<f32>) {
        let in_len = self.in_len();
        let n = x.len() / in_len;
        let (oh, ow) = self.out_or_zero();
        let m = n * oh * ow;
        let step = self.input_step();
        cols.resize(self.patch() * m, 0.0);
        for (j, row) in cols.chunks_exact_mut(m).enumerate() {
            let entry = self.entry(j);
            for (example, row) in x.chunks_exact(in_len).zip(row.chunks_exact_mut(oh * ow)) {
                for (y, dst) in row.chunks_exact_mut(ow).enumerate() {
                    let src = &example[self.input_offset((y, 0), entry)..];
                    if step == 1 {
                        copy_run(dst, &src[..ow]);
                    } else {
                        for (d, s) in dst.iter_mut().zip(src.iter().step_by(step)) {
                            *d = *s;
                        }
                    }
                }
            }
        }
    }

    /// Adds the patch gradients `dcols` (laid out as [`Self::gather`]'s matrix) into the input
    /// gradient `dx` (`n × in_len`). Entries go in descending patch order, so every input
    /// entry receives its contributions in ascending order of output position.
    fn scatter_add(&self, dcols: &[f32], dx: &mut [f32]) {
        let in_len = self.in_len();
        let (oh, ow) = self.out_or_zero();
        let m = dx.len() / in_len * oh * ow;
        let step = self.input_step();
        for (j, row) in dcols.chunks_exact(m).enumerate().rev() {
            let entry = self.entry(j);
            for (example, row) in dx.chunks_exact_mut(in_len).zip(row.chunks_exact(oh * ow)) {
                for (y, src) in row.chunks_exact(ow).enumerate() {
                    let dst = &mut example[self.input_offset((y, 0), entry)..];
                    if step == 1 {
                        for (d, s) in dst[..ow].iter_mut().zip(src) {
                            *d += *s;
                        }
                    } else {
                        for (d, s) in dst.iter_mut().step_by(step).zip(src) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }

    /// Where channel `ch`'s pooled outputs sit in an example's output: the first one's offset
    /// and the step between neighbours along a row (rows follow at `pw` steps).
    fn pooled_channel(&self, c_out: usize, ch: usize) -> (usize, usize) {
        let step = match self.output_order {
            ChannelOrder::First => 1,
            ChannelOrder::Last => c_out,
        };
        (self.output_offset(c_out, ch, (0, 0)), step)
    }

    /// Pools channel `ch` of one example: `conv` holds its `positions` convolution values
    /// (row-major); each 2 × 2 window's first maximum plus `bias`, rectified, goes to `out`,
    /// and the window entry it came from (row-major, 0..4; [`INACTIVE`] where the relu cut it)
    /// to `routes`, both at the example's output offsets.
    fn pool_forward(
        &self,
        (c_out, ch): (usize, usize),
        conv: &[f32],
        bias: f32,
        out: &mut [f32],
        routes: &mut [u8],
    ) {
        let (ph, pw) = self.pooled();
        let (_, ow) = self.out_or_zero();
        let (first, step) = self.pooled_channel(c_out, ch);
        let pool = |(o, r): (&mut f32, &mut u8), (top, bottom): (&[f32], &[f32])| {
            let (k, max) = first_max([top[0], top[1], bottom[0], bottom[1]]);
            let pre = max + bias;
            (*o, *r) = if pre >= 0.0 {
                (pre, k)
            } else {
                (0.0, INACTIVE)
            };
        };
        for y in 0..ph {
            let top = conv[2 * y * ow..][..2 * pw].chunks_exact(2);
            let bottom = conv[(2 * y + 1) * ow..][..2 * pw].chunks_exact(2);
            let at = first + y * pw * step;
            // Channels-first outputs (the first stage, the larger one) are plain slices; the
            // strided walk serves channels-last. Both pool the same windows in the same order.
            if step == 1 {
                let outs = out[at..at + pw].iter_mut().zip(&mut routes[at..at + pw]);
                outs.zip(top.zip(bottom)).for_each(|(o, w)| pool(o, w));
            } else {
                let outs = out[at..].iter_mut().step_by(step).take(pw);
                let outs = outs.zip(routes[at..].iter_mut().step_by(step));
                outs.zip(top.zip(bottom)).for_each(|(o, w)| pool(o, w));
            }
        }
    }

    /// The backward pass of [`Self::pool_forward`] for channel `ch` of one example: each
    /// output's gradient in `grad` goes to its window's maximum in `dconv` (position-major,
    /// `positions × c_out`) and is added to the bias gradient `db`, outputs in row-major order.
    fn pool_backward(
        &self,
        (c_out, ch): (usize, usize),
        grad: &[f32],
        routes: &[u8],
        dconv: &mut [f32],
        db: &mut f32,
    ) {
        let (ph, pw) = self.pooled();
        let (_, ow) = self.out_or_zero();
        let (first, step) = self.pooled_channel(c_out, ch);
        for y in 0..ph {
            for x in 0..pw {
                let o = first + (y * pw + x) * step;
                let route = routes[o];
                if route == INACTIVE {
                    continue;
                }
                let (dy, dx) = (usize::from(route) / 2, usize::from(route) % 2);
                dconv[((2 * y + dy) * ow + 2 * x + dx) * c_out + ch] = grad[o];
                *db += grad[o];
            }
        }
    }
}

/// One forward call of a stage: `(x: rows × in_len, w: c_out × c_in × k × k, b: c_out)` →
/// `rows × (pooled positions · c_out)`, ordered as the geometry's output. Keeps the routes of its outputs for
/// its backward pass, so each forward call uses a fresh op.
#[derive(Debug)]
pub(crate) struct ConvPoolRelu {
    geometry: Arc<StageGeometry>,
    /// Per output: the window entry (0..4) that was the maximum, or [`INACTIVE`].
    routes: Mutex<Vec<u8>>,
}

impl ConvPoolRelu {
    pub(crate) fn new(geometry: Arc<StageGeometry>) -> Self {
        Self {
            geometry,
            routes: Mutex::new(Vec::new()),
        }
    }
}

/// Scratch buffers of one rayon task.
#[derive(Default)]
struct Scratch {
    cols: Vec<f32>,
    conv: Vec<f32>,
}

impl ConvPoolRelu {
    fn dims(&self, x: &Layout, w: &Layout, b: &Layout) -> candle_core::Result<(usize, usize)> {
        let g = &self.geometry;
        let rows = match x.dims() {
            &[rows, width] if width == g.in_len() => rows,
            dims => bail!(
                "lenet stage: expected inputs rows × {}, got {dims:?}",
                g.in_len()
            ),
        };
        let c_out = w.dims().first().copied().unwrap_or(0);
        if w.shape().elem_count() != c_out * g.patch() || b.dims() != [c_out] {
            bail!(
                "lenet stage: kernel {:?} and bias {:?} do not fit patches of {}",
                w.dims(),
                b.dims(),
                g.patch()
            );
        }
        Ok((rows, c_out))
    }
}

impl CustomOp3 for ConvPoolRelu {
    fn name(&self) -> &'static str {
        "lenet-conv-pool-relu"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, c_out) = self.dims(lx, lw, lb)?;
        let (x, w, b) = (
            f32_slice(sx, lx, "lenet stage input")?,
            f32_slice(sw, lw, "lenet stage kernel")?,
            f32_slice(sb, lb, "lenet stage bias")?,
        );
        let g = &self.geometry;
        let (in_len, patch, positions) = (g.in_len(), g.patch(), g.positions());
        let (ph, pw) = g.pooled();
        let out_len = ph * pw * c_out;
        let mut out = vec![0f32; rows * out_len];
        let mut routes = vec![0u8; rows * out_len];
        out.par_chunks_mut(GROUP * out_len)
            .zip(routes.par_chunks_mut(GROUP * out_len))
            .zip(x.par_chunks(GROUP * in_len))
            .for_each_init(Scratch::default, |s, ((out, routes), x)| {
                let m = x.len() / in_len * positions;
                g.gather(x, &mut s.cols);
                s.conv.resize(c_out * m, 0.0);
                // conv (c_out × m) = kernel (c_out × patch) · cols (patch × m).
                matmul(
                    (c_out, m, patch),
                    &mut s.conv,
                    m,
                    View {
                        data: w,
                        rs: patch,
                        cs: 1,
                    },
                    View {
                        data: &s.cols,
                        rs: m,
                        cs: 1,
                    },
                    false,
                    Threads::One,
                );
                for (ch, conv) in s.conv.chunks_exact(m).enumerate() {
                    for ((out, routes), conv) in out
                        .chunks_exact_mut(out_len)
                        .zip(routes.chunks_exact_mut(out_len))
                        .zip(conv.chunks_exact(positions))
                    {
                        g.pool_forward((c_out, ch), conv, b[ch], out, routes);
                    }
                }
            });
        *self.routes.lock().expect("routes lock") = routes;
        Ok((CpuStorage::F32(out), Shape::from((rows, out_len))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (x, w) = (x.contiguous()?, w.contiguous()?);
        let (rows, c_out) = self.dims(x.layout(), w.layout(), b.layout())?;
        let g = &self.geometry;
        let (in_len, patch, positions) = (g.in_len(), g.patch(), g.positions());
        let (ph, pw) = g.pooled();
        let out_len = ph * pw * c_out;
        let routes = self.routes.lock().expect("routes lock");
        if routes.len() != rows * out_len {
            bail!("lenet stage: backward without its forward pass");
        }
        let need_input = x.track_op();
        let groups = rows.div_ceil(GROUP);
        // Per group: kernel and bias gradients, summed afterwards in group order.
        let mut partial = vec![0f32; groups * (c_out * patch + c_out)];
        let mut dx = vec![0f32; if need_input { rows * in_len } else { 0 }];
        with_values(&x, "lenet stage input", |xv| {
            with_values(&w, "lenet stage kernel", |wv| {
                with_values(&grad, "lenet stage gradient", |gv| {
                    // Each group's slice of the input gradient (empty when none is needed).
                    let dx_groups: Vec<&mut [f32]> = if need_input {
                        dx.chunks_mut(GROUP * in_len).collect()
                    } else {
                        (0..groups).map(|_| &mut [][..]).collect()
                    };
                    partial
                        .par_chunks_mut(c_out * patch + c_out)
                        .zip(dx_groups.into_par_iter())
                        .zip(xv.par_chunks(GROUP * in_len))
                        .zip(gv.par_chunks(GROUP * out_len))
                        .zip(routes.par_chunks(GROUP * out_len))
                        .for_each_init(Scratch::default, |s, ((((partial, dx), x), gr), rt)| {
                            let m = x.len() / in_len * positions;
                            let (dw, db) = partial.split_at_mut(c_out * patch);
                            // Route each output's gradient to its window's maximum; each
                            // channel's bias sums its outputs example by example, row-major.
                            // The convolution's gradient is laid out position by position
                            // (`m × c_out`): a product whose operands both run along its long
                            // inner dimension (`m`) sums in another order in `gemm`.
                            s.conv.clear();
                            s.conv.resize(m * c_out, 0.0);
                            for (ch, db) in db.iter_mut().enumerate() {
                                for (e, (gr, rt)) in gr
                                    .chunks_exact(out_len)
                                    .zip(rt.chunks_exact(out_len))
                                    .enumerate()
                                {
                                    let dconv = &mut s.conv[e * positions * c_out..];
                                    g.pool_backward((c_out, ch), gr, rt, dconv, db);
                                }
                            }
                            g.gather(x, &mut s.cols);
                            // dW (c_out × patch) = dconvᵀ · colsᵀ.
                            matmul(
                                (c_out, patch, m),
                                dw,
                                patch,
                                View {
                                    data: &s.conv,
                                    rs: 1,
                                    cs: c_out,
                                },
                                View {
                                    data: &s.cols,
                                    rs: 1,
                                    cs: m,
                                },
                                false,
                                Threads::One,
                            );
                            if dx.is_empty() {
                                return;
                            }
                            // dcols (patch × m) = Wᵀ · dconvᵀ, reusing the patch buffer.
                            let dcols = &mut s.cols;
                            matmul(
                                (patch, m, c_out),
                                dcols,
                                m,
                                View {
                                    data: wv,
                                    rs: 1,
                                    cs: patch,
                                },
                                View {
                                    data: &s.conv,
                                    rs: 1,
                                    cs: c_out,
                                },
                                false,
                                Threads::One,
                            );
                            g.scatter_add(dcols, dx);
                        });
                    Ok(())
                })
            })
        })?;
        let width = c_out * patch + c_out;
        let mut total = vec![0f32; width];
        for part in partial.chunks_exact(width) {
            for (t, p) in total.iter_mut().zip(part) {
                *t += p;
            }
        }
        let db = total.split_off(c_out * patch);
        let device = x.device();
        let dw = Tensor::from_vec(total, w.shape(), device)?;
        let db = Tensor::from_vec(db, c_out, device)?;
        let dx = if need_input {
            Some(Tensor::from_vec(dx, (rows, in_len), device)?)
        } else {
            None
        };
        Ok((dx, Some(dw), Some(db)))
    }
}

/// Copies a short run: eight lanes at a time, then the rest, inline (a `memcpy` call per
/// run of an image row costs more than the copy).
fn copy_run(dst: &mut [f32], src: &[f32]) {
    let mut dst = dst.chunks_exact_mut(8);
    let mut src = src.chunks_exact(8);
    for (d, s) in (&mut dst).zip(&mut src) {
        let lanes: [f32; 8] = s.try_into().expect("eight lanes");
        d.copy_from_slice(&lanes);
    }
    for (d, s) in dst.into_remainder().iter_mut().zip(src.remainder()) {
        *d = *s;
    }
}

/// The first maximum of a 2 × 2 window (row-major): its entry (0..4) and value.
#[inline(always)]
fn first_max(window: [f32; 4]) -> (u8, f32) {
    let mut best = (0, window[0]);
    for (k, &v) in (1u8..).zip(&window[1..]) {
        if v > best.1 {
            best = (k, v);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `len` distinct-ish values in (−1.4, 1.4).
    fn values(len: usize, mul: usize, modulus: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * mul % modulus) as f32 / (modulus as f32 / 2.0) - 1.0) * 1.37)
            .collect()
    }

    /// `rows × cols` row-major, transposed.
    fn transposed(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..cols)
            .flat_map(|j| (0..rows).map(move |i| v[i * cols + j]))
            .collect()
    }

    fn product(mnk: (usize, usize, usize), lhs: View, rhs: View) -> Vec<f32> {
        let mut out = vec![0f32; mnk.0 * mnk.1];
        matmul(mnk, &mut out, mnk.1, lhs, rhs, false, Threads::One);
        out
    }

    fn view(data: &[f32], rs: usize, cs: usize) -> View<'_> {
        View { data, rs, cs }
    }

    /// The stage's three products, with the operand layouts the op uses, give the bits of the
    /// same products over position-major patches (`positions × patch`, the layout of earlier
    /// versions), for every stage of the width ladder and every group size: records did not
    /// change with the layout. Some layouts would change them: with both operands running
    /// along a long inner dimension, `gemm` sums in another order.
    #[test]
    fn products_give_the_bits_of_position_major_patches() {
        // (positions, c_out, patch): lenet-xs … lenet-l on 28 × 28 and 36 × 36 images.
        let stages = [
            (576, 3, 25),
            (576, 5, 25),
            (576, 10, 25),
            (576, 20, 25),
            (1024, 10, 25),
            (64, 5, 75),
            (64, 10, 125),
            (64, 20, 250),
            (64, 40, 500),
            (144, 20, 250),
        ];
        for n in 1..=GROUP {
            for (positions, c, p) in stages {
                let m = n * positions;
                let cols = values(m * p, 7919, 1000);
                let cols_t = transposed(&cols, m, p);
                let w = values(c * p, 104729, 997);
                let dconv = values(m * c, 31337, 991);
                let at = format!("{n} examples, {positions} positions, {c} channels, patch {p}");
                // Forward: (cols · Wᵀ)ᵀ = W · colsᵀ.
                let before = product((m, c, p), view(&cols, p, 1), view(&w, 1, p));
                let now = product((c, m, p), view(&w, p, 1), view(&cols_t, m, 1));
                assert_eq!(transposed(&before, m, c), now, "forward, {at}");
                // Kernel gradient: dconvᵀ · cols.
                let before = product((c, p, m), view(&dconv, 1, c), view(&cols, p, 1));
                let now = product((c, p, m), view(&dconv, 1, c), view(&cols_t, 1, m));
                assert_eq!(before, now, "kernel gradient, {at}");
                // Patch gradient: (dconv · W)ᵀ = Wᵀ · dconvᵀ.
                let before = product((m, p, c), view(&dconv, c, 1), view(&w, p, 1));
                let now = product((p, m, c), view(&w, 1, p), view(&dconv, 1, c));
                assert_eq!(transposed(&before, m, p), now, "patch gradient, {at}");
            }
        }
    }
}
