//! The CPU kernel of a LeNet stage — valid convolution, bias, 2 × 2 max-pooling (floor) and
//! relu — as one candle custom op with its backward pass.
//!
//! Examples are processed in fixed groups of [`GROUP`] on rayon's pool. For each group the
//! patches are gathered (im2col) into a scratch matrix that stays in cache, multiplied by the
//! kernel matrix with `gemm` (the crate behind candle's CPU matmul), and the product is pooled
//! straight away: bias and relu act on the pooled values only (a per-channel bias commutes
//! with the window maximum), and the window that won is kept, one byte per output, for the
//! backward pass. Nothing of size rows × positions × patch is ever materialised, which is what
//! the earlier gather-then-matmul ops spent most of their time allocating, zeroing and paging
//! in. The backward pass regathers each group's patches and makes two products per group:
//! the kernel gradient (summed over groups in group order, so results do not depend on the
//! thread count) and, when the input needs one, the patch gradient, scattered back (col2im).
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

/// Shape of one stage: input width, patch gather, output grid and channels.
#[derive(Debug)]
pub(crate) struct StageGeometry {
    /// Input values per example.
    pub(crate) in_len: usize,
    /// Source offset in an example's input of each patch entry, `positions × patch`.
    pub(crate) index: Vec<u32>,
    /// Entries per patch (`c_in · k²`).
    pub(crate) patch: usize,
    /// Convolution output height and width.
    pub(crate) out: (usize, usize),
}

impl StageGeometry {
    fn positions(&self) -> usize {
        self.out.0 * self.out.1
    }

    fn pooled(&self) -> usize {
        (self.out.0 / 2) * (self.out.1 / 2)
    }

    /// Gathers the patches of `x` (`n` examples) into `cols` (`n · positions × patch`).
    fn gather(&self, x: &[f32], cols: &mut Vec<f32>) {
        let per_example = self.index.len();
        cols.clear();
        for example in x.chunks_exact(self.in_len) {
            cols.extend(self.index.iter().map(|&i| example[i as usize]));
        }
        debug_assert_eq!(cols.len(), x.len() / self.in_len * per_example);
    }

    /// Calls `f(output, [conv offsets; 4])` for each pooled output of one example, with the
    /// offsets (in `positions × c_out`) of its window in row-major order.
    fn for_each_window(&self, c_out: usize, mut f: impl FnMut(usize, [usize; 4])) {
        let (_, w) = self.out;
        let mut out = 0;
        for y in 0..self.out.0 / 2 {
            for x in 0..w / 2 {
                let a = (2 * y * w + 2 * x) * c_out;
                let (b, d) = (a + c_out, a + w * c_out);
                let e = d + c_out;
                for ch in 0..c_out {
                    f(out, [a + ch, b + ch, d + ch, e + ch]);
                    out += 1;
                }
            }
        }
    }
}

