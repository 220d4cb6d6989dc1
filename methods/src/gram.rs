//! The Gram matrix M = G Gᵀ of the per-task gradients.
//!
//! [`Gram::from_rows`] is the one O(K²D) step of the gradient methods (D can be millions of
//! shared parameters), so its dot products are written to vectorise: each ⟨g_i, g_j⟩ is
//! accumulated in 8 independent `f64` partial sums, lane l taking the products at
//! indices l, l + 8, l + 16, … in index order, and the lanes are added as
//! ((s₀ + s₄) + (s₂ + s₆)) + ((s₁ + s₅) + (s₃ + s₇)). That order is fixed — no threads, and the
//! cache blocking over D and the pairing of rows do not change it — so the result does not
//! depend on the machine. Because a product of two `f32` values is exact in `f64`, the
//! AVX build of the same loop (chosen at run time on x86-64) rounds exactly as the portable one
//! does.

/// Partial sums per dot product in [`Gram::from_rows`]; see the module docs.
const LANES: usize = 8;

/// A symmetric K×K Gram matrix, row-major, in `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gram {
    k: usize,
    data: Vec<f64>,
}

impl Gram {
    /// Builds M_ij = ⟨g_i, g_j⟩ from K gradient rows of equal length, accumulating in `f64`.
    ///
    /// Each product of two `f32` entries is exact in `f64` and the sum has a fixed order (see
    /// the module docs), so the result is bit-for-bit reproducible: the same on every run and
    /// every machine, with or without AVX.
    ///
    /// # Panics
    /// If the rows differ in length (a caller bug: the trainer flattens the same parameters).
    pub fn from_rows<R: AsRef<[f32]>>(rows: &[R]) -> Self {
        let rows: Vec<&[f32]> = rows.iter().map(AsRef::as_ref).collect();
        let d = rows.first().map_or(0, |r| r.len());
        assert!(
            rows.iter().all(|r| r.len() == d),
            "Gram::from_rows needs gradient rows of equal length"
        );
        let k = rows.len();
        Self {
            k,
            data: dot::gram(&rows, k, d),
        }
    }

    /// Wraps a row-major K×K matrix; returns `None` if it is not square.
    pub fn from_matrix(k: usize, data: Vec<f64>) -> Option<Self> {
        (data.len() == k * k).then_some(Self { k, data })
    }

    /// Number of tasks K.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Entry M_ij.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.k + j]
    }

    /// The row-major entries.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// The largest |M_ij|, the scale the solvers divide by (NaN entries are passed over, as
    /// `f64::max` does).
    pub fn max_abs(&self) -> f64 {
        self.data.iter().fold(0.0f64, |m, v| m.max(v.abs()))
    }

    /// Per-task gradient norms ‖g_k‖ = √M_kk.
    pub fn norms(&self) -> Vec<f64> {
        (0..self.k)
            .map(|i| self.get(i, i).max(0.0).sqrt())
            .collect()
    }

    /// The Gram matrix of the rescaled gradients g_k / c_k: M_ij / (c_i c_j).
    pub fn rescaled(&self, c: &[f64]) -> Self {
        let k = self.k;
        let data = (0..k * k)
            .map(|idx| self.data[idx] / (c[idx / k] * c[idx % k]))
            .collect();
        Self { k, data }
    }
}

/// The dot-product kernel of [`Gram::from_rows`].
mod dot {
    use super::LANES;

    /// Columns per cache block: K rows × 512 `f32` stay in L1/L2 while every pair visits
    /// them. A multiple of [`LANES`], so blocking does not change which lane a product joins.
    const BLOCK: usize = 512;

    type Lanes = [f64; LANES];

