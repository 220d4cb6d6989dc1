#!/usr/bin/env python3
"""Why the twin's and mtlbench's step-level trajectories part: one (seed, method), element by
element.

    drift.py EXPORT --seed 2 --method uniform [--steps 50] [--top 5] [--out FILE.md]

EXPORT is a `twin_export --steps N` folder (README.md). From mtlbench's initial parameters and
on its batches, four twins step in lockstep with mtlbench's exported trajectory: f32 and f64,
each with torch.optim.Adam (`torch`) and with mtlbench's update (`mtlbench`: its f32 scalars,
twin.py's MtlbenchAdam). The report has four parts:

0. mtlbench's bias correction 1 - β₂ᵗ (f32, βᵗ by powi) against its exact value for the same
   f32 β₂: a relative error r < 0 makes that step's update -r / 2 too short, on every
   coordinate alike.
1. Step 1: the coordinates where the f32 twin (torch Adam) and mtlbench differ most, with each
   side's gradient and update. At step 1 Adam moves a coordinate by lr · g / (|g| + ε), so a
   gradient difference δ moves it by lr · ε · δ / (|g| + ε)²: lr · δ / 4ε at |g| = ε, up to
   lr · δ / ε below.
2. Per step, the median and the largest |θ − θ_mtlbench| of each twin: the median is the
   bulk of the parameters, the largest the few coordinates of part 1.
3. The first step at which a relu input of the batch has a different sign on the two own
   trajectories (the torch twin's parameters and mtlbench's before that step), with the f64
   twins' values and how far that step's gradients then differ. (A max-pool window routed
   differently, MultiLeNet's other kind of event, is not looked for.)

Not part of CI; needs torch, safetensors and numpy (README.md here).
"""
import argparse
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from twin import (GRAD_EVENT, Export, MethodSpec, Net, epoch_lr, leaves,  # noqa: E402
                  optimizer, param_gap, powi, train_step)

SIDES = (("f32", "torch"), ("f32", "mtlbench"), ("f64", "torch"), ("f64", "mtlbench"))


def flat(tensors):
    return torch.cat([t.detach().double().reshape(-1) for t in tensors])


def relu_inputs(net, x):
    net.relu_inputs = []
    with torch.no_grad():
        z = net.encode(x)
        for k in range(len(net.ex.tasks)):
            net.head(k, z)
    out, net.relu_inputs = net.relu_inputs, None
    return out


