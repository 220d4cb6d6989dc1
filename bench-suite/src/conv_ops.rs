//! CPU kernels of the LeNet stages as candle custom ops, each with its backward pass:
//! patch gather (im2col) whose gradient is a scatter-add, and 2 × 2 max-pooling of
//! channels-last maps whose gradient goes to each window's first maximum. candle 0.11's
//! generic `index_add` and broadcast comparisons make the equivalent tensor expressions
//! (used on other devices, see [`crate::conv`]) several times slower on CPU.

use std::sync::Arc;

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    let (start, end) = match l.contiguous_offsets() {
        Some(o) => o,
        None => bail!("conv op: input must be contiguous"),
    };
    match s {
        CpuStorage::F32(v) => Ok(&v[start..end]),
        _ => bail!("conv op: input must be f32"),
    }
}

fn rows_of(l: &Layout, width: usize, op: &str) -> candle_core::Result<usize> {
    match l.dims() {
        &[rows, w] if w == width => Ok(rows),
        dims => bail!("{op}: expected rows × {width}, got {dims:?}"),
    }
}

/// `out[r, j] = x[r, index[j]]` for inputs `rows × in_len`.
#[derive(Debug, Clone)]
pub(crate) struct Gather {
    /// Source column of each output column.
    pub(crate) index: Arc<Vec<u32>>,
    /// Input width.
    pub(crate) in_len: usize,
}

impl CustomOp1 for Gather {
    fn name(&self) -> &'static str {
        "lenet-gather"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l)?;
        let rows = rows_of(l, self.in_len, self.name())?;
        let n = self.index.len();
        let mut out = vec![0f32; rows * n];
        for (dst, row) in out.chunks_exact_mut(n).zip(x.chunks_exact(self.in_len)) {
            for (d, &i) in dst.iter_mut().zip(self.index.iter()) {
                *d = row[i as usize];
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((rows, n))))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(
            grad.contiguous()?
                .apply_op1_no_bwd(&Scatter(self.clone()))?,
        ))
    }
}

/// The adjoint of [`Gather`]: `out[r, index[j]] += g[r, j]`.
struct Scatter(Gather);

impl CustomOp1 for Scatter {
    fn name(&self) -> &'static str {
        "lenet-scatter"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = f32_slice(s, l)?;
        let n = self.0.index.len();
        let rows = rows_of(l, n, self.name())?;
        let width = self.0.in_len;
        let mut out = vec![0f32; rows * width];
        for (dst, src) in out.chunks_exact_mut(width).zip(g.chunks_exact(n)) {
            for (&i, &v) in self.0.index.iter().zip(src) {
                dst[i as usize] += v;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((rows, width))))
    }
}

/// 2 × 2 max-pooling (floor) of channels-last maps `rows × (h · w · c)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MaxPool2 {
    /// Map height, width and channels.
    pub(crate) hwc: (usize, usize, usize),
}

impl MaxPool2 {
    /// Calls `f(out, [in; 4])` for every output element of one row with the input offsets
    /// of its window (row-major windows, channels innermost).
    fn for_each_window(&self, mut f: impl FnMut(usize, [usize; 4])) {
        let (h, w, c) = self.hwc;
        let mut out = 0;
        for y in 0..h / 2 {
            for x in 0..w / 2 {
                let a = (2 * y * w + 2 * x) * c;
                let b = a + c;
                let d = a + w * c;
                let e = d + c;
                for ch in 0..c {
                    f(out, [a + ch, b + ch, d + ch, e + ch]);
                    out += 1;
                }
            }
        }
    }

    fn in_len(&self) -> usize {
        self.hwc.0 * self.hwc.1 * self.hwc.2
    }

    fn out_len(&self) -> usize {
        (self.hwc.0 / 2) * (self.hwc.1 / 2) * self.hwc.2
    }
}

/// The first position of a window's maximum.
fn argmax(row: &[f32], [a, b, c, d]: [usize; 4]) -> usize {
    let ab = if row[b] > row[a] { b } else { a };
    let cd = if row[d] > row[c] { d } else { c };
    if row[cd] > row[ab] {
        cd
    } else {
        ab
    }
}

impl CustomOp1 for MaxPool2 {
    fn name(&self) -> &'static str {
        "lenet-max-pool"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l)?;
        let rows = rows_of(l, self.in_len(), CustomOp1::name(self))?;
        let mut out = vec![0f32; rows * self.out_len()];
        for (dst, row) in out
            .chunks_exact_mut(self.out_len())
            .zip(x.chunks_exact(self.in_len()))
        {
            self.for_each_window(|o, win| dst[o] = row[argmax(row, win)]);
        }
        Ok((CpuStorage::F32(out), Shape::from((rows, self.out_len()))))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(
            arg.contiguous()?
                .apply_op2_no_bwd(&grad.contiguous()?, self)?,
        ))
    }
}

/// The gradient of [`MaxPool2`]: inputs (maps, output gradient) → map gradient.
impl CustomOp2 for MaxPool2 {
    fn name(&self) -> &'static str {
        "lenet-max-pool-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, g) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        let rows = rows_of(l1, self.in_len(), CustomOp2::name(self))?;
        rows_of(l2, self.out_len(), CustomOp2::name(self))?;
        let mut out = vec![0f32; rows * self.in_len()];
        for ((dst, row), gr) in out
            .chunks_exact_mut(self.in_len())
            .zip(x.chunks_exact(self.in_len()))
            .zip(g.chunks_exact(self.out_len()))
        {
            self.for_each_window(|o, win| dst[argmax(row, win)] += gr[o]);
        }
        Ok((CpuStorage::F32(out), Shape::from((rows, self.in_len()))))
    }
}