    /// The row-major K×K Gram matrix of `rows` (K rows of length `d`).
    pub(super) fn gram(rows: &[&[f32]], k: usize, d: usize) -> Vec<f64> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU supports AVX, checked just above.
            return unsafe { gram_avx(rows, k, d) };
        }
        gram_portable(rows, k, d)
    }

    /// The same loop compiled for AVX: 4-wide `f64` vectors instead of SSE2's 2. Products
    /// are exact, and LLVM does not reorder or contract `f64` arithmetic, so the results
    /// are bit-identical to [`gram_portable`]'s (tested).
    ///
    /// # Safety
    /// The CPU must support AVX.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn gram_avx(rows: &[&[f32]], k: usize, d: usize) -> Vec<f64> {
        gram_impl(rows, k, d)
    }

    /// The kernel for any target (SSE2 on x86-64).
    pub(super) fn gram_portable(rows: &[&[f32]], k: usize, d: usize) -> Vec<f64> {
        gram_impl(rows, k, d)
    }

    #[inline(always)]
    fn gram_impl(rows: &[&[f32]], k: usize, d: usize) -> Vec<f64> {
        // Lane sums of pair (i, j), j ≥ i, at acc[i * k + j].
        let mut acc = vec![[0.0; LANES]; k * k];
        let full = d - d % LANES;
        let mut start = 0;
        while start < full {
            let end = (start + BLOCK).min(full);
            for i in 0..k {
                let a = &rows[i][start..end];
                let row = &mut acc[i * k..(i + 1) * k];
                // Two pairs at a time, so that each chunk of g_i is loaded and widened once
                // for both.
                let mut j = i;
                while j + 1 < k {
                    let (lo, hi) = row.split_at_mut(j + 1);
                    accumulate_two(
                        &mut lo[j],
                        &mut hi[0],
                        a,
                        &rows[j][start..end],
                        &rows[j + 1][start..end],
                    );
                    j += 2;
                }
                if j < k {
                    accumulate(&mut row[j], a, &rows[j][start..end]);
                }
            }
            start = end;
        }
        let mut data = vec![0.0; k * k];
        for i in 0..k {
            for j in i..k {
                let lanes = &mut acc[i * k + j];
                // The last d mod 8 entries go to lanes 0, 1, …, continuing their sequences.
                for (lane, idx) in lanes.iter_mut().zip(full..d) {
                    *lane += f64::from(rows[i][idx]) * f64::from(rows[j][idx]);
                }
                let dot = reduce(lanes);
                data[i * k + j] = dot;
                data[j * k + i] = dot;
            }
        }
        data
    }

    #[inline(always)]
    fn accumulate(acc: &mut Lanes, a: &[f32], b: &[f32]) {
        for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
            for l in 0..LANES {
                acc[l] += f64::from(x[l]) * f64::from(y[l]);
            }
        }
    }

    #[inline(always)]
    fn accumulate_two(acc0: &mut Lanes, acc1: &mut Lanes, a: &[f32], b: &[f32], c: &[f32]) {
        let chunks = a
            .chunks_exact(LANES)
            .zip(b.chunks_exact(LANES))
            .zip(c.chunks_exact(LANES));
        for ((x, y), z) in chunks {
            for l in 0..LANES {
                let x = f64::from(x[l]);
                acc0[l] += x * f64::from(y[l]);
                acc1[l] += x * f64::from(z[l]);
            }
        }
    }

    /// ((s₀ + s₄) + (s₂ + s₆)) + ((s₁ + s₅) + (s₃ + s₇)).
    pub(super) fn reduce(s: &Lanes) -> f64 {
        let half: [f64; 4] = std::array::from_fn(|l| s[l] + s[l + 4]);
        (half[0] + half[2]) + (half[1] + half[3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_rows_computes_inner_products() {
        let g = Gram::from_rows(&[vec![1.0f32, 2.0], vec![3.0, -1.0]]);
        assert_eq!(g.as_slice(), &[5.0, 1.0, 1.0, 10.0]);
        assert_eq!(g.norms()[0], 5f64.sqrt());
    }

    /// Seeded uniform `f32` rows in [-1, 1) with a shared offset (so pairs partly agree).
    fn random_rows(k: usize, d: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        };
        let offset: Vec<f32> = (0..d).map(|_| 0.3 * next()).collect();
        (0..k)
            .map(|_| offset.iter().map(|o| o + next()).collect())
            .collect()
    }

    fn naive(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum()
    }

    /// The documented summation order, written out plainly.
    fn documented_order(a: &[f32], b: &[f32]) -> f64 {
        let mut lanes = [0.0; LANES];
        for (idx, (&x, &y)) in a.iter().zip(b).enumerate() {
            lanes[idx % LANES] += f64::from(x) * f64::from(y);
        }
        dot::reduce(&lanes)
    }

    #[test]
    fn from_rows_matches_the_naive_sum_on_random_data() {
        for (k, d) in [(1, 5), (3, 1000), (8, 65_536 + 3), (11, 4099)] {
            let rows = random_rows(k, d, (k * d) as u64);
            let gram = Gram::from_rows(&rows);
            for i in 0..k {
                for j in 0..k {
                    let want = naive(&rows[i], &rows[j]);
                    // Relative to Σ|g_i g_j| ≥ |⟨g_i, g_j⟩|: off-diagonal dots may cancel.
                    let scale: f64 = rows[i]
                        .iter()
                        .zip(&rows[j])
                        .map(|(&x, &y)| (f64::from(x) * f64::from(y)).abs())
                        .sum();
                    let got = gram.get(i, j);
                    assert!(
                        (got - want).abs() <= 1e-12 * scale,
                        "K={k} D={d} ({i}, {j}): {got} vs naive {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn from_rows_sums_in_the_documented_order() {
        // D around the block and lane sizes, odd K (a row left over by the pairing).
        for d in [0, 1, 7, 8, 9, 511, 512, 513, 1031, 2048] {
            let rows = random_rows(5, d, d as u64 + 1);
            let gram = Gram::from_rows(&rows);
            for i in 0..5 {
                for j in 0..5 {
                    let want = documented_order(&rows[i], &rows[j]);
                    assert_eq!(gram.get(i, j).to_bits(), want.to_bits(), "D={d} ({i}, {j})");
                }
            }
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx_and_portable_kernels_agree_bit_for_bit() {
        if !std::arch::is_x86_feature_detected!("avx") {
            return;
        }
        // Large and mixed magnitudes, so any reordering or fused rounding would show.
        let mut rows = random_rows(7, 3001, 9);
        for (t, row) in rows.iter_mut().enumerate() {
            let s = 2f32.powi(20 * (t as i32 % 3) - 20);
            row.iter_mut().for_each(|x| *x *= s);
        }
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let portable = dot::gram_portable(&refs, 7, 3001);
        // SAFETY: AVX support was checked above.
        let avx = unsafe { dot::gram_avx(&refs, 7, 3001) };
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&portable), bits(&avx));
    }

    #[test]
    fn from_rows_handles_no_tasks_and_symmetry() {
        assert_eq!(Gram::from_rows::<Vec<f32>>(&[]).k(), 0);
        let rows = random_rows(4, 100, 3);
        let g = Gram::from_rows(&rows);
        for i in 0..4 {
            for j in 0..4 {
                assert_eq!(g.get(i, j).to_bits(), g.get(j, i).to_bits());
            }
        }
    }

    #[test]
    #[should_panic(expected = "equal length")]
    fn from_rows_rejects_ragged_rows() {
        Gram::from_rows(&[vec![1.0f32, 2.0], vec![3.0]]);
    }
}
