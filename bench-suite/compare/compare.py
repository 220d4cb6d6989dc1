#!/usr/bin/env python3
"""Runs mtlbench and its PyTorch twin side by side and writes one Markdown table.

    compare.py step     --python VENV/bin/python --work DIR --out results/step-lenet-m.md \
        --dataset multi-fashion --data source=subset --model lenet-m --steps 50 \
        --method uniform --method mgda-ub
    compare.py protocol --python VENV/bin/python --work DIR --out results/protocol.md \
        --dataset multi-fashion --data source=cache --data max_train=10000 --model lenet-m \
        --train epochs=15 --train batch_size=256 --seeds 0,1,2 \
        --method uniform --method mgda-ub --method stl:task=0 --method stl:task=1

    compare.py speed    --python VENV/bin/python --work DIR --out results/speed-lenet-m.md \
        --dataset multi-fashion --data source=cache --data max_train=10240 --model lenet-m \
        --train epochs=2 --train batch_size=256 --train optimizer=adamw \
        --method uniform --method mgda-ub --rounds 3

All modes first build and run the exporter (`cargo build --workspace --example twin_export`)
into WORK/export. `step` then runs twin.py's step test in f32 and f64, each with
torch.optim.Adam and with mtlbench's Adam, and tabulates the differences. `protocol` trains every
(method, seed) with `target/PROFILE/mtlbench run` (records in WORK/runs, reused when present)
and with the twin (WORK/twin.json, resumed when present), and tabulates per-task test metrics
and Δm% (mean ± 95 % t-interval over seeds) of both, with the paired differences.
`speed` alternates, round by round and method by method, `mtlbench run` (its
`timing.step_ms_median`) with twin.py's `speed` (PyTorch's default and fused Adam(W), the
same steps timed the same way) and tabulates the medians, the ratios and their spread.
Standard library only; the twin runs under --python (a venv with torch, see README.md).
"""
import argparse
import glob
import json
import math
import os
import shlex
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Two-sided 95 % quantiles of Student's t, df = 1..30 (then 1.96 is within 2 %).
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def summary(xs):
    """(n, mean, sd, 95 % half-width) of xs."""
    n = len(xs)
    if n == 0:
        return 0, math.nan, math.nan, math.nan
    mean = statistics.fmean(xs)
    if n == 1:
        return 1, mean, math.nan, math.nan
    sd = statistics.stdev(xs)
    t = T975[n - 2] if n - 1 <= len(T975) else 1.96
    return n, mean, sd, t * sd / math.sqrt(n)


def fmt(s, digits):
    n, mean, _, ci = s
    if n == 0:
        return "–"
    return f"{mean:.{digits}f}" if math.isnan(ci) else f"{mean:.{digits}f} ± {ci:.{digits}f}"


