//! The arithmetic of a stacked population: P `mlp` members of one width and one task set,
//! their parameters, gradients and optimiser moments held in six buffers (first layer,
//! its bias, second layer, its bias, every head's weights, every head's bias), each the
//! members' blocks one after another.
//!
//! A step runs the first layer of all members as one matrix product (the batch is shared, so
//! `x · [W₁⁽¹⁾; …; W₁⁽ᴾ⁾]ᵀ` gives every member's pre-activations side by side), then each
//! member's second layer, heads, losses and backward pass as `gemm` calls of that member
//! only, members in parallel on rayon's pool. The update is the optimiser's own element-wise
//! arithmetic ([`optim::update_host`]) over each whole buffer: per element it is what each
//! member's optimiser would do. What differs from a member trained alone is the order of
//! some sums (the heads' contributions to the representation's gradient are one product here,
//! one per head there), so results agree up to float rounding, not bit for bit.

use mtl_datasets::{LossKind, Targets, Task};
use rayon::prelude::*;

use crate::config::TrainConfig;
use crate::cpu_ops::{matmul, Threads, View};
use crate::optim::{self, OptimizerState};
use crate::{Error, Result};

/// Parameter buffers: w₁, b₁, w₂, b₂, head weights, head biases.
const GROUPS: usize = 6;

/// A member's step that met a non-finite loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NonFiniteLoss {
    /// The member.
    pub(crate) member: usize,
    /// Its first task with a non-finite loss.
    pub(crate) task: usize,
}

/// P `mlp` members as one model (see the module docs).
pub(crate) struct StackedMlp {
    members: usize,
    inputs: usize,
    width: usize,
    /// Each task's output columns and where they start in a member's head block.
    outputs: Vec<usize>,
    offsets: Vec<usize>,
    losses: Vec<LossKind>,
    params: [Vec<f32>; GROUPS],
    grads: [Vec<f32>; GROUPS],
    m: [Vec<f32>; GROUPS],
    v: [Vec<f32>; GROUPS],
    /// Optimiser updates taken so far.
    updates: u64,
    /// Activations, reused from step to step: the first layer's pre-activations and outputs
    /// (rows × P·width, members side by side), then member-major buffers (P blocks).
    a1: Vec<f32>,
    z1: Vec<f32>,
    a2: Vec<f32>,
    z2: Vec<f32>,
    y: Vec<f32>,
    dy: Vec<f32>,
    dz2: Vec<f32>,
    dz1: Vec<f32>,
}

/// One member's share of a step: its parameters, gradient blocks and scratch.
struct Member<'a> {
    w2: &'a [f32],
    b2: &'a [f32],
    head_w: &'a [f32],
    head_b: &'a [f32],
    grads: [&'a mut [f32]; GROUPS],
    a2: &'a mut [f32],
    z2: &'a mut [f32],
    y: &'a mut [f32],
    dy: &'a mut [f32],
    dz2: &'a mut [f32],
    dz1: &'a mut [f32],
}

/// What one member trains on in a step: inputs (`rows × inputs`) and targets by task.
pub(crate) struct MemberBatch<'a> {
    pub(crate) x: &'a [f32],
    pub(crate) targets: &'a [(usize, Targets)],
}

/// The inputs of a step, read by every member: one batch for all, or one per member.
struct Shared<'a> {
    batches: &'a [MemberBatch<'a>],
    rows: usize,
    a1: &'a [f32],
    z1: &'a [f32],
}

impl Shared<'_> {
    /// Member `p`'s batch.
    fn batch(&self, p: usize) -> &MemberBatch<'_> {
        &self.batches[if self.batches.len() == 1 { 0 } else { p }]
    }
}

