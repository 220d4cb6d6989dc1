//! Helpers shared by the min-norm solver tests.

use mtl_methods::Gram;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A standard normal sample (Box–Muller), enough for test inputs.
pub fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// The Gram matrix of the rows.
pub fn gram_of(rows: &[Vec<f64>]) -> Gram {
    let k = rows.len();
    let mut data = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..k {
            data[i * k + j] = rows[i].iter().zip(&rows[j]).map(|(a, b)| a * b).sum();
        }
    }
    Gram::from_matrix(k, data).unwrap()
}

/// λᵀMλ.
pub fn quad(gram: &Gram, l: &[f64]) -> f64 {
    let k = gram.k();
    (0..k)
        .map(|i| (0..k).map(|j| l[i] * gram.get(i, j) * l[j]).sum::<f64>())
        .sum()
}
