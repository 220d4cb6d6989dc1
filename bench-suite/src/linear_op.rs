//! The CPU kernel of a linear layer with bias, `y = x Wᵀ + b`, as one candle custom op.
//!
//! candle's own `matmul` + `broadcast_add` compute, in the backward pass, the input's
//! gradient even where the input is data (the encoder's first layer: a product as large as
//! the forward one, thrown away), transpose the weight, and reduce the bias gradient through
//! a broadcast. Here the backward pass makes the weight gradient `dYᵀ X` and, only when the
//! input is itself computed from parameters, `dY W`, each one `gemm` call on rayon's pool;
//! the bias gradient is the column sums of `dY`, summed row by row in order.

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_ops::{f32_slice, matmul, with_values, Threads, View};

/// `(x: rows × in, w: out × in, b: out)` → `rows × out`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Linear;

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
            y.par_chunks_mut(ROWS_PER_TASK * outputs).for_each(|rows| {
                for row in rows.chunks_exact_mut(outputs) {
                    for (v, b) in row.iter_mut().zip(b) {
                        *v += b;
                    }
                }
            });
        }
        Ok((CpuStorage::F32(y), Shape::from((rows, outputs))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (x, w, grad) = (x.contiguous()?, w.contiguous()?, grad.contiguous()?);
        let (rows, inputs, outputs) = dims(x.layout(), w.layout(), b.layout())?;
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
            .apply_op3(w.as_tensor(), b.as_tensor(), Linear)
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
    fn the_input_gradient_is_made_only_for_computed_inputs() {
        let (w, b) = (var(&[4, 6], 4), var(&[4], 5));
        let data = var(&[5, 6], 6).as_tensor().detach();
        let y = data
            .apply_op3(w.as_tensor(), b.as_tensor(), Linear)
            .unwrap();
        let (dx, dw, db) = Linear
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
        let (dx, _, db) = Linear
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
            .apply_op3(w.as_tensor(), b.as_tensor(), Linear)
            .unwrap_err()
            .to_string();
        assert!(err.contains("do not fit"), "{err}");
    }
}
