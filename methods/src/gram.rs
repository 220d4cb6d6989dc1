//! The Gram matrix M = G Gᵀ of the per-task gradients.

/// A symmetric K×K Gram matrix, row-major, in `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gram {
    k: usize,
    data: Vec<f64>,
}

impl Gram {
    /// Builds M_ij = ⟨g_i, g_j⟩ from K gradient rows of equal length, accumulating in `f64`.
    pub fn from_rows<R: AsRef<[f32]>>(rows: &[R]) -> Self {
        let k = rows.len();
        let mut data = vec![0.0; k * k];
        for i in 0..k {
            for j in i..k {
                let dot: f64 = rows[i]
                    .as_ref()
                    .iter()
                    .zip(rows[j].as_ref())
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum();
                data[i * k + j] = dot;
                data[j * k + i] = dot;
            }
        }
        Self { k, data }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_rows_computes_inner_products() {
        let g = Gram::from_rows(&[vec![1.0f32, 2.0], vec![3.0, -1.0]]);
        assert_eq!(g.as_slice(), &[5.0, 1.0, 1.0, 10.0]);
        assert_eq!(g.norms()[0], 5f64.sqrt());
    }
}