def sh(cmd, **kw):
    print("+ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def export_args(a):
    out = ["--dataset", a.dataset, "--model", a.model]
    for d in a.data:
        out += ["--data", d]
    for t in a.train:
        out += ["--train", t]
    return out


def run_export(a, extra):
    # Built with the whole workspace's features (as `cargo build` and `cargo test` resolve
    # them), so the exporter shares their compiled dependencies instead of rebuilding candle.
    profile = ["--release"] if a.profile == "release" else []
    sh(["cargo", "build", "-q", "--workspace", "--example", "twin_export"] + profile, cwd=ROOT)
    exporter = os.path.join(ROOT, "target", a.profile, "examples", "twin_export")
    cmd = [exporter, "--out", os.path.join(a.work, "export")]
    cmd += export_args(a) + extra
    sh(cmd, cwd=ROOT)


def command_line():
    """This run's command, with the machine's own folders (the venv, the work folder) named
    by placeholders, so a committed table names no local path."""
    args, placeholder = [], {"--python": "$VENV/bin/python", "--work": "$WORK"}
    for i, arg in enumerate(sys.argv[1:]):
        args.append(placeholder.get(sys.argv[i], arg))  # sys.argv[i] precedes arg
    return " ".join(["bench-suite/compare/compare.py"] + [a if a.startswith("$") else
                                                          shlex.quote(a) for a in args])


# --------------------------------------------------------------------------- step


ABLATIONS = {
    "channels-first": "fc reads the pooled maps channels-first (PyTorch's flatten)",
    "adam-no-bias-correction": "Adam without bias correction",
    "mgda-l2": "MGDA-UB normalised by ‖g_k‖ (l2) instead of loss+",
}


def twin_step(a, export, seed, out, flags):
    sh([a.python, os.path.join(HERE, "twin.py"), "step", export, "--seed", seed,
        "--threads", str(a.threads), "--out", out] + flags
       + sum((["--method", m] for m in a.method), []))
    with open(out) as f:
        return json.load(f)["methods"]


def e(v):
    return "–" if v is None else f"{v:.1e}"


def step(a):
    seeds = a.seeds.split(",")
    run_export(a, ["--seeds", a.seeds, "--steps", str(a.steps)]
               + sum((["--method", m] for m in a.method), []))
    export = os.path.join(a.work, "export")
    with open(os.path.join(export, "meta.json")) as f:
        meta = json.load(f)
    base, alt = {}, {}
    for seed in seeds:
        base[seed] = twin_step(a, export, seed, os.path.join(a.work, f"step-{seed}.json"),
                               ["--envelope"])
        alt[seed] = twin_step(a, export, seed, os.path.join(a.work, f"step-{seed}-adam.json"),
                              ["--adam", "mtlbench", "--envelope"])
    ablations = [k for k in ABLATIONS if k != "channels-first" or meta["model"]["arch"] == "lenet"]
    ablated = {k: twin_step(a, export, seeds[0], os.path.join(a.work, f"step-{k}.json"),
                            ["--ablate", k]) for k in ablations}
    t = meta["train"]
    lines = [
        f"# Step-level twin: {meta['model']['name']} on {meta['dataset']['id']}",
        "",
        f"{a.steps} steps of {t['optimizer']} (lr {t['lr']}, β {t['beta1']}/{t['beta2']}, ε "
        f"{t['eps']}, batch {t['batch_size']}) from mtlbench's initial parameters on mtlbench's "
        f"batches ({meta['dataset']['rows']['train']} training pairs), seeds {a.seeds}. "
        "Reference: the per-step losses, Gram matrix, λ and parameters of a real `Session` "
        "(`twin_export`). The twin is f32 PyTorch with `torch.optim.Adam` unless said. "
        "Relative differences are |a − b| / |b|; for tensors ‖a − b‖ / ‖b‖.",
        "",
        "## One step (forced: from mtlbench's parameters before each step)",
        "",
        "Each step evaluated from the same parameters on both sides, so nothing accumulates. "
        "Gradients: the largest per-tensor relative L2 difference of a step, median over steps, "
        f"and the number of steps where it exceeds {GRAD_EVENT_TEXT} (an *event*: a max-pool "
        "window whose top two values, or a relu input and 0, are closer than f32 rounding, "
        "so the subgradient is routed differently). f64 is the twin run in float64 from the "
        "same parameters: the closest thing to exact arithmetic.",
        "",
        "| method | seed | losses, max rel | λ, max abs | gradient median: twin−mtlbench "
        "/ twin−f64 / mtlbench−f64 | events: twin−mtlbench / twin−f64 / mtlbench−f64 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for method in a.method:
        for seed in seeds:
            m = base[seed][method]
            ev = m["forced_gradient_events"]
            lines.append(
                f"| {method} | {seed} | {e(m['loss_rel_forced_max'])} | "
                f"{e(m['lambda_abs_forced_max'])} | {e(ev['median_twin_vs_mtlbench'])} / "
                f"{e(ev['median_twin_vs_f64'])} / {e(ev['median_mtlbench_vs_f64'])} | "
                f"{ev['twin_vs_mtlbench']} / {ev['twin_vs_f64']} / {ev['mtlbench_vs_f64']} |")
    lines += [
        "",
        f"## {a.steps} steps (each side on its own trajectory)",
        "",
        f"θ after {a.steps} steps, max abs / rel, for the twin in f32 and in f64 with "
        "`torch.optim.Adam` and with mtlbench's Adam (twin.py `--adam mtlbench`: mtlbench's f32 "
        "scalars, 1 − βᵗ included; in f32 its update bit for bit). *Replay*: the steps in which "
        "mtlbench's exported gradients, put through the twin's copy of its Adam, give its "
        "exported parameters bit for bit (MGDA-UB's exported gradient is the one-backward route, "
        "equal to the trainer's only up to rounding). Losses, λ, Gram and the first step are "
        "the torch twin's.",
        "",
        "| method | seed | losses, max rel | λ, max abs | Gram, max rel | θ after 1 step, max abs "
        "| torch Adam: twin−mtlbench | twin f32−f64 | mtlbench−f64 "
        "| mtlbench's Adam: twin−mtlbench | twin f32−f64 | mtlbench−f64 | replay |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for method in a.method:
        for seed in seeds:
            m, m2 = base[seed][method], alt[seed][method]
            gaps = []
            for r in (m, m2):
                env = r["envelope"]
                gaps += [(r["param_max_abs"], r["param_rel_l2"]),
                         (env["param_max_abs"], env["param_rel_l2"]),
                         (env["f64_vs_mtlbench"]["param_max_abs"],
                          env["f64_vs_mtlbench"]["param_rel_l2"])]
            lines.append(
                f"| {method} | {seed} | {e(m['loss_rel_max'])} | {e(m['lambda_abs_max'])} | "
                f"{e(m['gram_rel_max'])} | {e(m['param_abs_by_step'][0])} | "
                + " | ".join(f"{e(x)} / {e(y)}" for x, y in gaps)
                + f" | {m['replay_exact_steps']}/{m['steps']} |")
    lines += [
        "",
        "Largest parameter difference twin−mtlbench after steps 1, 10, 20, 30, 40, 50, with "
        "torch Adam (twin f32−f64 in brackets), then with mtlbench's Adam:",
        "",
    ]
    for method in a.method:
        for seed in seeds:
            by = base[seed][method]["param_abs_by_step"]
            own = base[seed][method]["envelope"]["param_abs_by_step"]
            same = alt[seed][method]["param_abs_by_step"]
            picks = [i for i in (0, 9, 19, 29, 39, 49) if i < len(by)]
            lines.append(f"- {method}, seed {seed}: " + ", ".join(e(by[i]) for i in picks)
                         + " (twin f32−f64: " + ", ".join(e(own[i]) for i in picks)
                         + "); mtlbench's Adam: " + ", ".join(e(same[i]) for i in picks))
    lines += [
        "",
        f"## Deliberate mismatches (seed {seeds[0]}): what the test catches",
        "",
        "| twin changed to | method | losses from mtlbench's θ, max rel | λ from mtlbench's θ, "
        "max abs | θ after 1 step, max abs | θ after 50, rel |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for method in a.method:
        m = base[seeds[0]][method]
        lines.append(f"| nothing (the twin) | {method} | {e(m['loss_rel_forced_max'])} | "
                     f"{e(m['lambda_abs_forced_max'])} | {e(m['param_abs_by_step'][0])} | "
                     f"{e(m['param_rel_l2'])} |")
        for k in ablations:
            if k == "mgda-l2" and not method.startswith("mgda"):
                continue
            m = ablated[k][method]
            lines.append(f"| {ABLATIONS[k]} | {method} | {e(m['loss_rel_forced_max'])} | "
                         f"{e(m['lambda_abs_forced_max'])} | {e(m['param_abs_by_step'][0])} | "
                         f"{e(m['param_rel_l2'])} |")
    lines += ["", f"Command: `{command_line()}`", ""]
    write_md(a.out, lines)


GRAD_EVENT_TEXT = "1e-5"


def meta_names(meta):
    return [p["name"] for p in meta["model"]["params"]]


# --------------------------------------------------------------------------- protocol


def label(method):
    return method.replace(":", "-").replace("=", "").replace(",", "-")


def read_record(folder):
    """The one run record in `folder` (what `mtlbench run --out folder` wrote), or None."""
    paths = sorted(glob.glob(os.path.join(folder, "**", "*.json"), recursive=True))
    records = []
    for path in paths:
        with open(path) as f:
            try:
                r = json.load(f)
            except json.JSONDecodeError:
                continue
        if isinstance(r, dict) and "cell_id" in r:
            records.append(r)
    if len(records) > 1:
        sys.exit(f"{folder}: {len(records)} run records, expected one")
    if not records:
        return None
    r = records[0]
    return {
        "dataset": r["dataset"]["id"],
        "status": r["status"].get("state"),
        "selected_epoch": r["selected_epoch"],
        "test_metric": [t["metric"] for t in r["test"]],
        "val_loss": [e["val_loss"] for e in r["epochs"]],
        "selection": r["train"].get("selection"),
    }


def mtlbench_runs(a):
    """Every (method, seed) trained by `mtlbench run`, one folder each (reused if present)."""
    binary = os.path.join(ROOT, "target", a.profile, "mtlbench")
    out = {}
    for seed in a.seeds.split(","):
        for method in a.method:
            folder = os.path.join(a.work, "runs", label(method), f"seed{seed}")
            record = read_record(folder)
            if record is None:
                name, _, rest = method.partition(":")
                cmd = [binary, "--threads", str(a.threads), "run", "--method", name,
                       "--seed", seed, "--out", folder] + export_args(a)
                for p in filter(None, rest.split(",")):
                    cmd += ["--param", p]
                sh(cmd)
                record = read_record(folder)
            out[(int(seed), method)] = record
    return out


def protocol(a):
    run_export(a, ["--seeds", a.seeds])
    export = os.path.join(a.work, "export")
    with open(os.path.join(export, "meta.json")) as f:
        meta = json.load(f)
    records = mtlbench_runs(a)
    twin_out = os.path.join(a.work, "twin.json")
    selections = {r["selection"] for r in records.values()}
    sh([a.python, os.path.join(HERE, "twin.py"), "protocol", export, "--seeds", a.seeds,
        "--epochs", str(meta["train"]["epochs"]), "--threads", str(a.threads),
        "--out", twin_out] + a.twin_flag + sum((["--method", m] for m in a.method), []))
    with open(twin_out) as f:
        twin = {(r["seed"], r["method"]): r for r in json.load(f)["runs"]}
    seeds = [int(s) for s in a.seeds.split(",")]
    ids = {r["dataset"] for r in records.values()}
    if ids != {meta["dataset"]["id"]}:
        sys.exit(f"the records' dataset ids {sorted(ids)} differ from the export's "
                 f"{meta['dataset']['id']!r}")
    tasks = meta["tasks"]
    sides = {"mtlbench": records, "twin": twin}
    stl = {side: {} for side in sides}
    for side, runs in sides.items():
        for k in range(len(tasks)):
            for s in seeds:
                r = runs.get((s, f"stl:task={k}"))
                if r and r.get("status") == "completed":
                    stl[side][(s, k)] = r["test_metric"][k]

    def dm(side, run, s):
        terms = []
        for k, t in enumerate(tasks):
            base = stl[side].get((s, k))
            if base is None:
                return None
            sign = -1.0 if t["metric"] == "accuracy" else 1.0
            terms.append(sign * (run["test_metric"][k] - base) / base * 100)
        return statistics.fmean(terms)

    def values(side, method):
        out = {}
        for s in seeds:
            r = sides[side].get((s, method))
            if not r or r.get("status") != "completed":
                continue
            v = {f"m{k}": r["test_metric"][k] for k in range(len(tasks))}
            if not method.startswith("stl"):
                d = dm(side, r, s)
                if d is not None:
                    v["dm"] = d
            v["epoch"] = r["selected_epoch"]
            out[s] = v
        return out

    cols = [(f"m{k}", f"{t['name']} {t['metric']}", 4) for k, t in enumerate(tasks)]
    cols.append(("dm", "Δm%", 2))
    head = "| method | side | n | " + " | ".join(c[1] for c in cols) + " | selected epochs |"
    lines = [
        f"# Protocol-level twin: {meta['model']['name']} on {meta['dataset']['id']}",
        "",
        f"{meta['train']['epochs']} epochs of {meta['train']['optimizer']} (lr "
        f"{meta['train']['lr']}, batch {meta['train']['batch_size']}), seeds {a.seeds}; "
        f"{meta['dataset']['rows']['train']} / {meta['dataset']['rows']['val']} / "
        f"{meta['dataset']['rows']['test']} train / val / test pairs. Both sides start from "
        "mtlbench's initial parameters of each seed and see the same batches in the same "
        "order; only the training arithmetic differs. Test metric of the validation-selected "
        "epoch, mean ± half-width of the 95 % t-interval over seeds; Δm% against the stl runs "
        "of the same side and seed (lower is better). Rows `twin − mtlbench` are the paired "
        "differences per seed.",
        "",
        head,
        "| --- | --- | --- |" + " --- |" * len(cols) + " --- |",
    ]
    verdicts = []
    for method in a.method:
        per_side = {side: values(side, method) for side in sides}
        for side in sides:
            vals = per_side[side]
            cells = [fmt(summary([v[c] for v in vals.values() if c in v]), d) for c, _, d in cols]
            epochs = ", ".join(str(vals[s]["epoch"]) for s in seeds if s in vals)
            lines.append(f"| {method} | {side} | {len(vals)} | " + " | ".join(cells)
                         + f" | {epochs} |")
        both = [s for s in seeds if s in per_side["mtlbench"] and s in per_side["twin"]]
        cells = []
        for c, label, d in cols:
            diffs = [per_side["twin"][s][c] - per_side["mtlbench"][s][c]
                     for s in both if c in per_side["twin"][s] and c in per_side["mtlbench"][s]]
            cells.append(fmt(summary(diffs), d))
            if diffs:
                sm = summary([per_side["mtlbench"][s][c] for s in both])
                st = summary([per_side["twin"][s][c] for s in both])
                gap = abs(sm[1] - st[1])
                spread = max(sm[3], st[3])
                verdicts.append((method, label, gap, spread, gap <= spread))
        lines.append(f"| {method} | twin − mtlbench | {len(both)} | " + " | ".join(cells) + " | |")
    lines += ["", "Agreement within the seed spread: |mean(twin) − mean(mtlbench)| against the "
              "larger 95 % half-width of the two sides.", "",
              "| method | quantity | gap of means | spread | within |", "| --- | --- | --- | --- | --- |"]
    for method, label, gap, spread, ok in verdicts:
        lines.append(f"| {method} | {label} | {gap:.4f} | {spread:.4f} | {'yes' if ok else 'NO'} |")
    lines += ["", "Validation loss, mean over seeds and tasks of |twin − mtlbench| / mtlbench per epoch "
              "(how fast the two trajectories part):", ""]
    for method in a.method:
        gaps = []
        for e in range(meta["train"]["epochs"]):
            d = []
            for s in seeds:
                r, t = records.get((s, method)), twin.get((s, method))
                if r and t and t.get("status") == "completed" and e < len(r["val_loss"]):
                    d += [abs(x - y) / y for x, y in zip(t["epochs"][e]["val_loss"],
                                                         r["val_loss"][e])]
            gaps.append(statistics.fmean(d) if d else math.nan)
        picks = [e for e in (0, 1, 2, 4, 9, 14) if e < len(gaps)]
        lines.append(f"- {method}: " + ", ".join(f"epoch {e + 1}: {gaps[e]:.1e}" for e in picks))
    lines += ["", f"Selection: mtlbench's records say `selection = {sorted(selections)}`; the "
              f"twin ran with `{' '.join(['twin.py protocol'] + a.twin_flag)}` (the export's "
              "`train.selection` unless a flag says otherwise; trained epochs only).", "",
              f"Command: `{command_line()}`", ""]
    write_md(a.out, lines)


# --------------------------------------------------------------------------- speed


def speed(a):
    run_export(a, ["--seeds", "0"])
    export = os.path.join(a.work, "export")
    with open(os.path.join(export, "meta.json")) as f:
        meta = json.load(f)
    binary = os.path.join(ROOT, "target", a.profile, "mtlbench")
    sides = ("mtlbench", "torch", "torch fused")
    times = {(m, s): [] for m in a.method for s in sides}
    for r in range(a.rounds):
        for method in a.method:
            folder = os.path.join(a.work, "speed", f"round{r}", label(method))
            if read_record(folder) is None:
                name, _, rest = method.partition(":")
                cmd = [binary, "--threads", str(a.threads), "run", "--method", name,
                       "--out", folder] + export_args(a)
                for p in filter(None, rest.split(",")):
                    cmd += ["--param", p]
                sh(cmd, stdout=subprocess.DEVNULL)
            with open(glob.glob(os.path.join(folder, "*.json"))[0]) as f:
                times[(method, "mtlbench")].append(json.load(f)["timing"]["step_ms_median"])
            for side, flags in (("torch", []), ("torch fused", ["--fused"])):
                out = os.path.join(a.work, "speed", f"round{r}", f"{label(method)}-{side}.json")
                sh([a.python, os.path.join(HERE, "twin.py"), "speed", export, "--method", method,
                    "--threads", str(a.threads), "--steps", str(a.steps), "--out", out] + flags,
                   stdout=subprocess.DEVNULL)
                with open(out) as f:
                    times[(method, side)].append(
                        json.load(f)["methods"][method]["step_ms_median"])
    t = meta["train"]
    with open(glob.glob(os.path.join(a.work, "speed", "round0", "*", "*.json"))[0]) as f:
        stamp = json.load(f)["stamp"]
    build = stamp["git_commit"][:7] + (" (dirty)" if stamp["git_dirty"] else "")
    lines = [
        f"# Step time side by side: {meta['model']['name']} on {meta['dataset']['id']}",
        "",
        f"mtlbench {build}; {t['optimizer']}, batch {t['batch_size']}, {a.threads} threads, "
        f"{a.rounds} rounds; "
        "in each round, method by method: `mtlbench run` (median step of the run, "
        f"`timing.step_ms_median`), then PyTorch's default and fused {t['optimizer']} "
        f"(twin.py speed: median of {a.steps} steps after 5 untimed ones, same model, same "
        "batches). A step is forward, backward and optimiser update; batch assembly is outside. "
        "Ratios are mtlbench ÷ PyTorch per round: median (min–max).",
        "",
        f"Command: `{command_line()}`",
        "",
        "| method | mtlbench ms | torch ms | torch fused ms | ÷ torch | ÷ torch fused |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for m in a.method:
        mt, td, tf = (times[(m, s)] for s in sides)
        def ratio(other):
            r = [x / y for x, y in zip(mt, other)]
            return f"{statistics.median(r):.2f} ({min(r):.2f}–{max(r):.2f})"
        lines.append(f"| {m} | {statistics.median(mt):.2f} | {statistics.median(td):.2f} | "
                     f"{statistics.median(tf):.2f} | {ratio(td)} | {ratio(tf)} |")
    lines += ["", "Per round (ms): " + "; ".join(
        f"{m} {s}: " + ", ".join(f"{v:.2f}" for v in times[(m, s)])
        for m in a.method for s in sides), ""]
    write_md(a.out, lines)


def write_md(path, lines):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print("wrote " + path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=("step", "protocol", "speed"))
    p.add_argument("--python", required=True, help="a python with torch (README.md)")
    p.add_argument("--work", required=True, help="scratch folder for the export and runs")
    p.add_argument("--out", required=True, help="the Markdown table")
    p.add_argument("--dataset", default="multi-fashion")
    p.add_argument("--data", action="append", default=[])
    p.add_argument("--model", default="lenet-m")
    p.add_argument("--train", action="append", default=[])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--method", action="append", required=True)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--profile", choices=("release", "debug"), default="release",
                   help="cargo profile of the exporter and of target/PROFILE/mtlbench")
    p.add_argument("--rounds", type=int, default=3, help="speed: alternating rounds")
    p.add_argument("--twin-flag", action="append", default=[],
                   help="extra twin.py protocol flag, e.g. --twin-flag=--epoch0")
    a = p.parse_args()
    a.work = os.path.abspath(a.work)
    a.out = os.path.abspath(a.out)
    {"step": step, "protocol": protocol, "speed": speed}[a.mode](a)


if __name__ == "__main__":
    main()
