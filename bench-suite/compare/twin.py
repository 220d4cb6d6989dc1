#!/usr/bin/env python3
"""PyTorch twin of mtlbench's trainer (MultiLeNet, MLP, linear), to check mtlbench's numbers.

Reads what `cargo run --release -p mtl-bench --example twin_export` wrote (meta.json,
data.safetensors, seed{S}/init.safetensors, seed{S}/order.safetensors and, for the step
test, seed{S}/steps-*.json, final-*, trajectory-*, grads-*.safetensors) and trains the
same model in PyTorch from the same initial parameters on the same batches in the same order.

    twin.py step     EXPORT --method uniform --method mgda-ub [--seed 0] [--out FILE.json]
    twin.py protocol EXPORT --method uniform --method mgda-ub --method stl:task=0 \
        --method stl:task=1 [--seeds 0,1,2] [--epochs 15] [--out FILE.json]
    twin.py speed    EXPORT --method uniform --method mgda-ub [--fused] [--steps 60]

Everything the twin computes is its own PyTorch code: the model (torch.nn.functional), the
losses, autograd, the MGDA-UB gradient w.r.t. the representation, the loss+ normalisation
and the min-norm solve (closed form for K = 2; Frank-Wolfe, as the reference code, for
K >= 3, where mtlbench solves exactly), and Adam
(torch.optim.Adam by default; `--adam mtlbench` evaluates mtlbench's update instead, bit for bit
in f32).
Not part of CI; needs torch, safetensors and numpy in a scratch venv (README.md here).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

# --------------------------------------------------------------------------- the export


class Export:
    """An export folder: meta, data, per-seed parameters and batch orders."""

    def __init__(self, root, dtype, ablate=None):
        self.root = root
        self.dtype = dtype
        self.ablate = ablate
        with open(os.path.join(root, "meta.json")) as f:
            self.meta = json.load(f)
        if self.meta.get("format") != "mtlbench-twin-v1":
            sys.exit(f"{root}/meta.json: format {self.meta.get('format')!r}, "
                     "expected 'mtlbench-twin-v1' (re-run twin_export)")
        self.tasks = self.meta["tasks"]
        self.input_shape = self.meta["dataset"]["input_shape"]
        self.param_names = [p["name"] for p in self.meta["model"]["params"]]
        self.encoder_len = self.meta["model"]["encoder_len"]
        self.heads = self.meta["model"]["heads"]
        self.batch_size = self.meta["train"]["batch_size"]
        self._data = None

    @property
    def data(self):
        if self._data is None:
            raw = load_file(os.path.join(self.root, "data.safetensors"))
            self._data = {k: (v.to(self.dtype) if v.is_floating_point() else v)
                          for k, v in raw.items()}
        return self._data

    def split(self, name):
        x = self.data[f"{name}.x"]
        ys = [self.data[f"{name}.y{k}"] for k in range(len(self.tasks))]
        return x, ys

    def seed_file(self, seed, name):
        return os.path.join(self.root, f"seed{seed}", name)

    def params(self, seed, file="init.safetensors", prefix=""):
        t = load_file(self.seed_file(seed, file))
        return [t[prefix + n].to(self.dtype) for n in self.param_names]

    def orders(self, seed):
        t = load_file(self.seed_file(seed, "order.safetensors"))
        return {int(k[len("epoch"):]): v for k, v in t.items()}

    def batches(self, seed, epoch, orders):
        order = orders[epoch]
        x, ys = self.split("train")
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            yield x[idx], [y[idx] for y in ys]


# --------------------------------------------------------------------------- the model


class Net:
    """mtlbench's model as PyTorch functions of the exported parameter list."""

    def __init__(self, export, params):
        self.ex = export
        self.arch = export.meta["model"]["arch"]
        self.p = dict(zip(export.param_names, params))
        self.list = params
        self.relu_inputs = None  # a list to record every relu input in (drift.py)

    def relu(self, h):
        if self.relu_inputs is not None:
            self.relu_inputs.append(h.detach())
        return F.relu(h)

    def encoder_params(self):
        return self.list[:self.ex.encoder_len]

    def head_params(self, k):
        lo, hi = self.ex.heads[k]
        return self.list[lo:hi]

    def encode(self, x):
        p, n = self.p, x.shape[0]
        if self.arch == "linear":
            return F.linear(x.reshape(n, -1), p["encoder.w"])
        if self.arch == "mlp":
            h = self.relu(F.linear(x.reshape(n, -1), p["encoder.w1"], p["encoder.b1"]))
            return self.relu(F.linear(h, p["encoder.w2"], p["encoder.b2"]))
        # lenet: conv, max-pool 2 (floor), relu, twice; fc reads the maps channels-last.
        h = x.reshape(n, *self.ex.input_shape)
        h = self.relu(F.max_pool2d(F.conv2d(h, p["encoder.conv1.w"], p["encoder.conv1.b"]), 2))
        h = self.relu(F.max_pool2d(F.conv2d(h, p["encoder.conv2.w"], p["encoder.conv2.b"]), 2))
        if self.ex.ablate != "channels-first":
            h = h.permute(0, 2, 3, 1)
        h = h.reshape(n, -1)
        return self.relu(F.linear(h, p["encoder.fc.w"], p["encoder.fc.b"]))

    def head(self, k, z):
        p = self.p
        if self.arch == "linear":
            return F.linear(z, p[f"head{k}.w"])
        if self.arch == "mlp":
            return F.linear(z, p[f"head{k}.w"], p[f"head{k}.b"])
        h = self.relu(F.linear(z, p[f"head{k}.w1"], p[f"head{k}.b1"]))
        return F.linear(h, p[f"head{k}.w2"], p[f"head{k}.b2"])


