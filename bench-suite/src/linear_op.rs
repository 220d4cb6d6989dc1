//! The CPU kernel of a linear layer with bias, `y = x Wᵀ + b`, as one candle custom op.
//!
//! candle's own `matmul` + `broadcast_add` compute, in the backward pass, the input's
//! gradient even where the input is data (the encoder's first layer: a product as large as
//! the forward one, thrown away), transpose the weight, and reduce the bias gradient through
//! a broadcast. Here the backward pass makes the weight gradient `dYᵀ X` and, only when the
//! input is itself computed from parameters, `dY W`, each one `gemm` call on rayon's pool;
//! the bias gradient is the column sums of `dY`, summed row by row in order.
//!
//! [`Linear::relu`] folds a following relu into the same op: the forward pass rectifies in
//! the pass that adds the bias, and the backward pass multiplies `dY` by the relu's 0/1 mask
//! before the products, as candle's relu does (gradient where the input is ≥ 0: the
//! outputs > 0 and the pre-activations that were exactly 0, which the op remembers).

use std::sync::Mutex;

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_ops::{f32_slice, matmul, with_values, Threads, View};

/// `(x: rows × in, w: out × in, b: out)` → `rows × out`, rectified with [`Linear::relu`].
#[derive(Debug, Default)]
pub(crate) struct Linear {
    /// Whether a relu follows (in the same op).
    relu: bool,
    /// With `relu`: positions whose pre-activation was exactly 0 (the relu passes their
    /// gradient although their output is 0), ascending.
    zeros: Mutex<Vec<usize>>,
}

impl Linear {
    /// `y = x Wᵀ + b`.
    pub(crate) fn plain() -> Self {
        Self::default()
    }

    /// `y = relu(x Wᵀ + b)`.
    pub(crate) fn relu() -> Self {
        Self {
            relu: true,
            zeros: Mutex::default(),
        }
    }
}

/// Rows of `dst` given to one rayon task when adding the bias.
const ROWS_PER_TASK: usize = 64;

