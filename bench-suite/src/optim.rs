//! Optimisers that update parameter buffers in place.
//!
//! candle-nn's `AdamW::step` builds a dozen temporary tensors per variable per step and took
//! about half of a training step on CPU (DESIGN.md §10). Ours keep their state in plain
//! buffers and, on CPU, run one fused loop per parameter through candle's in-place custom-op
//! API: no allocation per variable. Other devices fall back to tensor arithmetic.

use std::cell::RefCell;

use candle_core::{CpuStorage, InplaceOp2, Layout, Shape, Tensor};
use serde::{Deserialize, Serialize};

pub use crate::config::OptimizerKind;
use crate::config::TrainConfig;
use crate::model::Param;
use crate::{Error, Result};

/// Updates parameters in place from their gradients.
pub trait Optimizer {
    /// One update of `params` with `grads` (same order and shapes).
    fn step(&mut self, params: &[Param], grads: &[Tensor]) -> Result<()>;
    /// A copy with the same state (PBT copies optimiser state with the parameters).
    fn boxed_clone(&self) -> Box<dyn Optimizer>;
    /// Sets the learning rate of the following steps (a schedule's value, [`epoch_lr`]).
    fn set_lr(&mut self, lr: f64);
    /// The step count and moment buffers, for a checkpoint.
    fn save(&self) -> OptimizerState;
    /// Continues from a [`Optimizer::save`] of an optimiser over the same parameters.
    fn load(&mut self, state: OptimizerState) -> Result<()>;
}

/// An optimiser's step count and moment buffers (per parameter, in order), as a checkpoint
/// holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// Updates taken.
    pub step: u64,
    /// First moments (momentum buffers for SGD).
    pub m: Vec<Vec<f32>>,
    /// Second moments (empty for SGD).
    pub v: Vec<Vec<f32>>,
}

/// The learning rate of 1-based epoch `epoch`: `lr · lr_decay^⌊epoch / lr_decay_every⌋`, or
/// `lr` without a schedule (`lr_decay_every = 0`).
///
/// This is the schedule of Sener & Koltun's `train_multi_task.py` with `lr_decay = 0.85`,
/// `lr_decay_every = 10`: at the start of every epoch whose number is a multiple of 10 the
/// rate is multiplied by 0.85, so epochs 1–9 run at `lr`, 10–19 at 0.85 `lr`, …, and epoch 100
/// at 0.85¹⁰ `lr`. (PyTorch's `StepLR(step_size=10)` would decay one epoch later.)
pub fn epoch_lr(config: &TrainConfig, epoch: usize) -> f64 {
    if config.lr_decay_every == 0 {
        return config.lr;
    }
    let decays = (epoch / config.lr_decay_every).min(i32::MAX as usize) as i32;
    config.lr * config.lr_decay.powi(decays)
}

/// Builds the optimiser for `params`.
pub fn build(config: &TrainConfig, params: &[Param]) -> Box<dyn Optimizer> {
    let sizes = params.iter().map(|p| p.var.elem_count()).collect();
    Box::new(Fused {
        config: config.clone(),
        step: 0,
        state: State::new(sizes, config.optimizer),
    })
}