def task_loss(task, out, y):
    if task["loss"] == "cross-entropy":
        return F.cross_entropy(out, y)
    if task["loss"] == "mse":
        return (out.reshape(-1) - y).pow(2).mean()
    if task["loss"] == "bce":
        return F.binary_cross_entropy_with_logits(out.reshape(-1), y.to(out.dtype))
    raise SystemExit(f"task {task['name']}: loss {task['loss']!r} is not in the twin")


def metric_sum(task, out, y):
    if task["metric"] == "accuracy":
        pred = (out.reshape(-1) > 0).long() if out.shape[1] == 1 else out.argmax(1)
        return (pred == y).sum().item()
    return (out.reshape(-1) - y).abs().sum().item()


def evaluate(net, export, split, chunk=4096):
    """Mean loss and metric per task over a split (as mtlbench's `evaluate`)."""
    x, ys = export.split(split)
    k = len(export.tasks)
    loss, metric = [0.0] * k, [0.0] * k
    with torch.no_grad():
        for i in range(0, x.shape[0], chunk):
            z = net.encode(x[i:i + chunk])
            for t, task in enumerate(export.tasks):
                out, y = net.head(t, z), ys[t][i:i + chunk]
                loss[t] += task_loss(task, out, y).item() * out.shape[0]
                metric[t] += metric_sum(task, out, y)
    n = max(x.shape[0], 1)
    return [v / n for v in loss], [v / n for v in metric]


# --------------------------------------------------------------------------- methods

MIN_SCALE, MAX_SCALE = 1e-150, 1e150


def guard(c):
    return c if math.isfinite(c) and MIN_SCALE <= c <= MAX_SCALE else 1.0


def normalised(gram, losses, normalization):
    """Gram of g_k / c_k with Sener & Koltun's gradient_normalizers (guarded per factor)."""
    k = len(losses)
    norms = [math.sqrt(max(gram[i][i], 0.0)) for i in range(k)]
    if normalization == "none":
        c = [1.0] * k
    elif normalization == "l2":
        c = [guard(n) for n in norms]
    elif normalization == "loss":
        c = [guard(l) for l in losses]
    elif normalization == "loss+":
        c = [min(max(guard(l) * guard(n), MIN_SCALE), MAX_SCALE) for l, n in zip(losses, norms)]
    else:
        raise SystemExit(f"normalization {normalization!r}: expected none | l2 | loss | loss+")
    return [[gram[i][j] / (c[i] * c[j]) for j in range(k)] for i in range(k)]


def segment(aa, ab, bb):
    """Weight on a of the min-norm point of segment [a, b]; None if degenerate."""
    denom = aa + bb - 2.0 * ab
    if not denom > 1e-10 * max(abs(aa), abs(bb)):
        return None
    return min(max((bb - ab) / denom, 0.0), 1.0)