impl StackedMlp {
    /// Zeroed buffers for `members` members of width `width` on `inputs` features and
    /// `tasks`; `sgd` keeps no second moments.
    pub(crate) fn new(
        members: usize,
        inputs: usize,
        width: usize,
        tasks: &[Task],
        sgd: bool,
    ) -> Self {
        let outputs: Vec<usize> = tasks.iter().map(Task::output_dim).collect();
        let offsets = outputs
            .iter()
            .scan(0, |start, &o| {
                let here = *start;
                *start += o;
                Some(here)
            })
            .collect();
        let mut stack = Self {
            members,
            inputs,
            width,
            outputs,
            offsets,
            losses: tasks.iter().map(|t| t.loss).collect(),
            params: Default::default(),
            grads: Default::default(),
            m: Default::default(),
            v: Default::default(),
            updates: 0,
            a1: Vec::new(),
            z1: Vec::new(),
            a2: Vec::new(),
            z2: Vec::new(),
            y: Vec::new(),
            dy: Vec::new(),
            dz2: Vec::new(),
            dz1: Vec::new(),
        };
        for g in 0..GROUPS {
            let n = stack.block(g) * members;
            stack.params[g] = vec![0.0; n];
            stack.grads[g] = vec![0.0; n];
            stack.m[g] = vec![0.0; n];
            stack.v[g] = if sgd { Vec::new() } else { vec![0.0; n] };
        }
        stack
    }

    fn out_total(&self) -> usize {
        self.outputs.iter().sum()
    }

    /// Scalars of one member in buffer `g`.
    fn block(&self, g: usize) -> usize {
        let (h, o) = (self.width, self.out_total());
        [h * self.inputs, h, h * h, h, o * h, o][g]
    }

    /// Where each of a member's parameters (model order: w₁, b₁, w₂, b₂, then per task its
    /// head's weight and bias) lies: buffer, offset in the member's block, length.
    fn slots(&self) -> Vec<(usize, usize, usize)> {
        let (h, i) = (self.width, self.inputs);
        let mut slots = vec![(0, 0, h * i), (1, 0, h), (2, 0, h * h), (3, 0, h)];
        for (&start, &out) in self.offsets.iter().zip(&self.outputs) {
            slots.push((4, start * h, out * h));
            slots.push((5, start, out));
        }
        slots
    }

    /// Copies member `p`'s parameters (model order, flattened) and optimiser state in.
    pub(crate) fn load_member(
        &mut self,
        p: usize,
        params: &[Vec<f32>],
        optimizer: &OptimizerState,
    ) -> Result<()> {
        let slots = self.slots();
        let fits = |b: &[Vec<f32>]| {
            b.len() == slots.len() && b.iter().zip(&slots).all(|(v, s)| v.len() == s.2)
        };
        let no_v = optimizer.v.iter().all(Vec::is_empty) && self.v[0].is_empty();
        if !fits(params) || !fits(&optimizer.m) || !(no_v || fits(&optimizer.v)) {
            return Err(Error::Internal(format!(
                "member {p}'s parameters or optimiser state do not fit the stacked model"
            )));
        }
        if p > 0 && optimizer.step != self.updates {
            return Err(Error::Internal(format!(
                "member {p} has taken {} optimiser steps, member 0 {}",
                optimizer.step, self.updates
            )));
        }
        self.updates = optimizer.step;
        for (i, &(g, off, len)) in slots.iter().enumerate() {
            let at = p * self.block(g) + off;
            self.params[g][at..at + len].copy_from_slice(&params[i]);
            self.m[g][at..at + len].copy_from_slice(&optimizer.m[i]);
            if !self.v[g].is_empty() {
                self.v[g][at..at + len].copy_from_slice(&optimizer.v[i]);
            }
        }
        Ok(())
    }

    /// Member `p`'s parameters, model order, flattened.
    pub(crate) fn member_params(&self, p: usize) -> Vec<Vec<f32>> {
        self.member_buffers(p, &self.params)
    }

    /// Member `p`'s optimiser state.
    pub(crate) fn member_optimizer(&self, p: usize) -> OptimizerState {
        OptimizerState {
            step: self.updates,
            m: self.member_buffers(p, &self.m),
            v: if self.v[0].is_empty() {
                vec![Vec::new(); self.slots().len()]
            } else {
                self.member_buffers(p, &self.v)
            },
        }
    }