def locate(names, shapes, i):
    """(name, index list) of flat coordinate i."""
    for n, s in zip(names, shapes):
        size = torch.Size(s).numel()
        if i < size:
            return n, [int(j) for j in torch.unravel_index(torch.tensor(i), s)]
        i -= size
    raise IndexError(i)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("export")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="uniform")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--top", type=int, default=5, help="step-1 coordinates listed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", help="Markdown report (default: stdout)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    ex = {d: Export(a.export, getattr(torch, {"f32": "float32", "f64": "float64"}[d]))
          for d in ("f32", "f64")}
    e32, train = ex["f32"], ex["f32"].meta["train"]
    names = e32.param_names
    shapes = [q["shape"] for q in e32.meta["model"]["params"]]
    method = MethodSpec(a.method, len(e32.tasks))
    label = a.method.replace(":", "-").replace("=", "").replace(",", "-")
    traj = load_file(e32.seed_file(a.seed, f"trajectory-{label}.safetensors"))
    ref_grads = load_file(e32.seed_file(a.seed, f"grads-{label}.safetensors"))
    orders = e32.orders(a.seed)
    per_epoch = -(-len(orders[1]) // e32.batch_size)
    runs = {}
    for d, adam in SIDES:
        net = Net(ex[d], leaves(ex[d].params(a.seed)))
        batches = (b for e in sorted(orders) for b in ex[d].batches(a.seed, e, orders))
        runs[d, adam] = (net, optimizer(adam, net.list, train), batches)
    steps = min(a.steps, sum(1 for k in traj if k.endswith("." + names[0])))
    lines = [f"# Drift, element by element: {e32.meta['model']['name']}, {a.method}, seed "
             f"{a.seed}", ""]
    lines += bias_correction(train, steps)
    bulk, first_event = [], None
    for t in range(steps):
        grads, before = {}, {}
        for (d, adam), (net, opt, batches) in runs.items():
            x, ys = next(batches)
            opt.set_lr(epoch_lr(train, t // per_epoch + 1))
            before[d, adam] = ([q.detach().clone() for q in net.list], x)
            grads[d, adam] = train_step(net, ex[d], method, x, ys)[3]
            opt.step(grads[d, adam])
        mine = flat(traj[f"step{t + 1}.{n}"] for n in names)
        diffs = {k: (flat(runs[k][0].list) - mine).abs() for k in runs}
        bulk.append((t + 1, {k: (v.median().item(), v.max().item()) for k, v in diffs.items()}))
        g_ref = [ref_grads[f"step{t}.{n}"] for n in names]
        if t == 0:
            lines += step_one(a, names, shapes, train, diffs["f32", "torch"],
                              flat(grads["f32", "torch"]), flat(g_ref), flat(grads["f64", "torch"]),
                              flat(before["f32", "torch"][0]), mine,
                              flat(runs["f32", "torch"][0].list))
        if first_event is None:
            rows = flips(ex, before, traj, names, t)
            if rows:
                gap = max(param_gap([u], [v])[1] for u, v in zip(grads["f32", "torch"], g_ref))
                first_event = (t + 1, gap, rows)
    lines += per_step(bulk)
    lines += ["## The first relu input on different sides of 0", ""]
    if first_event is None:
        lines += [f"None in {steps} steps (f32 twin with torch Adam against mtlbench, each at "
                  "its own parameters).", ""]
    else:
        step, gap, rows = first_event
        lines += [f"Step {step}, f32 twin with torch Adam against mtlbench, each at its own "
                  "parameters before the step; that step's gradients then differ by "
                  f"{gap:.1e} (largest per-tensor relative L2; an event is > {GRAD_EVENT:g}):",
                  ""] + rows + [""]
    args = ["$WORK/export" if x == a.export else x for x in sys.argv[1:]]
    lines += ["Command: `bench-suite/compare/drift.py " + " ".join(args) + "`, $WORK/export "
              "being the export that `compare.py step` wrote for the model (README.md).", ""]
    text = "\n".join(lines)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    else:
        print(text)


def bias_correction(train, steps):
    b2, one = np.float32(train["beta2"]), np.float32(1.0)
    r = np.array([float(one - powi(b2, t)) / (1.0 - float(b2) ** t) - 1.0
                  for t in range(1, steps + 1)])
    return ["## Adam's bias correction", "",
            f"mtlbench's 1 − β₂ᵗ (f32, βᵗ by powi) over steps 1–{steps}, relative to the exact "
            f"value for its f32 β₂, the relative error r: mean {r.mean():+.1e}, from "
            f"{r.min():+.1e} to {r.max():+.1e}, negative in {int((r < 0).sum())} steps. Such a "
            "step's update is shorter by −r/2, on every coordinate alike (torch.optim.Adam "
            "computes 1 − βᵗ in f64).", ""]


def step_one(a, names, shapes, train, d, g_twin, g_ref, g64, theta0, mine, twin):
    lr, eps = train["lr"], train["eps"]
    top = d.argsort(descending=True)[:a.top].tolist()
    big = d > 1e-6
    near = big & (g_ref.abs() < 1e-7)
    out = ["## Step 1", "",
           f"{int(big.sum())} coordinates differ by more than 1e-6 after one step; "
           f"{int(near.sum())} of them have |g| < 1e-7 on mtlbench's side, against a median "
           f"|g| of {g_ref.abs().median().item():.1e}. {int((g_ref == 0).sum())} gradients are "
           f"exactly 0 on mtlbench's side, {int(((g_ref == 0) != (g_twin == 0)).sum())} on "
           "one side only. The largest differences (f32 twin with torch Adam "
           "against mtlbench); *predicted* is lr · ε · |g_twin − g_mtlbench| / (|g| + ε)²:", "",
           "| coordinate | g mtlbench | g twin | g f64 | step mtlbench | step twin | "
           "difference | predicted |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for i in top:
        n, idx = locate(names, shapes, i)
        g = g_ref[i].item()
        pred = lr * eps * abs(g_twin[i].item() - g) / (abs(g) + eps) ** 2
        out.append(f"| {n}{idx} | {g:.3e} | {g_twin[i].item():.3e} | {g64[i].item():.3e} | "
                   f"{(mine[i] - theta0[i]).item():.4e} | {(twin[i] - theta0[i]).item():.4e} | "
                   f"{d[i].item():.1e} | {pred:.1e} |")
    return out + [""]


def per_step(bulk):
    out = ["## Per step: |θ − θ_mtlbench|, median / largest", "",
           "| step | " + " | ".join(f"{d} twin, {adam} Adam" for d, adam in SIDES) + " |",
           "| --- |" + " --- |" * len(SIDES)]
    last = bulk[-1][0]
    for step, v in bulk:
        if step in (1, 2, 5) or step % 10 == 0 or step == last:
            out.append(f"| {step} | " + " | ".join(f"{v[k][0]:.1e} / {v[k][1]:.1e}"
                                                  for k in SIDES) + " |")
    return out + [""]


def flips(ex, before, traj, names, t):
    """Relu inputs of step t's batch with different signs on the torch twin and on mtlbench."""
    def inputs(d, params):
        return relu_inputs(Net(ex[d], params), before[d, "torch"][1])
    mine = before["f32", "torch"][0] if t == 0 else [traj[f"step{t}.{n}"] for n in names]
    sides = {"twin": inputs("f32", before["f32", "torch"][0]), "mtlbench": inputs("f32", mine),
             "f64 twin": inputs("f64", before["f64", "torch"][0]),
             "f64 twin with mtlbench's Adam": inputs("f64", before["f64", "mtlbench"][0])}
    rows = []
    for layer, (u, v) in enumerate(zip(sides["twin"], sides["mtlbench"])):
        for idx in ((u > 0) != (v > 0)).nonzero().tolist()[:3]:
            vals = "; ".join(f"{k} {s[layer][tuple(idx)].item():.2e}" for k, s in sides.items())
            rows.append(f"- relu {layer + 1} (in call order), index {idx} (sample first): "
                        f"{vals}")
    return rows


if __name__ == "__main__":
    main()