def min_norm(m, max_iter=250, tol=1e-5):
    """argmin over the simplex of lam' M lam: closed form for K = 2; Sener & Koltun's
    Frank-Wolfe (best pair start, exact line search) for K >= 3."""
    k = len(m)
    if k == 1:
        return [1.0]
    if k == 2:
        g = segment(m[0][0], m[0][1], m[1][1])
        g = 0.5 if g is None else g
        return [g, 1.0 - g]
    best = None
    for i in range(k):
        for j in range(i + 1, k):
            g = segment(m[i][i], m[i][j], m[j][j])
            g = 0.5 if g is None else g
            cost = g * g * m[i][i] + 2 * g * (1 - g) * m[i][j] + (1 - g) ** 2 * m[j][j]
            if best is None or cost < best[0]:
                best = (cost, i, j, g)
    lam = [0.0] * k
    lam[best[1]], lam[best[2]] = best[3], 1 - best[3]
    for _ in range(max_iter):
        ml = [sum(m[i][j] * lam[j] for j in range(k)) for i in range(k)]
        t = min(range(k), key=lambda i: ml[i])
        vv = sum(lam[i] * ml[i] for i in range(k))
        g = segment(vv, ml[t], m[t][t])
        if g is None:
            break
        new = [g * v for v in lam]
        new[t] += 1 - g
        change = sum(abs(a - b) for a, b in zip(new, lam))
        lam = new
        if change < tol:
            break
    s = sum(lam)
    return [v / s for v in lam]


class MethodSpec:
    """`uniform`, `fixed:weights=[..]`, `stl:task=K`, `mgda-ub[:normalization=..]`."""

    def __init__(self, text, k):
        name, _, rest = text.partition(":")
        kv = dict(p.split("=", 1) for p in rest.split(",") if p)
        self.name, self.label, self.k = name, text.replace(":", "-").replace("=", ""), k
        self.normalization = kv.pop("normalization", "loss+")
        self.min_weight = float(kv.pop("min_weight", 0.0))
        self.max_iter = int(kv.pop("max_iter", 250))
        self.tol = float(kv.pop("tol", 1e-5))
        self.scored = None
        if name == "uniform":
            self.weights = [1.0 / k] * k
        elif name == "fixed":
            self.weights = json.loads(kv.pop("weights"))
        elif name == "stl":
            t = int(kv.pop("task", "0"))
            self.weights = [1.0 if i == t else 0.0 for i in range(k)]
            self.scored = [t]
        elif name == "mgda-ub":
            self.weights = None
        else:
            raise SystemExit(f"method {name!r} is not in the twin (uniform, fixed, stl, mgda-ub)")
        if kv:
            raise SystemExit(f"method {text!r}: unknown parameters {sorted(kv)}")


def f32(v):
    """A weight λ as mtlbench applies it to f32 tensors (`affine` casts it to f32)."""
    return float(np.float32(v))