fn dims(x: &Layout, w: &Layout, b: &Layout) -> candle_core::Result<(usize, usize, usize)> {
    match (x.dims(), w.dims(), b.dims()) {
        (&[rows, inputs], &[outputs, w_in], &[b_out]) if w_in == inputs && b_out == outputs => {
            Ok((rows, inputs, outputs))
        }
        (x, w, b) => bail!("linear: inputs {x:?}, weight {w:?} and bias {b:?} do not fit"),
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "linear"
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
        let (rows, inputs, outputs) = dims(lx, lw, lb)?;
        let (x, w, b) = (
            f32_slice(sx, lx, "linear input")?,
            f32_slice(sw, lw, "linear weight")?,
            f32_slice(sb, lb, "linear bias")?,
        );
        let mut y = vec![0f32; rows * outputs];
        matmul(
            (rows, outputs, inputs),
            &mut y,
            outputs,
            View {
                data: x,
                rs: inputs,
                cs: 1,
            },
            View {
                data: w,
                rs: 1,
                cs: inputs,
            },
            false,
            Threads::Pool,
        );
        if outputs > 0 {
            let relu = self.relu;
            let task = ROWS_PER_TASK * outputs;
            let zeros: Vec<Vec<usize>> = y
                .par_chunks_mut(task)
                .enumerate()
                .map(|(t, rows)| {
                    let mut zeros = Vec::new();
                    for (r, row) in rows.chunks_exact_mut(outputs).enumerate() {
                        for (o, (v, b)) in row.iter_mut().zip(b).enumerate() {
                            *v += b;
                            if relu {
                                if *v == 0.0 {
                                    zeros.push(t * task + r * outputs + o);
                                }
                                *v = v.max(0.0);
                            }
                        }
                    }
                    zeros
                })
                .collect();
            if relu {
                *self
                    .zeros
                    .lock()
                    .map_err(|_| candle_core::Error::Msg("linear: zeros poisoned".into()))? =
                    zeros.concat();
            }
        }
        Ok((CpuStorage::F32(y), Shape::from((rows, outputs))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (x, w, grad) = (x.contiguous()?, w.contiguous()?, grad.contiguous()?);
        let (rows, inputs, outputs) = dims(x.layout(), w.layout(), b.layout())?;
        let grad = if self.relu {
            self.relu_grad(res, &grad)?
        } else {
            grad
        };
        let mut dw = vec![0f32; outputs * inputs];
        let mut db = vec![0f32; outputs];
        let mut dx = vec![0f32; if x.track_op() { rows * inputs } else { 0 }];
        with_values(&grad, "linear output gradient", |dy| {
            let dy_t = View {
                data: dy,
                rs: 1,
                cs: outputs,
            };
            with_values(&x, "linear input", |xv| {
                let x_view = View {
                    data: xv,
                    rs: inputs,
                    cs: 1,
                };
                let dims = (outputs, inputs, rows);
                matmul(dims, &mut dw, inputs, dy_t, x_view, false, Threads::Pool);
                Ok(())
            })?;
            if outputs > 0 {
                for row in dy.chunks_exact(outputs) {
                    for (s, v) in db.iter_mut().zip(row) {
                        *s += v;
                    }
                }
            }
            if !dx.is_empty() {
                with_values(&w, "linear weight", |wv| {
                    let dy_view = View {
                        data: dy,
                        rs: outputs,
                        cs: 1,
                    };
                    let w_view = View {
                        data: wv,
                        rs: inputs,
                        cs: 1,
                    };
                    let dims = (rows, inputs, outputs);
                    matmul(dims, &mut dx, inputs, dy_view, w_view, false, Threads::Pool);
                    Ok(())
                })?;
            }
            Ok(())
        })?;
        let device = x.device();
        let dx = if x.track_op() {
            Some(Tensor::from_vec(dx, (rows, inputs), device)?)
        } else {
            None
        };
        Ok((
            dx,
            Some(Tensor::from_vec(dw, (outputs, inputs), device)?),
            Some(Tensor::from_vec(db, outputs, device)?),
        ))
    }
}

impl Linear {
    /// `dY ⊙ m`, m = 1 where the relu passed (output > 0, or pre-activation exactly 0) and 0
    /// elsewhere: the product candle's relu backward pass computes.
    fn relu_grad(&self, res: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
        let res = res.contiguous()?;
        let zeros = self
            .zeros
            .lock()
            .map_err(|_| candle_core::Error::Msg("linear: zeros poisoned".into()))?;
        let masked = with_values(grad, "linear output gradient", |dy| {
            with_values(&res, "linear output", |y| {
                // Branch-free: the outputs' signs are as good as random.
                let mut masked: Vec<f32> = dy
                    .iter()
                    .zip(y)
                    .map(|(g, v)| g * f32::from(u8::from(*v > 0.0)))
                    .collect();
                for &i in zeros.iter() {
                    masked[i] = dy[i] * 1.0;
                }
                Ok(masked)
            })
        })?;
        Tensor::from_vec(masked, grad.shape(), grad.device())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Var;

    use super::*;

    fn var(shape: &[usize], seed: u64) -> Var {
        crate::cpu_ops::seeded_var(shape, seed)
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        a.sub(b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn values_and_gradients_match_candles_matmul_and_broadcast_add() {
        // 70 rows: two bias tasks of 64 and a short one.
        let (x, w, b) = (var(&[70, 33], 1), var(&[9, 33], 2), var(&[9], 3));
        let ours = x
            .as_tensor()
            .apply_op3(w.as_tensor(), b.as_tensor(), Linear::plain())
            .unwrap();
        let theirs = x
            .as_tensor()
            .matmul(&w.as_tensor().t().unwrap())
            .unwrap()
            .broadcast_add(b.as_tensor())
            .unwrap();
        assert!(max_diff(&ours, &theirs) < 1e-5);
        let loss = |y: &Tensor| y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let (g_ours, g_theirs) = (loss(&ours), loss(&theirs));
        for v in [&x, &w, &b] {
            let (a, b) = (g_ours.get(v).unwrap(), g_theirs.get(v).unwrap());
            assert!(max_diff(a, b) < 1e-4, "{:?}", v.dims());
        }
    }

    #[test]
    fn the_folded_relu_gives_candles_relu_values_and_gradients_bit_for_bit() {
        // 130 rows (three bias tasks); row 7 of the input is zero and half the bias is zero,
        // so some pre-activations are exactly 0, where candle's relu passes the gradient.
        let x = var(&[130, 17], 11);
        let w = var(&[12, 17], 12);
        let mut bias = var(&[12], 13).as_tensor().to_vec1::<f32>().unwrap();
        for v in bias.iter_mut().step_by(2) {
            *v = 0.0;
        }
        let b = Var::from_vec(bias, 12, &candle_core::Device::Cpu).unwrap();
        let mut rows = x.as_tensor().to_vec2::<f32>().unwrap();
        rows[7] = vec![0.0; 17];
        let x = Var::from_vec(rows.concat(), (130, 17), &candle_core::Device::Cpu).unwrap();
        // The input computed from parameters, so its gradient is made too.
        let input = x.as_tensor().affine(1.0, 0.0).unwrap();
        let fused = input
            .apply_op3(w.as_tensor(), b.as_tensor(), Linear::relu())
            .unwrap();
        let plain = input
            .apply_op3(w.as_tensor(), b.as_tensor(), Linear::plain())
            .unwrap()
            .relu()
            .unwrap();
        let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(values(&fused), values(&plain));
        let exact_zeros = input
            .apply_op3(w.as_tensor(), b.as_tensor(), Linear::plain())
            .unwrap()
            .eq(0.0)
            .unwrap()
            .to_dtype(candle_core::DType::F32)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(exact_zeros >= 6.0, "{exact_zeros} exact zeros");
        // A loss whose gradient is nonzero everywhere, signs mixed.
        let weights = var(&[130, 12], 14).as_tensor().detach();
        let loss = |y: &Tensor| {
            y.mul(&weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap()
        };
        let (gf, gp) = (loss(&fused), loss(&plain));
        for v in [&x, &w, &b] {
            assert_eq!(
                values(gf.get(v).unwrap()),
                values(gp.get(v).unwrap()),
                "{:?}",
                v.dims()
            );
        }
    }

    #[test]
    fn the_input_gradient_is_made_only_for_computed_inputs() {
        let (w, b) = (var(&[4, 6], 4), var(&[4], 5));
        let data = var(&[5, 6], 6).as_tensor().detach();
        let y = data
            .apply_op3(w.as_tensor(), b.as_tensor(), Linear::plain())
            .unwrap();
        let (dx, dw, db) = Linear::plain()
            .bwd(
                &data,
                w.as_tensor(),
                b.as_tensor(),
                &y,
                &y.ones_like().unwrap(),
            )
            .unwrap();
        assert!(dx.is_none() && dw.is_some() && db.is_some());
        let x = Var::from_tensor(&data).unwrap();
        let computed = x.as_tensor().affine(2.0, 0.0).unwrap();
        let (dx, _, db) = Linear::plain()
            .bwd(
                &computed,
                w.as_tensor(),
                b.as_tensor(),
                &y,
                &y.ones_like().unwrap(),
            )
            .unwrap();
        assert_eq!(dx.unwrap().dims(), [5, 6]);
        // The bias gradient of a ones gradient is the row count.
        assert_eq!(db.unwrap().to_vec1::<f32>().unwrap(), vec![5.0; 4]);
    }

    #[test]
    fn shapes_that_do_not_fit_are_refused() {
        let (x, w, b) = (var(&[3, 5], 7), var(&[2, 4], 8), var(&[2], 9));
        let err = x
            .as_tensor()
            .apply_op3(w.as_tensor(), b.as_tensor(), Linear::plain())
            .unwrap_err()
            .to_string();
        assert!(err.contains("do not fit"), "{err}");
    }
}
