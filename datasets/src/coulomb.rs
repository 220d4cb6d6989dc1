//! Coulomb-matrix descriptors of a molecule (Rupp, Tkatchenko, Müller, von Lilienfeld, PRL
//! 2012, "Fast and Accurate Modeling of Molecular Atomization Energies with Machine
//! Learning"): M_ii = ½ Z_i^2.4, M_ij = Z_i Z_j / |R_i − R_j| (distances in Bohr). Its
//! eigenvalues, sorted in decreasing order and zero-padded to a fixed length, are invariant
//! to rotation, translation and atom order.
//!
//! The eigenvalues come from our own cyclic Jacobi ([`symmetric_eigenvalues`]), not nalgebra's
//! `SymmetricEigen`: on 2,000 random QM9-sized Coulomb matrices the two agree to 1e-14 of the
//! largest eigenvalue but only 2% of the eigenvalues bit for bit, so the QM9 descriptors and
//! the records trained on them would change at rounding level; records must stay
//! byte-identical.

/// Bohr radii per Ångström.
pub const BOHR_PER_ANGSTROM: f64 = 1.0 / 0.529_177_210_903;

/// The Coulomb matrix (row-major, n × n) of atoms with charges `z` at `positions` (Å).
pub fn coulomb_matrix(z: &[u8], positions: &[[f64; 3]]) -> Vec<f64> {
    let n = z.len();
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        let zi = f64::from(z[i]);
        m[i * n + i] = 0.5 * zi.powf(2.4);
        for j in 0..i {
            let d: f64 = (0..3)
                .map(|a| (positions[i][a] - positions[j][a]).powi(2))
                .sum::<f64>()
                .sqrt()
                * BOHR_PER_ANGSTROM;
            let v = zi * f64::from(z[j]) / d.max(1e-8);
            m[i * n + j] = v;
            m[j * n + i] = v;
        }
    }
    m
}

/// Eigenvalues of the symmetric n × n matrix `a` (row-major; overwritten) by the cyclic
/// Jacobi method, sorted in decreasing order.
pub fn symmetric_eigenvalues(a: &mut [f64], n: usize) -> Vec<f64> {
    for _sweep in 0..64 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        let scale: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum::<f64>() + off;
        if off <= 1e-22 * scale.max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
        }
    }
    let mut eig: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    eig.sort_by(|x, y| y.total_cmp(x));
    eig
}

/// The sorted Coulomb-matrix eigenvalues of a molecule, zero-padded to `len`.
pub fn eigen_descriptor(z: &[u8], positions: &[[f64; 3]], len: usize) -> Vec<f64> {
    let mut m = coulomb_matrix(z, positions);
    let mut eig = symmetric_eigenvalues(&mut m, z.len());
    eig.resize(len, 0.0);
    eig
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_finds_known_eigenvalues() {
        let mut a = vec![2.0, 1.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 5.0];
        let e = symmetric_eigenvalues(&mut a, 3);
        for (got, want) in e.iter().zip([5.0, 3.0, 1.0]) {
            assert!((got - want).abs() < 1e-12, "{e:?}");
        }
        // Trace and determinant of a random-ish symmetric 6 × 6 are preserved.
        let n = 6;
        let mut m: Vec<f64> = (0..n * n).map(|k| ((k * 37 % 11) as f64) - 5.0).collect();
        for i in 0..n {
            for j in 0..i {
                m[i * n + j] = m[j * n + i];
            }
        }
        let trace: f64 = (0..n).map(|i| m[i * n + i]).sum();
        let sq: f64 = m.iter().map(|v| v * v).sum();
        let e = symmetric_eigenvalues(&mut m.clone(), n);
        assert!((e.iter().sum::<f64>() - trace).abs() < 1e-9);
        assert!((e.iter().map(|v| v * v).sum::<f64>() - sq).abs() < 1e-8);
    }

    #[test]
    fn descriptor_is_invariant_to_atom_order_and_rotation() {
        let z = [8, 1, 1];
        let pos = [[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]];
        let a = eigen_descriptor(&z, &pos, 5);
        let rotated: Vec<[f64; 3]> = pos.iter().map(|p| [-p[1], p[0], p[2] + 1.0]).collect();
        let b = eigen_descriptor(&[1, 8, 1], &[rotated[1], rotated[0], rotated[2]], 5);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-9, "{a:?} vs {b:?}");
        }
        assert_eq!(&a[3..], &[0.0, 0.0]);
        assert!(a[0] > 36.0); // ≈ ½ 8^2.4 = 73.5 dominates
    }
}