def train_step(net, export, method, x, ys):
    """One step's gradients. Returns (losses, lam, gram or None, grads)."""
    params = net.list
    if method.weights is not None:
        z = net.encode(x)
        losses = [task_loss(t, net.head(k, z), ys[k]) for k, t in enumerate(export.tasks)]
        total = losses[0] * f32(method.weights[0])
        for k in range(1, len(losses)):
            total = total + losses[k] * f32(method.weights[k])
        grads = torch.autograd.grad(total, params, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
        return [l.item() for l in losses], list(method.weights), None, grads
    # MGDA-UB: per-task gradients w.r.t. the detached representation z, min-norm weights,
    # then Σ λ_k ∂L_k/∂z back through the encoder and λ_k times each head's own gradient.
    z = net.encode(x)
    zd = z.detach().requires_grad_(True)
    losses, gz, gheads = [], [], []
    for k, task in enumerate(export.tasks):
        loss = task_loss(task, net.head(k, zd), ys[k])
        g = torch.autograd.grad(loss, [zd] + net.head_params(k))
        losses.append(loss.item())
        gz.append(g[0])
        gheads.append(g[1:])
    rows = [g.reshape(-1).double() for g in gz]
    gram = [[torch.dot(a, b).item() for b in rows] for a in rows]
    lam = min_norm(normalised(gram, losses, method.normalization), method.max_iter, method.tol)
    if method.min_weight > 0 and len(lam) == 2:
        # Sener & Koltun's K = 2 solver answers 0.999 / 0.001 at a vertex: a floor on λ.
        low = min(max(method.min_weight, 0.0), 0.5)
        lam = ([low, 1 - low] if lam[0] < low else [1 - low, low] if lam[1] < low else lam)
    G = gz[0] * f32(lam[0])
    for k in range(1, len(gz)):
        G = G + gz[k] * f32(lam[k])
    grads = list(torch.autograd.grad(z, net.encoder_params(), grad_outputs=G))
    for k in range(len(gz)):
        grads += [g * f32(lam[k]) for g in gheads[k]]
    return losses, lam, gram, grads


# --------------------------------------------------------------------------- Adam


def powi(base, n):
    """base ** n as Rust's `f32::powi` computes it (compiler-builtins' `__powisf2`): square and
    multiply, rounding to base's type after each product. numpy's `**` is the correctly
    rounded power; for 0.999 ** t in f32 the two differ by an ulp or two at some t >= 3."""
    r = type(base)(1.0)
    while True:
        if n & 1:
            r = r * base
        n >>= 1
        if n == 0:
            return r
        base = base * base


class MtlbenchAdam:
    """mtlbench's fused Adam (bench-suite/src/optim.rs) evaluated op by op. The scalars are
    mtlbench's f32 values: lr, β, ε, the bias corrections 1 - βᵗ (βᵗ by `powi`, above),
    step = lr / (1 - β₁ᵗ) and 1 / √(1 - β₂ᵗ); then, element by element in the params' dtype,
    p -= step · m / (√v · (1 / √(1 - β₂ᵗ)) + ε), with a correctly rounded √ (torch's f32
    sqrt is not, on every CPU). In f32 this is mtlbench's update bit for bit (the step test
    replays mtlbench's exported gradients through it); in f64 it is exact arithmetic with
    mtlbench's f32 scalars."""

    def __init__(self, params, train, bias_correction=True):
        self.params, self.t, self.train = params, 0, train
        self.bias_correction = bias_correction
        self.c = {k: np.float32(train[k]) for k in ("lr", "beta1", "beta2", "eps", "weight_decay")}
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    def set_lr(self, lr):
        self.c["lr"] = np.float32(lr)

    def step(self, grads):
        self.t += 1
        c, one = self.c, np.float32(1.0)
        b1, b2 = c["beta1"], c["beta2"]
        bias1 = one - powi(b1, self.t) if self.bias_correction else one
        bias2 = one - powi(b2, self.t) if self.bias_correction else one
        step_size = float(c["lr"] / bias1)
        inv = float(one / np.sqrt(bias2))
        decoupled = self.train["optimizer"] == "adamw"
        with torch.no_grad():
            for p, g, m, v in zip(self.params, grads, self.m, self.v):
                if decoupled:
                    p.mul_(float(one - c["lr"] * c["weight_decay"]))
                elif c["weight_decay"] != 0:
                    g = g + float(c["weight_decay"]) * p
                m.mul_(float(b1)).add_(g * float(one - b1))
                v.mul_(float(b2)).add_(g * float(one - b2) * g)
                root = v.double().sqrt().to(v.dtype)
                p.sub_(m * step_size / (root * inv + float(c["eps"])))


class TorchAdam:
    """torch.optim.Adam / AdamW (single-tensor path) fed the twin's gradients."""

    def __init__(self, params, train, fused=False):
        kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}.get(train["optimizer"])
        if kind is None:
            raise SystemExit(f"optimizer {train['optimizer']!r}: the twin has adam and adamw")
        self.params = params
        # The step test compares with the single-tensor path; `fused` is the speed
        # comparison's fastest PyTorch optimiser.
        paths = {"fused": True} if fused else {"foreach": False}
        self.opt = kind(params, lr=train["lr"], betas=(train["beta1"], train["beta2"]),
                        eps=train["eps"], weight_decay=train["weight_decay"], **paths)

    def set_lr(self, lr):
        for group in self.opt.param_groups:
            group["lr"] = lr

    def step(self, grads):
        for p, g in zip(self.params, grads):
            p.grad = g
        self.opt.step()


def optimizer(kind, params, train, ablate=None):
    if ablate == "adam-no-bias-correction":
        return MtlbenchAdam(params, train, bias_correction=False)
    return (MtlbenchAdam if kind == "mtlbench" else TorchAdam)(params, train)


def leaves(tensors):
    return [t.clone().requires_grad_(True) for t in tensors]


# --------------------------------------------------------------------------- step test


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-30)


# A step's forced gradients differ "by an event" (a max-pool near-tie or a relu input within
# rounding of 0 decided differently) when some tensor's relative L2 difference exceeds this;
# without one they differ by a few 1e-6.
GRAD_EVENT = 1e-5


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else math.nan


def param_gap(a, b):
    """(max abs, ‖a − b‖ / ‖b‖) over parameter lists."""
    d = torch.cat([(p.detach().double() - q.detach().double()).reshape(-1) for p, q in zip(a, b)])
    ref = torch.cat([q.detach().double().reshape(-1) for q in b])
    return d.abs().max().item(), (d.norm() / ref.norm()).item()


