//! Optimisers that update parameter buffers in place.
//!
//! candle-nn's `AdamW::step` builds a dozen temporary tensors per variable per step and took
//! about half of a training step on CPU (DESIGN.md §10). Ours keep their state in plain
//! buffers and, on CPU, run one fused loop per parameter through candle's in-place custom-op
//! API: no allocation per variable. Other devices (CUDA) keep the moments as tensors on the
//! device and update with tensor arithmetic, the same operations in the same order, so a step
//! copies nothing to the host; only [`Optimizer::save`] (a checkpoint) reads the moments back.

use std::cell::RefCell;

use candle_core::{CpuStorage, InplaceOp2, Layout, Shape, Tensor};
use serde::{Deserialize, Serialize};

pub use crate::config::OptimizerKind;
use crate::config::TrainConfig;
use crate::model::Param;
use crate::{Error, Result};

/// Updates parameters in place from their gradients.
pub trait Optimizer: Send {
    /// One update of `params` with `grads` (same order and shapes).
    fn step(&mut self, params: &[Param], grads: &[Tensor]) -> Result<()>;
    /// A copy with the same state (PBT copies optimiser state with the parameters).
    fn boxed_clone(&self) -> Box<dyn Optimizer>;
    /// Sets the learning rate of the following steps (a schedule's value, [`epoch_lr`]).
    fn set_lr(&mut self, lr: f64);
    /// The step count and moment buffers, for a checkpoint (read back from the device where
    /// they live there).
    fn save(&self) -> Result<OptimizerState>;
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
    Box::new(Fused::new(config, params))
}

/// Update number `step` (from 1) of one host buffer `p` with gradient `g` and moments `m`,
/// `v` (`v` empty for SGD) under `config`, whose `lr` is the rate: the arithmetic
/// [`Optimizer::step`] applies to each CPU parameter, element for element, so buffers that
/// stack several models' parameters update exactly as each model's own would.
pub(crate) fn update_host(
    config: &TrainConfig,
    step: u64,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    Coefficients::of(config, step).apply(p, g, m, v);
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
    /// Host moments: the CPU path's buffers, and the non-CPU path's only after a load.
    state: State,
    /// Device moments (first, second) per parameter on non-CPU devices; `None` until the
    /// parameter's first update there, when they are uploaded once from `state`.
    device: Vec<Option<(Tensor, Tensor)>>,
    /// CPU parameters take the device path too (the tests compare the two paths).
    tensor_path: bool,
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
    /// The scalars of update number `step` (from 1) under `config` (its `lr` is the rate).
    fn of(c: &TrainConfig, step: u64) -> Self {
        Self {
            kind: c.optimizer,
            lr: c.lr as f32,
            weight_decay: c.weight_decay as f32,
            momentum: c.momentum as f32,
            beta1: c.beta1 as f32,
            beta2: c.beta2 as f32,
            eps: c.eps as f32,
            bias1: 1.0 - (c.beta1 as f32).powi(step as i32),
            bias2: 1.0 - (c.beta2 as f32).powi(step as i32),
            first_step: step == 1,
        }
    }

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

    /// [`Coefficients::apply`] in tensor arithmetic on the parameter's own device: the new
    /// parameter values are written into `p`, and the new moments returned (`v` is an empty
    /// placeholder for SGD). Each operation and its rounding order are those of `apply`, so on
    /// CPU the result is bit for bit the fused loop's.
    fn apply_tensors(
        &self,
        p: &Param,
        g: &Tensor,
        m: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let c = *self;
        let x = p.var.as_tensor();
        let f = f64::from;
        let (new_p, m, v) = match c.kind {
            OptimizerKind::Sgd => {
                let d = (g + x.affine(f(c.weight_decay), 0.0)?)?;
                let (d, m) = if c.momentum > 0.0 {
                    let m = if c.first_step {
                        d
                    } else {
                        (m.affine(f(c.momentum), 0.0)? + d)?
                    };
                    (m.clone(), m)
                } else {
                    (d, m.clone())
                };
                ((x - d.affine(f(c.lr), 0.0)?)?, m, v.clone())
            }
            OptimizerKind::Adam | OptimizerKind::Adamw => {
                let (x, g) = if c.kind == OptimizerKind::Adamw {
                    (x.affine(f(1.0 - c.lr * c.weight_decay), 0.0)?, g.clone())
                } else {
                    (x.clone(), (g + x.affine(f(c.weight_decay), 0.0)?)?)
                };
                let m = (m.affine(f(c.beta1), 0.0)? + g.affine(f(1.0 - c.beta1), 0.0)?)?;
                // ((1 − β₂) g) g, the fused loop's left-to-right order.
                let v = (v.affine(f(c.beta2), 0.0)? + (g.affine(f(1.0 - c.beta2), 0.0)? * &g)?)?;
                let step_size = c.lr / c.bias1;
                let inv_sqrt_bias2 = 1.0 / c.bias2.sqrt();
                let denom = v.sqrt()?.affine(f(inv_sqrt_bias2), f(c.eps))?;
                let update = (m.affine(f(step_size), 0.0)? / denom)?;
                ((x - update)?, m, v)
            }
        };
        p.var.set(&new_p)?;
        Ok((m, v))
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

    fn save(&self) -> Result<OptimizerState> {
        let (mut m, mut v) = (self.state.m.clone(), self.state.v.clone());
        for (i, moments) in self.device.iter().enumerate() {
            if let Some((dm, dv)) = moments {
                m[i] = dm.flatten_all()?.to_vec1::<f32>()?;
                if !v[i].is_empty() {
                    v[i] = dv.flatten_all()?.to_vec1::<f32>()?;
                }
            }
        }
        Ok(OptimizerState {
            step: self.step,
            m,
            v,
        })
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
        self.device.iter_mut().for_each(|d| *d = None);
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
        let coefficients = Coefficients::of(&self.config, self.step);
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            if p.var.device().is_cpu() && !self.tensor_path {
                let g = g.contiguous()?;
                let op = FusedUpdate {
                    coefficients,
                    m: RefCell::new(&mut self.state.m[i]),
                    v: RefCell::new(&mut self.state.v[i]),
                };
                p.var.as_tensor().inplace_op2(&g, &op)?;
            } else {
                let (m, v) = match self.device[i].take() {
                    Some(moments) => moments,
                    None => self.upload(i, p)?,
                };
                self.device[i] = Some(coefficients.apply_tensors(p, g, &m, &v)?);
            }
        }
        Ok(())
    }
}