/// Per-parameter first and second moment buffers (momentum uses only the first).
#[derive(Clone)]
struct State {
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl State {
    fn new(sizes: Vec<usize>, kind: OptimizerKind) -> Self {
        let m = sizes.iter().map(|&n| vec![0.0; n]).collect();
        let v = match kind {
            OptimizerKind::Sgd => sizes.iter().map(|_| Vec::new()).collect(),
            _ => sizes.iter().map(|&n| vec![0.0; n]).collect(),
        };
        Self { m, v }
    }
}

#[derive(Clone)]
struct Fused {
    config: TrainConfig,
    step: u64,
    state: State,
}

/// Scalars of one update, shared by every parameter of a step.
#[derive(Debug, Clone, Copy)]
struct Coefficients {
    kind: OptimizerKind,
    lr: f32,
    weight_decay: f32,
    momentum: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    /// 1 − β₁ᵗ and 1 − β₂ᵗ.
    bias1: f32,
    bias2: f32,
    first_step: bool,
}

impl Coefficients {
    /// The fused update of one parameter buffer (`v` is empty for SGD).
    fn apply(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let c = *self;
        match c.kind {
            OptimizerKind::Sgd => {
                for i in 0..p.len() {
                    let d = g[i] + c.weight_decay * p[i];
                    let d = if c.momentum > 0.0 {
                        m[i] = if c.first_step {
                            d
                        } else {
                            c.momentum * m[i] + d
                        };
                        m[i]
                    } else {
                        d
                    };
                    p[i] -= c.lr * d;
                }
            }
            OptimizerKind::Adam | OptimizerKind::Adamw => {
                let decoupled = c.kind == OptimizerKind::Adamw;
                let step_size = c.lr / c.bias1;
                let inv_sqrt_bias2 = 1.0 / c.bias2.sqrt();
                let moments = m.iter_mut().zip(v.iter_mut());
                for ((p, &g), (m, v)) in p.iter_mut().zip(g).zip(moments) {
                    let mut g = g;
                    if decoupled {
                        *p *= 1.0 - c.lr * c.weight_decay;
                    } else {
                        g += c.weight_decay * *p;
                    }
                    *m = c.beta1 * *m + (1.0 - c.beta1) * g;
                    *v = c.beta2 * *v + (1.0 - c.beta2) * g * g;
                    *p -= step_size * *m / (v.sqrt() * inv_sqrt_bias2 + c.eps);
                }
            }
        }
    }
}

/// The in-place op: parameter storage is mutated, the gradient read, the moments live in
/// the optimiser's buffers (borrowed for the duration of one call).
struct FusedUpdate<'a> {
    coefficients: Coefficients,
    m: RefCell<&'a mut [f32]>,
    v: RefCell<&'a mut [f32]>,
}

impl InplaceOp2 for FusedUpdate<'_> {
    fn name(&self) -> &'static str {
        "mtlbench-fused-optimizer-step"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let (CpuStorage::F32(p), CpuStorage::F32(g)) = (s1, s2) else {
            candle_core::bail!("fused optimizer step supports f32 parameters only")
        };
        let (Some((p0, p1)), Some((g0, g1))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("fused optimizer step needs contiguous parameter and gradient")
        };
        self.coefficients.apply(
            &mut p[p0..p1],
            &g[g0..g1],
            &mut self.m.borrow_mut(),
            &mut self.v.borrow_mut(),
        );
        Ok(())
    }
}

impl Optimizer for Fused {
    fn boxed_clone(&self) -> Box<dyn Optimizer> {
        Box::new(self.clone())
    }

    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn save(&self) -> OptimizerState {
        OptimizerState {
            step: self.step,
            m: self.state.m.clone(),
            v: self.state.v.clone(),
        }
    }

    fn load(&mut self, state: OptimizerState) -> Result<()> {
        let sizes = |b: &[Vec<f32>]| b.iter().map(Vec::len).collect::<Vec<_>>();
        if sizes(&state.m) != sizes(&self.state.m) || sizes(&state.v) != sizes(&self.state.v) {
            return Err(Error::Internal(
                "a checkpoint's optimiser state does not fit the model's parameters".into(),
            ));
        }
        self.step = state.step;
        self.state = State {
            m: state.m,
            v: state.v,
        };
        Ok(())
    }

    fn step(&mut self, params: &[Param], grads: &[Tensor]) -> Result<()> {
        if params.len() != grads.len() {
            return Err(Error::Internal(format!(
                "optimizer got {} gradients for {} parameters",
                grads.len(),
                params.len()
            )));
        }
        self.step += 1;
        let c = &self.config;
        let coefficients = Coefficients {
            kind: c.optimizer,
            lr: c.lr as f32,
            weight_decay: c.weight_decay as f32,
            momentum: c.momentum as f32,
            beta1: c.beta1 as f32,
            beta2: c.beta2 as f32,
            eps: c.eps as f32,
            bias1: 1.0 - (c.beta1 as f32).powi(self.step as i32),
            bias2: 1.0 - (c.beta2 as f32).powi(self.step as i32),
            first_step: self.step == 1,
        };
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            let m = &mut self.state.m[i];
            let v = &mut self.state.v[i];
            if p.var.device().is_cpu() {
                let g = g.contiguous()?;
                let op = FusedUpdate {
                    coefficients,
                    m: RefCell::new(m),
                    v: RefCell::new(v),
                };
                p.var.as_tensor().inplace_op2(&g, &op)?;
            } else {
                device_step(&coefficients, p, g, m, v)?;
            }
        }
        Ok(())
    }
}