def step_test(args):
    ex = Export(args.export, args.dtype, args.ablate)
    check_supported(ex.meta["train"])
    shadow = Export(args.export, torch.float64, args.ablate) if args.envelope else None
    orders = ex.orders(args.seed)
    report = {"export": ex.meta["dataset"]["id"], "model": ex.meta["model"]["name"],
              "seed": args.seed, "dtype": str(args.dtype).replace("torch.", ""),
              "adam": args.adam, "ablate": args.ablate, "threads": torch.get_num_threads(),
              "torch": torch.__version__, "methods": {}}
    for text in args.method:
        method = MethodSpec(text, len(ex.tasks))
        if args.ablate == "mgda-l2":
            method.normalization = "l2"
        label = text.replace(":", "-").replace("=", "").replace(",", "-")
        with open(ex.seed_file(args.seed, f"steps-{label}.json")) as f:
            ref = json.load(f)["steps"]
        traj = load_file(ex.seed_file(args.seed, f"trajectory-{label}.safetensors"))
        ref_grads = load_file(ex.seed_file(args.seed, f"grads-{label}.safetensors"))
        final = ex.params(args.seed, f"final-{label}.safetensors")
        init = ex.params(args.seed)
        net = Net(ex, leaves(init))
        opt = optimizer(args.adam, net.list, ex.meta["train"], args.ablate)
        # mtlbench's own gradients through the twin's copy of its Adam, in f32: the exported
        # trajectory again, bit for bit, if the gradients are those the trainer applied and
        # the copy is exact.
        replay = [p.float().clone() for p in init]
        replay_opt = MtlbenchAdam(replay, ex.meta["train"])
        if shadow:
            net64 = Net(shadow, leaves(shadow.params(args.seed)))
            opt64 = optimizer(args.adam, net64.list, ex.meta["train"], args.ablate)
            batches64 = (b for e in sorted(orders) for b in shadow.batches(args.seed, e, orders))
        steps = len(ref)
        per_step = []
        batches = (b for e in sorted(orders) for b in ex.batches(args.seed, e, orders))
        per_epoch = math.ceil(len(orders[1]) / ex.batch_size)
        for t in range(steps):
            x, ys = next(batches)
            for o in (opt, opt64, replay_opt) if shadow else (opt, replay_opt):
                o.set_lr(epoch_lr(ex.meta["train"], t // per_epoch + 1))
            # Forced: the same batch from mtlbench's own parameters before this step, so the
            # difference is one step's rounding, not accumulated drift.
            before = init if t == 0 else [traj[f"step{t}.{n}"].to(args.dtype)
                                          for n in ex.param_names]
            f_losses, f_lam, _, f_grads = train_step(Net(ex, leaves(before)), ex, method, x, ys)
            g_ref = [ref_grads[f"step{t}.{n}"] for n in ex.param_names]
            losses, lam, gram, grads = train_step(net, ex, method, x, ys)
            opt.step(grads)
            replay_opt.step(g_ref)
            r = ref[t]
            after = [traj[f"step{t + 1}.{n}"] for n in ex.param_names]
            row = {
                "step": t,
                "loss_rel": max(rel(a, b) for a, b in zip(losses, r["losses"])),
                "loss_rel_forced": max(rel(a, b) for a, b in zip(f_losses, r["losses"])),
                "lambda_abs": max(abs(a - b) for a, b in zip(lam, r["weights"])),
                "lambda_abs_forced": max(abs(a - b) for a, b in zip(f_lam, r["weights"])),
                "gram_rel": (max(rel(gram[i][j], r["gram"][i * len(gram) + j])
                                 for i in range(len(gram)) for j in range(len(gram)))
                             if gram is not None and r["gram"] is not None else None),
                "param_abs": param_gap(net.list, after)[0],
                "replay_differing": sum(int((p != q).sum()) for p, q in zip(replay, after)),
                "grad_rel_l2_forced": max(param_gap([a], [b])[1] for a, b in zip(f_grads, g_ref)),
                "losses": losses, "ref_losses": r["losses"],
                "lambda": lam, "ref_lambda": r["weights"],
            }
            if shadow:
                x64, ys64 = next(batches64)
                b64 = [b.detach().double() for b in before]
                _, _, _, fg64 = train_step(Net(shadow, leaves(b64)), shadow, method, x64, ys64)
                row["f64_grad_rel_forced"] = max(param_gap([a], [b])[1]
                                                 for a, b in zip(f_grads, fg64))
                row["mtlbench_vs_f64_grad_rel_forced"] = max(param_gap([a], [b])[1]
                                                            for a, b in zip(g_ref, fg64))
                l64, lam64, _, g64 = train_step(net64, shadow, method, x64, ys64)
                opt64.step(g64)
                row["f64_loss_rel"] = max(rel(a, b) for a, b in zip(losses, l64))
                row["f64_lambda_abs"] = max(abs(a - b) for a, b in zip(lam, lam64))
                row["f64_param_abs"] = param_gap(net.list, net64.list)[0]
                row["f64_vs_mtlbench_param_abs"] = param_gap(net64.list, after)[0]
            per_step.append(row)
        params = {}
        for n, p, q in zip(ex.param_names, net.list, final):
            d = (p.detach().double() - q.double())
            params[n] = {"max_abs": d.abs().max().item(),
                         "rel_l2": (d.norm() / q.double().norm().clamp_min(1e-30)).item(),
                         "max_abs_value": q.abs().max().item()}
        gap = param_gap(net.list, final)
        m = {
            "steps": steps,
            "loss_rel_max": max(s["loss_rel"] for s in per_step),
            "loss_rel_forced_max": max(s["loss_rel_forced"] for s in per_step),
            "lambda_abs_max": max(s["lambda_abs"] for s in per_step),
            "lambda_abs_forced_max": max(s["lambda_abs_forced"] for s in per_step),
            "grad_rel_l2_forced_max": max(s["grad_rel_l2_forced"] for s in per_step),
            "gram_rel_max": (max(s["gram_rel"] for s in per_step)
                             if per_step[0]["gram_rel"] is not None else None),
            "param_max_abs": gap[0],
            "param_rel_l2": gap[1],
            "param_abs_by_step": [s["param_abs"] for s in per_step],
            "replay_exact_steps": sum(s["replay_differing"] == 0 for s in per_step),
            "params": params,
            "per_step": per_step,
        }
        if shadow:
            g64 = param_gap(net.list, net64.list)
            def events(key):
                return sum(s[key] > GRAD_EVENT for s in per_step)

            m["forced_gradient_events"] = {
                "threshold": GRAD_EVENT,
                "twin_vs_mtlbench": events("grad_rel_l2_forced"),
                "twin_vs_f64": events("f64_grad_rel_forced"),
                "mtlbench_vs_f64": events("mtlbench_vs_f64_grad_rel_forced"),
                "median_twin_vs_mtlbench": median(s["grad_rel_l2_forced"] for s in per_step),
                "median_twin_vs_f64": median(s["f64_grad_rel_forced"] for s in per_step),
                "median_mtlbench_vs_f64": median(s["mtlbench_vs_f64_grad_rel_forced"]
                                                 for s in per_step),
            }
            m["envelope"] = {
                "loss_rel_max": max(s["f64_loss_rel"] for s in per_step),
                "lambda_abs_max": max(s["f64_lambda_abs"] for s in per_step),
                "param_max_abs": g64[0],
                "param_rel_l2": g64[1],
                "param_abs_by_step": [s["f64_param_abs"] for s in per_step],
                "f64_vs_mtlbench": dict(zip(("param_max_abs", "param_rel_l2"),
                                            param_gap(net64.list, final))),
            }
        report["methods"][text] = m
        print(f"{text:>10}: {steps} steps; losses rel {m['loss_rel_max']:.2e} "
              f"(forced {m['loss_rel_forced_max']:.2e}); λ abs {m['lambda_abs_max']:.2e} "
              f"(forced {m['lambda_abs_forced_max']:.2e}); gradients rel L2 (forced) "
              f"{m['grad_rel_l2_forced_max']:.2e}; params max abs "
              f"{m['param_max_abs']:.2e}, rel L2 {m['param_rel_l2']:.2e}; mtlbench's gradients "
              f"through its Adam give its trajectory bit for bit in {m['replay_exact_steps']} "
              f"of {steps} steps", flush=True)
        if shadow:
            e = m["envelope"]
            ev = m["forced_gradient_events"]
            print(f"{'':>10}  forced-gradient events (rel L2 > {GRAD_EVENT:g}) in {steps} steps: "
                  f"twin–mtlbench {ev['twin_vs_mtlbench']}, twin–f64 {ev['twin_vs_f64']}, "
                  f"mtlbench–f64 {ev['mtlbench_vs_f64']}; medians "
                  f"{ev['median_twin_vs_mtlbench']:.1e}, {ev['median_twin_vs_f64']:.1e}, "
                  f"{ev['median_mtlbench_vs_f64']:.1e}", flush=True)
            print(f"{'':>10}  twin {ex.dtype} vs twin f64: losses rel {e['loss_rel_max']:.2e}, "
                  f"λ abs {e['lambda_abs_max']:.2e}, params max abs {e['param_max_abs']:.2e}, "
                  f"rel L2 {e['param_rel_l2']:.2e}", flush=True)
    write(report, args.out)


# --------------------------------------------------------------------------- protocol


def score(rule, val, reference, tasks, scored):
    """mtlbench's selection score (bench-suite/src/selection.rs), lower is better. `loss`: mean
    over the scored tasks of val_loss_k / r_k; `metric`: mean of s_k (val_metric_k − r_k) / |r_k|
    with s_k = −1 where higher is better; r = the initial parameters' validation results."""
    idx = scored if scored is not None else range(len(tasks))
    if rule == "loss":
        terms = [val[0][t] / max(reference[0][t], sys.float_info.min) for t in idx]
    else:
        terms = [(-1.0 if tasks[t]["metric"] == "accuracy" else 1.0)
                 * (val[1][t] - reference[1][t]) / max(abs(reference[1][t]), sys.float_info.min)
                 for t in idx]
    s = sum(terms) / len(terms)
    return s if math.isfinite(s) else math.inf


def epoch_lr(train, epoch):
    """mtlbench's step decay (optim::epoch_lr): lr · decay^⌊epoch / every⌋, epochs from 1."""
    every = train.get("lr_decay_every", 0)
    return train["lr"] * (train.get("lr_decay", 1.0) ** (epoch // every) if every else 1.0)


def train_run(ex, seed, method, args, orders):
    net = Net(ex, leaves(ex.params(seed)))
    opt = optimizer(args.adam, net.list, ex.meta["train"])
    reference = evaluate(net, ex, "val")
    initial = score(args.select, reference, reference, ex.tasks, method.scored)
    best = (initial if args.epoch0 else math.inf, 0, [p.detach().clone() for p in net.list])
    epochs, lam_sum, steps = [], [0.0] * len(ex.tasks), 0
    for epoch in range(1, args.epochs + 1):
        opt.set_lr(epoch_lr(ex.meta["train"], epoch))
        train_loss, n = [0.0] * len(ex.tasks), 0
        for x, ys in ex.batches(seed, epoch, orders):
            losses, lam, _, grads = train_step(net, ex, method, x, ys)
            if not all(math.isfinite(v) for v in losses):
                return {"status": "diverged", "step": steps}
            opt.step(grads)
            train_loss = [a + b for a, b in zip(train_loss, losses)]
            lam_sum = [a + b for a, b in zip(lam_sum, lam)]
            n, steps = n + 1, steps + 1
        val_loss, val_metric = evaluate(net, ex, "val")
        s = score(args.select, (val_loss, val_metric), reference, ex.tasks, method.scored)
        epochs.append({"epoch": epoch, "train_loss": [v / n for v in train_loss],
                       "val_loss": val_loss, "val_metric": val_metric, "score": s})
        if s < best[0]:
            best = (s, epoch, [p.detach().clone() for p in net.list])
    with torch.no_grad():
        for p, q in zip(net.list, best[2]):
            p.copy_(q)
    test_loss, test_metric = evaluate(net, ex, "test")
    return {"status": "completed", "selected_epoch": best[1], "initial_score": initial,
            "best_score": best[0], "test_loss": test_loss,
            "test_metric": test_metric, "epochs": epochs, "steps": steps,
            "lambda_mean": [v / max(steps, 1) for v in lam_sum]}


def check_supported(train):
    dropout = train.get("dropout", "none")
    if dropout not in (None, "none"):
        raise SystemExit(f"train.dropout = {dropout!r}: the twin has no dropout (its masks "
                         "would have to be exported step by step)")
    if train["optimizer"] not in ("adam", "adamw"):
        raise SystemExit(f"train.optimizer = {train['optimizer']!r}: the twin has adam and adamw")


def protocol(args):
    ex = Export(args.export, args.dtype)
    check_supported(ex.meta["train"])
    if args.select is None:
        args.select = ex.meta["train"].get("selection", "loss")
    if args.select not in ("loss", "metric"):
        raise SystemExit(f"selection {args.select!r}: the twin has loss and metric")
    seeds = [int(s) for s in args.seeds.split(",")]
    have = ex.meta.get("epochs_exported", 0)
    if args.epochs > have:
        sys.exit(f"--epochs {args.epochs}: the export has batch orders for {have} epochs")
    report = {"export": ex.meta["dataset"]["id"], "model": ex.meta["model"]["name"],
              "train": ex.meta["train"], "epochs": args.epochs, "select": args.select,
              "epoch0_selectable": args.epoch0, "adam": args.adam,
              "dtype": str(args.dtype).replace("torch.", ""),
              "threads": torch.get_num_threads(), "torch": torch.__version__, "runs": []}
    if args.out and os.path.exists(args.out):
        with open(args.out) as f:
            old = json.load(f)
        keep = ("export", "model", "epochs", "select", "epoch0_selectable", "adam", "dtype")
        if all(old.get(k) == report[k] for k in keep):
            report["runs"] = old["runs"]
    done = {(r["seed"], r["method"]) for r in report["runs"]}
    for seed in seeds:
        orders = ex.orders(seed)
        for text in args.method:
            if (seed, text) in done:
                continue
            method = MethodSpec(text, len(ex.tasks))
            t0 = time.time()
            run = train_run(ex, seed, method, args, orders)
            run.update(seed=seed, method=text, seconds=round(time.time() - t0, 1))
            report["runs"].append(run)
            print(f"seed {seed} {text:>12}: selected epoch {run.get('selected_epoch')}, test "
                  f"{[round(v, 4) for v in run.get('test_metric', [])]} "
                  f"({run['seconds']} s)", flush=True)
            write(report, args.out)
    write(report, args.out)


# --------------------------------------------------------------------------- speed


def speed(args):
    """Median wall time of one training step (forward, backward, optimiser update; batch
    assembly outside, as mtlbench's `timing.step_ms_median`) over `--steps` steps after
    `--warmup` untimed ones, on the export's batches of seed `--seed`."""
    ex = Export(args.export, args.dtype)
    check_supported(ex.meta["train"])
    orders = ex.orders(args.seed)
    report = {"export": ex.meta["dataset"]["id"], "model": ex.meta["model"]["name"],
              "fused": args.fused, "threads": torch.get_num_threads(),
              "torch": torch.__version__, "methods": {}}
    for text in args.method:
        method = MethodSpec(text, len(ex.tasks))
        net = Net(ex, leaves(ex.params(args.seed)))
        opt = TorchAdam(net.list, ex.meta["train"], fused=args.fused)
        batches = (b for _ in range(10**6) for e in sorted(orders)
                   for b in ex.batches(args.seed, e, orders))
        times = []
        for i in range(args.warmup + args.steps):
            x, ys = next(batches)
            t0 = time.perf_counter()
            _, _, _, grads = train_step(net, ex, method, x, ys)
            opt.step(grads)
            if i >= args.warmup:
                times.append((time.perf_counter() - t0) * 1e3)
        report["methods"][text] = {"step_ms_median": median(times), "steps": len(times)}
    print(json.dumps(report))
    write(report, args.out)


def write(report, path):
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    for name in ("step", "protocol", "speed"):
        s = sub.add_parser(name)
        s.add_argument("export", help="folder written by twin_export")
        s.add_argument("--method", action="append", required=True,
                       help="uniform | mgda-ub[:normalization=..] | stl:task=K | fixed:weights=[..]")
        s.add_argument("--adam", choices=("torch", "mtlbench"), default="torch",
                       help="torch.optim.Adam (default) or mtlbench's update (f32 scalars)")
        s.add_argument("--dtype", choices=("float32", "float64"), default="float32")
        s.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
        s.add_argument("--out", help="JSON report")
    st = sub.choices["step"]
    st.add_argument("--seed", type=int, default=0)
    st.add_argument("--envelope", action="store_true",
                    help="also run an f64 twin in lockstep: how far f32 rounding alone goes")
    st.add_argument("--ablate", choices=("channels-first", "adam-no-bias-correction", "mgda-l2"),
                    help="a deliberate mismatch, to show the test would catch it")
    pr = sub.choices["protocol"]
    pr.add_argument("--seeds", default="0,1,2")
    pr.add_argument("--epochs", type=int, default=15)
    pr.add_argument("--select", choices=("loss", "metric"), default=None,
                    help="selection objective (default: the export's train.selection)")
    pr.add_argument("--epoch0", action="store_true",
                    help="the initial parameters are selectable too (mtlbench before the "
                    "selection change; by default only trained epochs are)")
    sp = sub.choices["speed"]
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--fused", action="store_true", help="torch.optim.Adam(W)(fused=True)")
    sp.add_argument("--steps", type=int, default=60)
    sp.add_argument("--warmup", type=int, default=5)
    args = p.parse_args()
    args.ablate = getattr(args, "ablate", None)
    args.dtype = getattr(torch, args.dtype)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.mode != "speed":
        torch.use_deterministic_algorithms(True)
    {"step": step_test, "protocol": protocol, "speed": speed}[args.mode](args)


if __name__ == "__main__":
    main()