impl Fused {
    fn new(config: &TrainConfig, params: &[Param]) -> Self {
        let sizes = params.iter().map(|p| p.var.elem_count()).collect();
        let state = State::new(sizes, config.optimizer);
        Self {
            config: config.clone(),
            step: 0,
            device: vec![None; state.m.len()],
            state,
            tensor_path: false,
        }
    }

    /// Parameter `i`'s host moments as tensors on `p`'s device (its first non-CPU update).
    fn upload(&self, i: usize, p: &Param) -> Result<(Tensor, Tensor)> {
        let shape: &Shape = p.var.shape();
        let on_device = |b: &[f32]| -> Result<Tensor> {
            Ok(if b.is_empty() {
                Tensor::zeros(shape, p.var.dtype(), p.var.device())?
            } else {
                Tensor::from_slice(b, shape, p.var.device())?
            })
        };
        Ok((on_device(&self.state.m[i])?, on_device(&self.state.v[i])?))
    }
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

    /// Five steps of `kind` on two parameters, by the fused CPU loop or by the tensor path
    /// that non-CPU devices take; a checkpoint round trip after the third step.
    fn five_steps(kind: OptimizerKind, tensor_path: bool) -> (Vec<Vec<f32>>, OptimizerState) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut draw =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0..1.0)).collect() };
        let params = [param(&draw(37)), param(&draw(5))];
        let build_one = || Fused {
            tensor_path,
            ..Fused::new(&config(kind), &params)
        };
        let mut opt = build_one();
        for step in 0..5 {
            let grads: Vec<Tensor> = params
                .iter()
                .map(|p| Tensor::new(draw(p.var.elem_count()), &Device::Cpu).unwrap())
                .collect();
            opt.step(&params, &grads).unwrap();
            if step == 2 {
                let saved = opt.save().unwrap();
                opt = build_one();
                opt.load(saved).unwrap();
                opt.set_lr(0.05);
            }
        }
        (params.iter().map(values).collect(), opt.save().unwrap())
    }

    #[test]
    fn the_device_path_is_the_fused_loop_bit_for_bit() {
        for kind in [
            OptimizerKind::Sgd,
            OptimizerKind::Adam,
            OptimizerKind::Adamw,
        ] {
            let (fused, fused_state) = five_steps(kind, false);
            let (tensors, tensor_state) = five_steps(kind, true);
            assert_eq!(fused, tensors, "{kind:?}: parameters");
            assert_eq!(fused_state, tensor_state, "{kind:?}: saved moments");
            assert_eq!(tensor_state.step, 5);
        }
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