/// Non-CPU devices: the same update with host-side moments. Slow (one transfer per
/// parameter), but exact; a device kernel can replace it behind the same trait.
fn device_step(
    c: &Coefficients,
    p: &Param,
    g: &Tensor,
    m: &mut [f32],
    v: &mut [f32],
) -> Result<()> {
    let shape: Shape = p.var.shape().clone();
    let mut host_p = p.var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
    let host_g = g.flatten_all()?.to_vec1::<f32>()?;
    c.apply(&mut host_p, &host_g, m, v);
    p.var
        .set(&Tensor::from_vec(host_p, shape, p.var.device())?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn config(kind: OptimizerKind) -> TrainConfig {
        TrainConfig {
            optimizer: kind,
            lr: 0.1,
            weight_decay: 0.01,
            momentum: 0.9,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            ..Default::default()
        }
    }

    fn param(values: &[f32]) -> Param {
        Param {
            name: "p".into(),
            var: Var::from_slice(values, values.len(), &Device::Cpu).unwrap(),
        }
    }

    fn values(p: &Param) -> Vec<f32> {
        p.var.as_tensor().to_vec1::<f32>().unwrap()
    }

    #[test]
    fn adamw_matches_a_hand_computed_first_step() {
        let p = param(&[1.0, -2.0]);
        let g = Tensor::new(&[0.5f32, -0.25], &Device::Cpu).unwrap();
        let mut opt = build(&config(OptimizerKind::Adamw), std::slice::from_ref(&p));
        opt.step(std::slice::from_ref(&p), &[g]).unwrap();
        // Step 1: m̂ = g, v̂ = g², update = lr·g/(|g|+ε) = ±lr; decay p·(1 − lr·wd).
        let want = [1.0 * (1.0 - 0.001) - 0.1, -2.0 * (1.0 - 0.001) + 0.1];
        for (a, b) in values(&p).iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn sgd_momentum_accumulates() {
        let p = param(&[0.0]);
        let mut c = config(OptimizerKind::Sgd);
        c.weight_decay = 0.0;
        let mut opt = build(&c, std::slice::from_ref(&p));
        let g = Tensor::new(&[1.0f32], &Device::Cpu).unwrap();
        opt.step(std::slice::from_ref(&p), std::slice::from_ref(&g))
            .unwrap();
        opt.step(std::slice::from_ref(&p), std::slice::from_ref(&g))
            .unwrap();
        // buf = 1, then 1.9: p = −0.1 − 0.19.
        assert!((values(&p)[0] + 0.29).abs() < 1e-6);
    }

    #[test]
    fn step_decay_follows_sener_and_koltun() {
        let sk = TrainConfig {
            lr: 5e-4,
            lr_decay: 0.85,
            lr_decay_every: 10,
            ..Default::default()
        };
        for (epoch, decays) in [
            (1, 0),
            (9, 0),
            (10, 1),
            (19, 1),
            (20, 2),
            (55, 5),
            (100, 10),
        ] {
            let want = 5e-4 * 0.85f64.powi(decays);
            assert!((epoch_lr(&sk, epoch) - want).abs() < 1e-18, "epoch {epoch}");
        }
        let flat = TrainConfig::default();
        assert_eq!(epoch_lr(&flat, 1), flat.lr);
        assert_eq!(epoch_lr(&flat, 1000), flat.lr);
    }

    #[test]
    fn set_lr_changes_the_next_step() {
        // SGD without momentum or decay moves by lr · g: 0.1 first, then 0.05 after set_lr.
        let p = param(&[0.0]);
        let mut c = config(OptimizerKind::Sgd);
        (c.weight_decay, c.momentum) = (0.0, 0.0);
        let mut opt = build(&c, std::slice::from_ref(&p));
        let g = Tensor::new(&[1.0f32], &Device::Cpu).unwrap();
        opt.step(std::slice::from_ref(&p), std::slice::from_ref(&g))
            .unwrap();
        opt.set_lr(0.05);
        opt.step(std::slice::from_ref(&p), std::slice::from_ref(&g))
            .unwrap();
        assert!((values(&p)[0] + 0.15).abs() < 1e-6, "{:?}", values(&p));
    }

    #[test]
    fn adam_adds_l2_to_the_gradient() {
        let p = param(&[1.0]);
        let mut opt = build(&config(OptimizerKind::Adam), std::slice::from_ref(&p));
        let g = Tensor::new(&[0.0f32], &Device::Cpu).unwrap();
        opt.step(std::slice::from_ref(&p), &[g]).unwrap();
        // g + wd·p = 0.01 > 0, so the first Adam step moves p down by lr.
        assert!((values(&p)[0] - 0.9).abs() < 1e-5);
    }
}