    fn member_buffers(&self, p: usize, buffers: &[Vec<f32>; GROUPS]) -> Vec<Vec<f32>> {
        self.slots()
            .iter()
            .map(|&(g, off, len)| {
                let at = p * self.block(g) + off;
                buffers[g][at..at + len].to_vec()
            })
            .collect()
    }

    /// Forward and backward pass of every member on `rows` rows: one batch shared by all
    /// members (members from one seed) or one per member; member p's loss is
    /// Σ_k `lambda[p][k]` L_k. Returns each member's per-task losses, or the first member
    /// whose loss was not finite. The gradients wait in the stack for [`StackedMlp::update`].
    pub(crate) fn forward_backward<'b>(
        &mut self,
        rows: usize,
        batches: &[MemberBatch<'b>],
        lambda: &[Vec<f64>],
    ) -> Result<std::result::Result<Vec<Vec<f64>>, NonFiniteLoss>> {
        let (members, h, inputs, o) = (self.members, self.width, self.inputs, self.out_total());
        let fits = batches.iter().all(|b| b.x.len() == rows * inputs);
        if !fits || !(batches.len() == 1 || batches.len() == members) || lambda.len() != members {
            return Err(Error::Internal(format!(
                "stacked step: {} batches (not all of {rows} rows of {inputs}) and {} weight \
                 vectors for {members} members",
                batches.len(),
                lambda.len()
            )));
        }
        let ph = members * h;
        for (buffer, len) in [
            (&mut self.a1, rows * ph),
            (&mut self.z1, rows * ph),
            (&mut self.a2, rows * ph),
            (&mut self.z2, rows * ph),
            (&mut self.dz2, rows * ph),
            (&mut self.dz1, rows * ph),
            (&mut self.y, members * rows * o),
            (&mut self.dy, members * rows * o),
        ] {
            buffer.resize(len, 0.0);
        }
        // First layer, a₁ = x W₁ᵀ + b₁ and z₁ = relu(a₁), members side by side: one product
        // for all on a shared batch, else one per member into its columns.
        let w1 = |p: usize| View {
            data: &self.params[0][p * h * inputs..],
            rs: 1,
            cs: inputs,
        };
        let x = |data: &'b [f32]| View {
            data,
            rs: inputs,
            cs: 1,
        };
        if let [shared] = batches {
            let dims = (rows, ph, inputs);
            matmul(
                dims,
                &mut self.a1,
                ph,
                x(shared.x),
                w1(0),
                false,
                Threads::Pool,
            );
        } else {
            for (p, b) in batches.iter().enumerate() {
                let (dims, a1) = ((rows, h, inputs), &mut self.a1[p * h..]);
                matmul(dims, a1, ph, x(b.x), w1(p), false, Threads::Pool);
            }
        }
        for (a, z) in self.a1.chunks_mut(ph).zip(self.z1.chunks_mut(ph)) {
            for ((a, z), b) in a.iter_mut().zip(z.iter_mut()).zip(&self.params[1]) {
                *a += b;
                *z = a.max(0.0);
            }
        }
        let shared = Shared {
            batches,
            rows,
            a1: &self.a1,
            z1: &self.z1,
        };
        let [g0, g1, g2, g3, g4, g5] = &mut self.grads;
        let mut grads = [
            g0.chunks_mut(h * inputs),
            g1.chunks_mut(h),
            g2.chunks_mut(h * h),
            g3.chunks_mut(h),
            g4.chunks_mut(o * h),
            g5.chunks_mut(o),
        ];
        let mut scratch = [
            self.a2.chunks_mut(rows * h),
            self.z2.chunks_mut(rows * h),
            self.dz2.chunks_mut(rows * h),
            self.dz1.chunks_mut(rows * h),
            self.y.chunks_mut(rows * o),
            self.dy.chunks_mut(rows * o),
        ];
        let mut parts = Vec::with_capacity(members);
        for p in 0..members {
            let mut next = |i: usize| grads[i].next().expect("one block per member");
            let grads = [next(0), next(1), next(2), next(3), next(4), next(5)];
            let mut next = |i: usize| scratch[i].next().expect("one block per member");
            let (a2, z2, dz2, dz1, y, dy) = (next(0), next(1), next(2), next(3), next(4), next(5));
            parts.push(Member {
                w2: &self.params[2][p * h * h..(p + 1) * h * h],
                b2: &self.params[3][p * h..(p + 1) * h],
                head_w: &self.params[4][p * o * h..(p + 1) * o * h],
                head_b: &self.params[5][p * o..(p + 1) * o],
                grads,
                a2,
                z2,
                y,
                dy,
                dz2,
                dz1,
            });
        }
        let layout = Layout {
            members,
            width: h,
            inputs,
            outputs: &self.outputs,
            offsets: &self.offsets,
            losses: &self.losses,
        };
        let losses: Vec<Vec<f64>> = parts
            .into_par_iter()
            .enumerate()
            .map(|(p, member)| member.step(p, &layout, &shared, &lambda[p]))
            .collect();
        for (member, l) in losses.iter().enumerate() {
            if let Some(task) = l.iter().position(|v| !v.is_finite()) {
                return Ok(Err(NonFiniteLoss { member, task }));
            }
        }
        Ok(Ok(losses))
    }

    /// Applies the gradients of the last [`StackedMlp::forward_backward`]: one optimiser
    /// update of every member under `config` (whose `lr` is the current rate).
    pub(crate) fn update(&mut self, config: &TrainConfig) {
        self.updates += 1;
        for g in 0..GROUPS {
            optim::update_host(
                config,
                self.updates,
                &mut self.params[g],
                &self.grads[g],
                &mut self.m[g],
                &mut self.v[g],
            );
        }
    }
}

