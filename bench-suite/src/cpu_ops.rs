//! What the CPU custom ops share: f32 views of candle storage and a checked call of `gemm`,
//! the crate behind candle's own CPU matrix product.

use candle_core::{bail, CpuStorage, Layout, Storage, Tensor};
use gemm::Parallelism;

/// The contiguous f32 values of an op's argument; `what` names it in errors.
pub(crate) fn f32_slice<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    what: &str,
) -> candle_core::Result<&'a [f32]> {
    let Some((start, end)) = l.contiguous_offsets() else {
        bail!("{what} must be contiguous");
    };
    match s {
        CpuStorage::F32(v) => Ok(&v[start..end]),
        _ => bail!("{what} must be f32"),
    }
}

/// Reads a contiguous CPU tensor's values as an f32 slice for the duration of `f`.
pub(crate) fn with_values<R>(
    t: &Tensor,
    what: &str,
    f: impl FnOnce(&[f32]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => f(f32_slice(s, layout, what)?),
        _ => bail!("{what} must be on the CPU"),
    }
}

/// A strided view of a matrix for [`matmul`].
pub(crate) struct View<'a> {
    pub(crate) data: &'a [f32],
    /// Stride between rows.
    pub(crate) rs: usize,
    /// Stride between columns.
    pub(crate) cs: usize,
}

/// Threads of one [`matmul`]: one (the caller already runs on a rayon task) or the current
/// rayon pool's. gemm splits the output, never the inner sum, so every entry is summed in
/// the same order either way.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Threads {
    One,
    Pool,
}

/// Multiply-adds below which a product stays on the calling thread: waking the pool costs
/// more than it saves (LeNet's heads, 256 × 50 × 50).
const PARALLEL_WORK: usize = 1 << 20;

/// `dst (m × n, row stride dst_rs, unit column stride) (+)= lhs (m × k) · rhs (k × n)`;
/// `accumulate` adds to `dst` instead of overwriting it.
pub(crate) fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    dst_rs: usize,
    lhs: View,
    rhs: View,
    accumulate: bool,
    threads: Threads,
) {
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    if m == 0 || n == 0 {
        return;
    }
    assert!(last(m, n, dst_rs, 1) < dst.len(), "matmul: dst too short");
    if k == 0 {
        if !accumulate {
            for row in 0..m {
                dst[row * dst_rs..row * dst_rs + n].fill(0.0);
            }
        }
        return;
    }
    assert!(
        last(m, k, lhs.rs, lhs.cs) < lhs.data.len(),
        "matmul: lhs too short"
    );
    assert!(
        last(k, n, rhs.rs, rhs.cs) < rhs.data.len(),
        "matmul: rhs too short"
    );
    let parallelism = match threads {
        Threads::Pool if m * n * k >= PARALLEL_WORK => match rayon::current_num_threads() {
            0 | 1 => Parallelism::None,
            n => Parallelism::Rayon(n),
        },
        _ => Parallelism::None,
    };
    // SAFETY: the asserts above keep every index gemm forms inside the three slices; dst is
    // borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// A CPU variable of `shape` with distinct values uniform in (−1, 1), seeded (tests of the
/// ops; distinct values keep max-pooling's subgradient unambiguous).
#[cfg(test)]
pub(crate) fn seeded_var(shape: &[usize], seed: u64) -> candle_core::Var {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let t = Tensor::from_vec(v, shape, &candle_core::Device::Cpu).unwrap();
    candle_core::Var::from_tensor(&t).unwrap()
}