/// One forward call of a stage: `(x: rows × in_len, w: c_out × c_in × k × k, b: c_out)` →
/// `rows × (pooled positions · c_out)`, channels-last. Keeps the routes of its outputs for
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
            &[rows, width] if width == g.in_len => rows,
            dims => bail!(
                "lenet stage: expected inputs rows × {}, got {dims:?}",
                g.in_len
            ),
        };
        let c_out = w.dims().first().copied().unwrap_or(0);
        if w.shape().elem_count() != c_out * g.patch || b.dims() != [c_out] {
            bail!(
                "lenet stage: kernel {:?} and bias {:?} do not fit patches of {}",
                w.dims(),
                b.dims(),
                g.patch
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
        let (positions, out_len) = (g.positions(), g.pooled() * c_out);
        let mut out = vec![0f32; rows * out_len];
        let mut routes = vec![0u8; rows * out_len];
        out.par_chunks_mut(GROUP * out_len)
            .zip(routes.par_chunks_mut(GROUP * out_len))
            .zip(x.par_chunks(GROUP * g.in_len))
            .for_each_init(Scratch::default, |s, ((out, routes), x)| {
                let n = x.len() / g.in_len;
                g.gather(x, &mut s.cols);
                s.conv.resize(n * positions * c_out, 0.0);
                let cols = View {
                    data: &s.cols,
                    rs: g.patch,
                    cs: 1,
                };
                let kernel_t = View {
                    data: w,
                    rs: 1,
                    cs: g.patch,
                };
                matmul(
                    (n * positions, c_out, g.patch),
                    &mut s.conv,
                    c_out,
                    cols,
                    kernel_t,
                    false,
                    Threads::One,
                );
                for ((out, routes), conv) in out
                    .chunks_exact_mut(out_len)
                    .zip(routes.chunks_exact_mut(out_len))
                    .zip(s.conv.chunks_exact(positions * c_out))
                {
                    g.for_each_window(c_out, |o, window| {
                        let (k, max) = first_max(conv, window);
                        let pre = max + b[o % c_out];
                        (out[o], routes[o]) = if pre >= 0.0 {
                            (pre, k as u8)
                        } else {
                            (0.0, INACTIVE)
                        };
                    });
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
        let (positions, out_len) = (g.positions(), g.pooled() * c_out);
        let routes = self.routes.lock().expect("routes lock");
        if routes.len() != rows * out_len {
            bail!("lenet stage: backward without its forward pass");
        }
        let need_input = x.track_op();
        let groups = rows.div_ceil(GROUP);
        // Per group: kernel and bias gradients, summed afterwards in group order.
        let mut partial = vec![0f32; groups * (c_out * g.patch + c_out)];
        let mut dx = vec![0f32; if need_input { rows * g.in_len } else { 0 }];
        with_values(&x, "lenet stage input", |xv| {
            with_values(&w, "lenet stage kernel", |wv| {
                with_values(&grad, "lenet stage gradient", |gv| {
                    // Each group's slice of the input gradient (empty when none is needed).
                    let dx_groups: Vec<&mut [f32]> = if need_input {
                        dx.chunks_mut(GROUP * g.in_len).collect()
                    } else {
                        (0..groups).map(|_| &mut [][..]).collect()
                    };
                    partial
                        .par_chunks_mut(c_out * g.patch + c_out)
                        .zip(dx_groups.into_par_iter())
                        .zip(xv.par_chunks(GROUP * g.in_len))
                        .zip(gv.par_chunks(GROUP * out_len))
                        .zip(routes.par_chunks(GROUP * out_len))
                        .for_each_init(Scratch::default, |s, ((((partial, dx), x), gr), rt)| {
                            let n = x.len() / g.in_len;
                            let (dw, db) = partial.split_at_mut(c_out * g.patch);
                            // Route each output's gradient to its window's maximum.
                            s.conv.clear();
                            s.conv.resize(n * positions * c_out, 0.0);
                            for ((dconv, gr), rt) in s
                                .conv
                                .chunks_exact_mut(positions * c_out)
                                .zip(gr.chunks_exact(out_len))
                                .zip(rt.chunks_exact(out_len))
                            {
                                g.for_each_window(c_out, |o, window| {
                                    if rt[o] != INACTIVE {
                                        dconv[window[rt[o] as usize]] = gr[o];
                                        db[o % c_out] += gr[o];
                                    }
                                });
                            }
                            g.gather(x, &mut s.cols);
                            let m = n * positions;
                            // dW (c_out × patch) = dconvᵀ · cols.
                            matmul(
                                (c_out, g.patch, m),
                                dw,
                                g.patch,
                                View {
                                    data: &s.conv,
                                    rs: 1,
                                    cs: c_out,
                                },
                                View {
                                    data: &s.cols,
                                    rs: g.patch,
                                    cs: 1,
                                },
                                false,
                                Threads::One,
                            );
                            if dx.is_empty() {
                                return;
                            }
                            // dcols (m × patch) = dconv · W, reusing the patch buffer.
                            let dcols = &mut s.cols;
                            matmul(
                                (m, g.patch, c_out),
                                dcols,
                                g.patch,
                                View {
                                    data: &s.conv,
                                    rs: c_out,
                                    cs: 1,
                                },
                                View {
                                    data: wv,
                                    rs: g.patch,
                                    cs: 1,
                                },
                                false,
                                Threads::One,
                            );
                            for (dx, dcols) in dx
                                .chunks_exact_mut(g.in_len)
                                .zip(dcols.chunks_exact(g.index.len()))
                            {
                                for (&i, &v) in g.index.iter().zip(dcols) {
                                    dx[i as usize] += v;
                                }
                            }
                        });
                    Ok(())
                })
            })
        })?;
        let width = c_out * g.patch + c_out;
        let mut total = vec![0f32; width];
        for part in partial.chunks_exact(width) {
            for (t, p) in total.iter_mut().zip(part) {
                *t += p;
            }
        }
        let db = total.split_off(c_out * g.patch);
        let device = x.device();
        let dw = Tensor::from_vec(total, w.shape(), device)?;
        let db = Tensor::from_vec(db, c_out, device)?;
        let dx = if need_input {
            Some(Tensor::from_vec(dx, (rows, g.in_len), device)?)
        } else {
            None
        };
        Ok((dx, Some(dw), Some(db)))
    }
}

/// The first maximum of a window: its entry (0..4) and value.
fn first_max(conv: &[f32], window: [usize; 4]) -> (usize, f32) {
    let mut best = (0, conv[window[0]]);
    for (k, &at) in window.iter().enumerate().skip(1) {
        if conv[at] > best.1 {
            best = (k, conv[at]);
        }
    }
    best
}