/// The shapes a member's step needs.
struct Layout<'a> {
    members: usize,
    width: usize,
    inputs: usize,
    outputs: &'a [usize],
    offsets: &'a [usize],
    losses: &'a [LossKind],
}

/// `dst (row stride dst_rs) = lhs · rhs` on the calling thread (a member's own products;
/// members run in parallel).
fn product(dims: (usize, usize, usize), dst: &mut [f32], dst_rs: usize, lhs: View, rhs: View) {
    matmul(dims, dst, dst_rs, lhs, rhs, false, Threads::One);
}

/// The relu's backward pass: the gradient `d` passes where the pre-activation `a` is ≥ 0
/// (a select, not a branch, so it vectorises).
fn relu_mask(d: &mut [f32], a: &[f32]) {
    for (d, a) in d.iter_mut().zip(a) {
        *d = if *a < 0.0 { 0.0 } else { *d };
    }
}

/// Column sums of a `rows × cols` matrix, summed row by row in order.
fn column_sums(m: &[f32], cols: usize, out: &mut [f32]) {
    out.fill(0.0);
    for row in m.chunks(cols) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

impl Member<'_> {
    /// Member `p`'s second layer, heads, losses and backward pass; returns its losses.
    fn step(self, p: usize, l: &Layout<'_>, s: &Shared<'_>, lambda: &[f64]) -> Vec<f64> {
        let (h, rows, ph) = (l.width, s.rows, l.members * l.width);
        let o: usize = l.outputs.iter().sum();
        let view = |data, rs, cs| View { data, rs, cs };
        let z1 = &s.z1[p * h..];
        let [g_w1, g_b1, g_w2, g_b2, g_hw, g_hb] = self.grads;
        // Second layer: a₂ = z₁ W₂ᵀ + b₂, z₂ = relu(a₂).
        product(
            (rows, h, h),
            self.a2,
            h,
            view(z1, ph, 1),
            view(self.w2, 1, h),
        );
        for (a, z) in self.a2.chunks_mut(h).zip(self.z2.chunks_mut(h)) {
            for ((a, z), b) in a.iter_mut().zip(z.iter_mut()).zip(self.b2) {
                *a += b;
                *z = a.max(0.0);
            }
        }
        // Heads: y = z₂ Aᵀ + c, every task's columns side by side.
        product(
            (rows, o, h),
            self.y,
            o,
            view(self.z2, h, 1),
            view(self.head_w, 1, h),
        );
        for row in self.y.chunks_mut(o) {
            for (y, c) in row.iter_mut().zip(self.head_b) {
                *y += c;
            }
        }
        self.dy.fill(0.0);
        let mut losses = vec![0.0; l.outputs.len()];
        let batch = s.batch(p);
        for (t, targets) in batch.targets {
            losses[*t] = task_loss(
                l.losses[*t],
                (l.offsets[*t], l.outputs[*t], o),
                self.y,
                targets,
                lambda[*t],
                self.dy,
            );
        }
        // Backward: heads, then the second and first layers through their relus.
        product(
            (o, h, rows),
            g_hw,
            h,
            view(self.dy, 1, o),
            view(self.z2, h, 1),
        );
        column_sums(self.dy, o, g_hb);
        product(
            (rows, h, o),
            self.dz2,
            h,
            view(self.dy, o, 1),
            view(self.head_w, h, 1),
        );
        relu_mask(self.dz2, self.a2);
        product((h, h, rows), g_w2, h, view(self.dz2, 1, h), view(z1, ph, 1));
        column_sums(self.dz2, h, g_b2);
        product(
            (rows, h, h),
            self.dz1,
            h,
            view(self.dz2, h, 1),
            view(self.w2, h, 1),
        );
        for (r, d) in self.dz1.chunks_mut(h).enumerate() {
            relu_mask(d, &s.a1[r * ph + p * h..r * ph + (p + 1) * h]);
        }
        product(
            (h, l.inputs, rows),
            g_w1,
            l.inputs,
            view(self.dz1, 1, h),
            view(batch.x, l.inputs, 1),
        );
        column_sums(self.dz1, h, g_b1);
        losses
    }
}

