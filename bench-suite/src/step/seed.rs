//! The root of a backward pass that enters the encoder at the representation `z` with a given
//! gradient: MGDA-UB's Σ_k λ_k ∂L_k/∂z, or a method's direction. As a CPU custom op it
//! replaces the surrogate ⟨z, g⟩ (a product, a sum and their backward passes over the whole
//! representation) with nothing: its forward pass is the scalar 0 and its backward pass hands
//! `g` to `z` as it is — the same bits the surrogate's backward pass gives (1 · g).

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Shape, Tensor};

use crate::Result;

/// `z ↦ 0` whose gradient w.r.t. `z` is `seed` (times the gradient arriving at the scalar).
struct SeedGrad {
    seed: Vec<f32>,
}

impl CustomOp1 for SeedGrad {
    fn name(&self) -> &'static str {
        "seed-grad"
    }

    fn cpu_fwd(&self, _: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        if layout.shape().elem_count() != self.seed.len() {
            bail!(
                "seed-grad: a seed of {} values for a tensor of shape {:?}",
                self.seed.len(),
                layout.dims()
            );
        }
        Ok((CpuStorage::F32(vec![0.0]), Shape::from(())))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let seed = Tensor::from_slice(&self.seed, arg.shape(), arg.device())?;
        // The backward pass starts at a sum of such scalars, whose gradient is exactly 1.
        match grad_res.to_scalar::<f32>()? {
            1.0 => Ok(Some(seed)),
            scale => Ok(Some(seed.affine(f64::from(scale), 0.0)?)),
        }
    }
}

/// A scalar whose backward pass delivers `seed` (row-major, `z`'s shape) as `z`'s gradient.
/// CPU tensors only; elsewhere the surrogate `(z · seed).sum()` does the same.
pub(crate) fn seeded(z: &Tensor, seed: Vec<f32>) -> Result<Tensor> {
    if z.device().is_cpu() {
        return Ok(z.apply_op1(SeedGrad { seed })?);
    }
    let g = Tensor::from_vec(seed, z.shape(), z.device())?;
    Ok(z.mul(&g)?.sum_all()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn the_seed_reaches_the_parameters_as_the_surrogate_sends_it() {
        let w = Var::from_vec(
            vec![0.5f32, -1.0, 2.0, 0.25, 3.0, -0.5],
            (3, 2),
            &Device::Cpu,
        )
        .unwrap();
        let x = Tensor::new(&[[1.0f32, 2.0, -1.0], [0.5, -0.5, 4.0]], &Device::Cpu).unwrap();
        let z = x.matmul(w.as_tensor()).unwrap().relu().unwrap();
        let seed = vec![0.3f32, -1.7, 2.5, 0.1];
        let through_op = seeded(&z, seed.clone()).unwrap().backward().unwrap();
        let g = Tensor::from_vec(seed, (2, 2), &Device::Cpu).unwrap();
        let surrogate = z.mul(&g).unwrap().sum_all().unwrap().backward().unwrap();
        let grad = |s: &candle_core::backprop::GradStore| {
            s.get(w.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        assert_eq!(grad(&through_op), grad(&surrogate));
        // Scaled where the scalar's own gradient is not 1.
        let twice = seeded(&z, vec![0.3, -1.7, 2.5, 0.1])
            .unwrap()
            .affine(2.0, 0.0)
            .unwrap()
            .backward()
            .unwrap();
        let expected: Vec<f32> = grad(&surrogate).iter().map(|v| v * 2.0).collect();
        assert_eq!(grad(&twice), expected);
        assert!(seeded(&z, vec![1.0]).is_err(), "a seed of the wrong size");
    }
}
