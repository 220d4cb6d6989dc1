#!/usr/bin/env python3
"""PyTorch CPU step time for the model of `mtlbench run --model mlp-w512` on 2 tasks.

Measures the median wall time of one training step -- forward, backward,
optimizer.step(), zero_grad() -- for the same model mtlbench trains with
`--method uniform --data dim=784 --data tasks=2 --model mlp-w512
--train batch_size=256 --train optimizer=adamw`: a shared MLP 784->512->512
(ReLU after each layer), two regression heads 512->1, MSE per task,
loss = 0.5*(L1 + L2), AdamW(lr=1e-3, weight_decay=0), f32. Data: 8192 x 784
standard normal inputs with linear targets, batches of 256 shuffled each epoch
(batch assembly is outside the timed region, as in mtlbench's step_ms).
A few warm-up steps are not timed; then `--epochs` epochs (default 3 = 96 steps).

This is the PyTorch side of the side-by-side comparison of DESIGN.md section 9
(reports/results/torch-side-by-side.md). It is NOT part of CI and needs torch,
which the repo does not depend on; install it in a scratch venv outside the repository ($SCRATCH: any scratch folder):

    python3 -m venv "$SCRATCH"/torchvenv && "$SCRATCH"/torchvenv/bin/pip install torch
    "$SCRATCH"/torchvenv/bin/python bench-suite/scripts/torch_step.py [--fused] [--threads N]

Prints one line of JSON: {"torch", "fused", "threads", "step_ms_median"}.
"""
import argparse
import json
import os
import statistics
import time
import warnings

# `pip install torch` does not pull numpy; torch warns about it on import. Harmless here.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402
from torch import nn  # noqa: E402

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--fused", action="store_true", help="AdamW(fused=True)")
p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
               help="torch.set_num_threads (default: all cores, like candle)")
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--warmup", type=int, default=5)
args = p.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
n, dim, width, batch, tasks = 8192, 784, 512, 256, 2
x = torch.randn(n, dim)
y = x @ torch.randn(dim, tasks) / dim**0.5 + 0.1 * torch.randn(n, tasks)

encoder = nn.Sequential(nn.Linear(dim, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
heads = nn.ModuleList(nn.Linear(width, 1) for _ in range(tasks))
params = list(encoder.parameters()) + list(heads.parameters())
opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0, fused=args.fused or None)
mse = nn.MSELoss()


def step(xb, yb):
    h = encoder(xb)
    losses = [mse(head(h).squeeze(1), yb[:, k]) for k, head in enumerate(heads)]
    loss = sum(losses) / tasks
    loss.backward()
    opt.step()
    opt.zero_grad()


def batches(epochs):
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            yield x[idx].contiguous(), y[idx].contiguous()


for i, (xb, yb) in enumerate(batches(1)):
    if i == args.warmup:
        break
    step(xb, yb)

times = []
for xb, yb in batches(args.epochs):
    t0 = time.perf_counter()
    step(xb, yb)
    times.append((time.perf_counter() - t0) * 1e3)

print(json.dumps({"torch": torch.__version__, "fused": bool(args.fused),
                  "threads": torch.get_num_threads(),
                  "step_ms_median": round(statistics.median(times), 3)}))