/// The mean loss of one task over the rows, from its `width` columns starting at `start` of
/// the `cols`-wide outputs `y`; writes `weight` × its gradient into the same columns of `dy`.
fn task_loss(
    kind: LossKind,
    (start, width, cols): (usize, usize, usize),
    y: &[f32],
    targets: &Targets,
    weight: f64,
    dy: &mut [f32],
) -> f64 {
    let rows = y.len() / cols;
    let scale = (weight / rows as f64) as f32;
    let mut sum = 0.0f64;
    let rows_of = y.chunks(cols).zip(dy.chunks_mut(cols));
    match (kind, targets) {
        (LossKind::Mse, Targets::Real(t)) => {
            for ((y, dy), &t) in rows_of.zip(t) {
                let e = y[start] - t;
                sum += f64::from(e * e);
                dy[start] = 2.0 * scale * e;
            }
        }
        (LossKind::CrossEntropy, Targets::Labels(t)) => {
            for ((y, dy), &t) in rows_of.zip(t) {
                let (y, dy) = (&y[start..start + width], &mut dy[start..start + width]);
                let max = y.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let total: f32 = y.iter().map(|v| (v - max).exp()).sum();
                let log_total = total.ln();
                let Some(&picked) = y.get(t as usize) else {
                    return f64::NAN;
                };
                sum += f64::from(log_total + max - picked);
                for (j, (d, v)) in dy.iter_mut().zip(y).enumerate() {
                    let softmax = (v - max).exp() / total;
                    let hit = if j == t as usize { 1.0 } else { 0.0 };
                    *d = scale * (softmax - hit);
                }
            }
        }
        (LossKind::Bce, Targets::Labels(t)) => {
            for ((y, dy), &t) in rows_of.zip(t) {
                let (v, t) = (y[start], t as f32);
                sum += f64::from(v.max(0.0) - v * t + (-v.abs()).exp().ln_1p());
                dy[start] = scale * (1.0 / (1.0 + (-v).exp()) - t);
            }
        }
        // Targets that do not fit the loss: a non-finite loss stops the stacked path, and
        // the member's own step reports the mismatch.
        _ => return f64::NAN,
    }
    (sum / rows as f64) as f32 as f64
}
