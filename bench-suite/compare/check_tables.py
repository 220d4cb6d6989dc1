#!/usr/bin/env python3
"""Recompute a study's published tables from its run records, independently of mtlbench.

mtlbench computes Δm%, means and 95 % t-intervals in Rust (`reports/src/analysis.rs`,
`reports/src/stats.rs`, statrs for the t quantile). This script reads the same JSON records
and recomputes, with plain Python and scipy's Student t, every row of every "Comparison" and
"Per-task test metrics" table of the study's `tables.md` (the seed count n, Δm% and each task's
test metric, mean ± half width; the rank of the mean Δm% among the methods of the same
dataset and model, the mean selected epoch with the runs that did not improve, the encoder
backward passes per step, the budget in uniform trainings with the weight search charged,
the diverged runs), of every "Mean rank over datasets and models" table, of every "Paired
comparisons of Δm%" table (the difference
over shared seeds ± half width, and the verdict: a claim only when the interval excludes 0),
of every "Δm% by model size" table (each cell against the configuration's Δm% at that model),
of every "Candidate ranks across model sizes" table (each candidate's rank in each size's
search, ties at their mean rank, and Spearman's correlation between consecutive sizes), of
every "Data draw and training seed" table (the mean over data draws ± its interval, and the
draw and seed standard deviations of a one-way random-effects analysis of variance, seeds
nested in draws) and of every "Pareto view" table (each configuration's mean test-loss vector,
the hypervolume of each run's loss vector as a fraction of the box [lo, r], mean ± interval,
and its position against the front of the fixed-weight scalarizations; from the notes, each
model's reference point r, the front's size and its hypervolume, computed here by
inclusion–exclusion over the boxes, not by mtlbench's slicing), of every "Weights chosen by the
searches" table (the choice recomputed from the search's history: the trials' argmin for grid
and random search, PBT's weight schedule replayed from its rounds' exploits and checked against
the weights the kept run trained with, AutoScale's windows by its rule; trainings and encoder
backward passes) and of every "AutoScale exploration windows" table (each window's weights,
trained with and set for the next, from the window's gradient norms). A row matches when each
number equals the recomputed one to the digits the table prints. It exits 1 and lists the
rows that do not, 0 when all match.

    python3 -m venv venv && venv/bin/pip install scipy
    venv/bin/python bench-suite/compare/check_tables.py reports/studies/sener-koltun \\
        reports/runs/sener-koltun reports/results/sener-koltun/tables.md

Δm% of a run: (1/K) Σ_k s_k (M_k − B_k) / B_k × 100 with B_k the test metric of the run's own
single-task baseline for task k (the record's `stl_cells`) and s_k = −1 where higher is
better; a group's value per seed is the mean over its runs of that seed, and the table shows
the mean and t_{0.975, n−1} · sd / √n over seeds. Per-task metrics are summarised over runs.
"""

import json
import math
import re
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

from scipy.stats import t as student_t


def summary(xs):
    """(n, mean, half width of the 95 % t-interval or None)."""
    n = len(xs)
    mean = sum(xs) / n
    if n < 2:
        return n, mean, None
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    return n, mean, student_t.ppf(0.975, n - 1) * sd / math.sqrt(n)


def close(shown, value):
    """Whether `value` rounds to the number printed as `shown` (e.g. "+62.1", "7.84e-4")."""
    shown = shown.strip().replace("−", "-")
    mantissa, _, exponent = shown.partition("e")
    decimals = len(mantissa.partition(".")[2])
    scale = 10 ** (int(exponent) if exponent else 0)
    return abs(float(shown) - value) <= 0.5 * 10 ** -decimals * scale * (1 + 1e-9) + 1e-12


def estimate_matches(cell, n_mean_ci):
    """Whether a "mean ± hw" (or "mean") cell shows this summary."""
    _, mean, ci = n_mean_ci
    mean_text, _, ci_text = cell.partition("±")
    if not close(mean_text, mean):
        return False
    if ci_text.strip():
        return ci is not None and close(ci_text, ci)
    return ci is None


def load_records(folder):
    """Completed and other run records of one part's results folder, by cell id."""
    records = {}
    for path in sorted(Path(folder).glob("*.json")):
        r = json.loads(path.read_text())
        if "cell_id" in r and "test" in r:
            records[r["cell_id"]] = r
    return records


def completed(r):
    return r["status"]["state"] == "completed"


def delta_m(r, records):
    tasks = r["dataset"]["tasks"]
    if len(r.get("stl_cells") or []) != len(tasks) or not tasks:
        return None
    total = 0.0
    for k, cell in enumerate(r["stl_cells"]):
        base_run = records.get(cell)
        if base_run is None or not completed(base_run):
            return None
        base = base_run["test"][k]["metric"]
        if base == 0 or not math.isfinite(base):
            return None
        sign = -1.0 if tasks[k]["higher_is_better"] else 1.0
        total += sign * (r["test"][k]["metric"] - base) / base
    return total / len(tasks) * 100.0


def groups_of(records):
    """Runs grouped by (dataset id, model, method, method config); the single-task
    baselines of all tasks form one group."""
    groups = defaultdict(list)
    for r in records.values():
        name = r["method"]["name"]
        config = "" if name == "stl" else json.dumps(r["method"]["config"], sort_keys=True)
        key = (r["dataset"]["id"], r["model"]["name"], name, config)
        groups[key].append(r)
    return groups


def budget(r):
    """Encoder backward passes spent for one run, its weight search included (once when the
    search's budget already holds the run), in units of one uniform training of the schedule."""
    run = r["cost"]["steps"] * r["cost"]["encoder_backward_per_step"]
    search = r.get("search")
    if search is None:
        return run / max(r["cost"]["steps"], 1)
    spent = search["budget"]["encoder_backward"]
    total = spent if search["budget"]["includes_run"] else spent + run
    return total / max(search["budget"]["schedule_steps"], 1)


def group_stats(runs, records):
    """Seeds with a Δm%, the Δm% summary, and per-task metric summaries."""
    is_stl = runs[0]["method"]["name"] == "stl"
    done = [r for r in runs if completed(r)]
    per_seed = defaultdict(list)
    for r in done:
        d = delta_m(r, records)
        if d is not None:
            per_seed[r["seed"]].append(d)
    dm_by_seed = {seed: sum(v) / len(v) for seed, v in per_seed.items()}
    dm = [dm_by_seed[seed] for seed in sorted(dm_by_seed)]
    tasks = runs[0]["dataset"]["tasks"]
    per_task = []
    for k in range(len(tasks)):
        values = [
            r["test"][k]["metric"]
            for r in done
            if not is_stl or r["method"]["config"].get("task") == k
        ]
        per_task.append(summary(values) if values else None)
    seeds = len({r["seed"] for r in runs})
    epochs = [r["selected_epoch"] for r in done]
    backward = [r["cost"]["encoder_backward_per_step"] for r in done]
    return {
        "backward": sum(backward) / len(backward) if backward else None,
        "budget": (
            None if is_stl or not done else sum(budget(r) for r in done) / len(done)
        ),
        "seeds": seeds,
        "epoch": sum(epochs) / len(epochs) if epochs else None,
        "not_improved": sum(1 for r in done if not r["selection"]["improved"]),
        "diverged": len(runs) - len(done),
        "dm": summary(dm) if dm else None,
        "dm_by_seed": dm_by_seed,
        "tasks": per_task,
    }


def draw_components(grid):
    """Variance components of {draw: {seed: value}} over the seeds every draw has: (draw means,
    sd between draws, sd between seeds), or None with fewer than two draws or seeds."""
    seeds = set.intersection(*(set(v) for v in grid.values())) if grid else set()
    draws = sorted(grid)
    if len(draws) < 2 or len(seeds) < 2:
        return None
    cells = [[grid[d][s] for s in sorted(seeds)] for d in draws]
    means = [sum(c) / len(c) for c in cells]
    within = sum(
        sum((x - m) ** 2 for x in c) / (len(c) - 1) for c, m in zip(cells, means)
    ) / len(cells)
    grand = sum(means) / len(means)
    ms_between = len(seeds) * sum((m - grand) ** 2 for m in means) / (len(means) - 1)
    draw_var = max(0.0, (ms_between - within) / len(seeds))
    return means, math.sqrt(draw_var), math.sqrt(within)


def draw_grids(records):
    """(dataset family, model, method, config, quantity) → {draw: {seed: value}} for records
    whose dataset has a `pair_seed`; quantity "Δm%" or "<task> <metric>"."""
    grids = defaultdict(lambda: defaultdict(dict))
    for r in records.values():
        config = dict(r["dataset"]["config"])
        draw = config.pop("pair_seed", None)
        if draw is None or r["method"]["name"] == "stl" or not completed(r):
            continue
        family = (r["dataset"]["id"].split("/")[0], json.dumps(config, sort_keys=True))
        key = family + (r["model"]["name"], r["method"]["name"],
                        json.dumps(r["method"]["config"], sort_keys=True))
        d = delta_m(r, records)
        if d is not None:
            grids[key + ("Δm%",)][draw][r["seed"]] = d
        for t, result in zip(r["dataset"]["tasks"], r["test"]):
            grids[key + (f"{t['name']} {t['metric']}",)][draw][r["seed"]] = result["metric"]
    return grids


def check_draws(part, label, rows, records):
    """Failures among the rows of one "Data draw and training seed" table."""
    failures = []
    grids = draw_grids(records)
    dataset = label.split()[0]
    for row in rows:
        method, model, quantity = row[0].split()[0], row[1], row[2]
        ok = False
        for key, grid in grids.items():
            if (key[0], key[2], key[3], key[5]) != (dataset, model, method, quantity):
                continue
            c = draw_components(grid)
            if c is None:
                continue
            means, sd_draw, sd_seed = c
            shape = f"{len(means)} × {len(set.intersection(*(set(v) for v in grid.values())))}"
            if (
                row[3] == shape
                and estimate_matches(row[4], summary(means))
                and close(row[5], sd_draw)
                and close(row[6], sd_seed)
            ):
                ok = True
                break
        if not ok:
            failures.append(f"{part} / data draws of {label}: row {row[:5]}")
    return failures


SCALARIZATION = ("uniform", "fixed", "tuned")
REFERENCE_MARGIN = 0.1


def dominates(a, b):
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def union_volume(points, reference):
    """Volume of the union of the boxes [p, r] (minimisation) by inclusion–exclusion."""
    inside = [p for p in points if all(x < r for x, r in zip(p, reference))]
    total = 0.0
    for mask in range(1, 1 << len(inside)):
        chosen = [p for i, p in enumerate(inside) if mask >> i & 1]
        corner = [max(xs) for xs in zip(*chosen)]
        volume = math.prod(r - c for r, c in zip(reference, corner))
        total += volume if len(chosen) % 2 else -volume
    return total


def pareto_view(groups, label, model):
    """The recomputed Pareto view of one dataset and model (`groups` as `groups_of` gives
    them): per configuration its method, loss points, mean, run hypervolumes and position;
    the reference point; the front."""
    series = []
    for (dataset, m, name, _), runs in groups.items():
        if dataset != label or m != model or name == "stl":
            continue
        points = [
            [t["loss"] for t in r["test"]]
            for r in runs
            if completed(r) and all(math.isfinite(t["loss"]) for t in r["test"])
        ]
        if points:
            mean = [sum(xs) / len(points) for xs in zip(*points)]
            series.append({"method": name, "points": points, "mean": mean})
    if not series:
        return None
    every = [p for s in series for p in s["points"]]
    lower = [min(xs) for xs in zip(*every)]
    reference = []
    for k, hi in enumerate(max(xs) for xs in zip(*every)):
        span = hi - lower[k]
        reference.append(hi + REFERENCE_MARGIN * (span if span > 0 else max(abs(hi), 1e-12)))
    box = math.prod(r - lo for r, lo in zip(reference, lower))
    candidates = [s for s in series if s["method"] in SCALARIZATION]
    front = [s for s in candidates if not any(dominates(o["mean"], s["mean"]) for o in candidates)]
    for s in series:
        s["hv"] = summary([union_volume([p], reference) / box for p in s["points"]])
        if any(dominates(f["mean"], s["mean"]) for f in front):
            s["position"] = "dominated"
        elif any(f is s for f in front):
            s["position"] = "on front"
        else:
            s["position"] = "not dominated" if front else "no front"
    front_hv = None
    if len(front) <= 16:
        front_hv = union_volume([f["mean"] for f in front], reference) / box
    return {"series": series, "reference": reference, "front": len(front),
            "candidates": len(candidates), "front_hv": front_hv}


def check_pareto(part, label, rows, notes, groups):
    """Rows of a Pareto view table and its per-model notes; returns (checked, failures)."""
    failures, checked, views = [], 0, {}
    for row in rows:
        model, method = row[0], row[1].split()[0]
        if model not in views:
            views[model] = pareto_view(groups, label, model)
        view = views[model]
        checked += 1
        ok = view is not None and any(
            row[2] == str(len(s["points"]))
            and all(close(cell, x) for cell, x in zip(row[3:-2], s["mean"]))
            and estimate_matches(row[-2], s["hv"])
            and row[-1] == s["position"]
            for s in view["series"]
            if s["method"] == method
        )
        if not ok:
            failures.append(f"{part} / Pareto view on {label}: row {row}")
    text = " ".join(notes.split())
    for m in re.finditer(
        r"(\S+): reference point r = \(([^)]*)\); scalarization front: (\d+) of (\d+) "
        r"fixed-weight configurations non-dominated \((.*?)\), hypervolume (≈ )?([-+0-9.e]+)\.",
        text,
    ):
        model, shown_r, size, of, _, approx, shown_hv = m.groups()
        view = views.get(model) or pareto_view(groups, label, model)
        checked += 1
        ok = (
            view is not None
            and all(close(c, x) for c, x in zip(shown_r.split(","), view["reference"]))
            and len(shown_r.split(",")) == len(view["reference"])
            and (int(size), int(of)) == (view["front"], view["candidates"])
            and (approx or view["front_hv"] is None or close(shown_hv, view["front_hv"]))
        )
        if not ok:
            failures.append(f"{part} / Pareto view on {label}: notes of {model}")
    return checked, failures


def check_mean_ranks(part, rows, stats):
    """Failures among the rows of a "Mean rank over datasets and models" table: a row shows
    some configuration of its method, its mean rank over the columns it was ranked in."""
    failures = []
    for row in rows:
        method = row[0].split()[0]
        per_config = defaultdict(list)
        for (_, _, name, config), st in stats.items():
            if name == method and st["rank"] is not None:
                per_config[config].append(st["rank"])
        if not any(
            row[2] == str(len(r)) and close(row[1], sum(r) / len(r)) for r in per_config.values()
        ):
            failures.append(f"{part} / mean rank: row {row}")
    return failures


def check_model_sizes(part, label, header, rows, stats):
    """Failures among the rows of a "Δm% by model size" table: a row is one configuration of
    its method, each cell its Δm% at the column's model ("–" where it has none)."""
    # The header names the model of each column: "lenet-xs (w=13)".
    models = [c.split()[0] for c in header[1:]]
    failures = []
    for row in rows:
        method = row[0].split()[0]

        def shows(config):
            return all(
                cell == "–"
                or any(
                    s["dm"] is not None and estimate_matches(cell, s["dm"])
                    for (d, m, g, c), s in stats.items()
                    if (d, m, g, c) == (label, model, method, config)
                )
                for cell, model in zip(row[1:], models)
            )

        configs = {c for (d, _, g, c) in stats if d == label and g == method}
        if not any(shows(c) for c in configs):
            failures.append(f"{part} / Δm% by model size on {label}: row {row}")
    return failures


def add_ranks(stats):
    """Each group's rank by mean Δm% among the multi-task groups of its dataset and model
    (1 = best, ties at their mean rank), as `stats[key]["rank"]` (None without a Δm%)."""
    columns = defaultdict(list)
    for key, st in stats.items():
        st["rank"] = None
        if key[2] != "stl" and st["dm"] is not None:
            columns[key[:2]].append(key)
    for keys in columns.values():
        for key, rank in zip(keys, mean_ranks([stats[k]["dm"][1] for k in keys])):
            stats[key]["rank"] = rank


def rank_text(rank):
    """A rank as the Comparison table prints it: 15, or 2.5 when tied."""
    return "–" if rank is None else (str(int(rank)) if rank == int(rank) else str(rank))


def mean_ranks(scores):
    """Rank of each score (lower is better, 1 = best; ties share the mean rank; a non-finite
    score ranks last)."""
    key = [x if math.isfinite(x) else math.inf for x in scores]
    return [sum(y < x for y in key) + (sum(y == x for y in key) + 1) / 2 for x in key]


def pearson(xs, ys):
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def check_ranks(part, kind, label, header, rows, notes, records):
    """A "Candidate ranks across model sizes" table: each candidate's rank by validation score
    in each model's search (read from the search history the runs' records carry), and the
    Spearman correlations between consecutive sizes in the notes."""
    strategy = kind.split()[1]
    models = [c.split(", ")[1] for c in header[1:]]
    ranks = {}
    for model in models:
        search = next(
            (r["search"] for r, _ in searched_runs(records, model, "tuned", label)
             if r["method"]["config"].get("strategy") == strategy),
            None,
        )
        if search is not None:
            trials = search["history"]["trials"]
            by_rank = mean_ranks([t["score"] for t in trials])
            ranks[model] = {
                "/".join(f"{w:.3f}" for w in t["weights"]): rank
                for t, rank in zip(trials, by_rank)
            }
    failures, checked = [], 0
    for row in rows:
        checked += 1
        if not all(
            cell == "–" if model not in ranks else close(cell, ranks[model].get(row[0], math.nan))
            for cell, model in zip(row[1:], models)
        ):
            failures.append(f"{part} / candidate ranks, {kind} on {label}: row {row}")
    spearman = r"(\S+) → (\S+): ([-+][0-9]+\.[0-9]+)"
    for a, b, shown in re.findall(spearman, " ".join(notes.split())):
        checked += 1
        keys = sorted(set(ranks.get(a, {})) & set(ranks.get(b, {})))
        rho = pearson([ranks[a][k] for k in keys], [ranks[b][k] for k in keys]) if keys else None
        if rho is None or not close(shown, rho):
            failures.append(f"{part} / candidate ranks, {kind} on {label}: Spearman {a} → {b}")
    return checked, failures


def weights_match(cell, weights):
    """Whether a "0.250/0.750" cell shows these weights."""
    shown = cell.split("/")
    return len(shown) == len(weights) and all(close(a, b) for a, b in zip(shown, weights))


def normalised(xs):
    total = sum(xs)
    return [x / total for x in xs]


def window_weights(search, k):
    """AutoScale's exploration recomputed from its per-window metrics: [(trained with, next
    λ)] by the recorded rule (λ_k ∝ 1/m_k or 1/√m_k of the window's mean metric, the gradient
    norm or the loss), then the aggregate over windows (mean, normalised geometric mean or
    last) and the encoder backward passes (one per step, K while measuring)."""
    rule = search["rule"]
    metric = "loss" if "mean l_k" in rule else "grad_norm"
    power = 0.5 if "√" in rule else 1.0
    trained, out = [1.0 / k] * k, []
    for w in search["history"]["windows"]:
        m = w["metrics"][metric]
        nxt = normalised([x ** -power for x in m]) if all(x > 0 for x in m) else [1.0 / k] * k
        out.append((trained, nxt))
        trained = nxt
    chosen = [nxt for _, nxt in out]
    if "by geometric" in rule:
        final = normalised([math.exp(sum(math.log(c[i]) for c in chosen) / len(chosen))
                            for i in range(k)])
    elif "by last" in rule:
        final = chosen[-1]
    else:
        final = [sum(c[i] for c in chosen) / len(chosen) for i in range(k)]
    measured = search["history"]["measured_steps"]
    backward = search["budget"]["steps"] + measured * (k - 1)
    return out, final, backward


def pbt_schedule(history):
    """The kept member's weight schedule replayed from the rounds: back from the winner
    through each exploit's `copied_from`, one entry per exploit of the lineage."""
    member, schedule = history["winner"], []
    for rnd in reversed(history["rounds"]):
        event = next((e for e in rnd["exploit"] if e["member"] == member), None)
        if event is not None:
            schedule.append({"from_step": rnd["step"], "weights": event["new_weights"]})
            member = event["copied_from"]
    schedule.append({"from_step": 0, "weights": history["rounds"][0]["weights"][member]})
    return schedule[::-1]


def recomputed_choice(r):
    """(λ, validation score, trainings, encoder backward passes) of a run's weight search,
    recomputed from its history rather than read from the search's result: the trials' argmin
    (first on ties) for grid and random search; PBT's replayed lineage (whose step-weighted
    mean must equal the weights the run trained with) with the kept run's own selection score;
    AutoScale's windows by its rule. None when the history does not bear the result out."""
    s, k = r["search"], len(r["dataset"]["tasks"])
    history, steps = s["history"], s["budget"]["schedule_steps"]
    if "trials" in history:
        trials = history["trials"]
        scores = [t["score"] if t["score"] is not None else math.inf for t in trials]
        best = min(range(len(trials)), key=lambda i: (scores[i], i))
        return trials[best]["weights"], scores[best], len(trials), len(trials) * steps
    if "rounds" in history:
        schedule = pbt_schedule(history)
        if schedule != history["schedule"]:
            return None
        total = r["cost"]["steps"]
        ends = [e["from_step"] for e in schedule[1:]] + [total]
        mean = [sum((end - e["from_step"]) * e["weights"][i] for e, end in zip(schedule, ends))
                / total for i in range(k)]
        if any(abs(a - b) > 1e-9 for a, b in zip(mean, r["weights"]["mean"])):
            return None
        population = r["method"]["config"]["population"]
        return schedule[-1]["weights"], r["selection"]["score"], population, population * steps
    if "windows" in history:
        _, final, backward = window_weights(s, k)
        return final, s["score"], 1, backward
    return None


def searched_runs(records, model, method, data=None):
    """One run per distinct search (per seed where the search is the run itself) of a method
    at a model (and dataset, where given), with the seeds that share it."""
    found = {}
    for r in records.values():
        if (r.get("search") and r["model"]["name"] == model and r["method"]["name"] == method
                and data in (None, r["dataset"]["id"])):
            own = r["seed"] if r["search"]["budget"]["includes_run"] else None
            found.setdefault((r["search"]["id"], own), (r, []))[1].append(r["seed"])
    return found.values()


def check_chosen_weights(part, header, rows, records):
    """A "Weights chosen by the searches" table: each row's λ, validation score, trainings and
    backward passes against the choice recomputed from the search history (on the row's
    dataset where the table has a data column)."""
    failures = []
    for cells in rows:
        row = dict(zip(header, cells))
        method, model, seeds = row["method"].split()[0], row["model"], row["seeds"]
        data = row.get("data")

        def matches(r, shared):
            choice = recomputed_choice(r)
            if choice is None or seeds != ",".join(str(x) for x in sorted(shared)):
                return False
            weights, score, trainings, backward = choice
            return (
                weights_match(row["λ"], weights)
                and close(row["val score↓"], score)
                and row["trainings"] == str(trainings)
                and close(row["bwd (trainings)"],
                          backward / max(r["search"]["budget"]["schedule_steps"], 1))
            )

        found = searched_runs(records, model, method, data)
        if not any(matches(r, shared) for r, shared in found):
            failures.append(f"{part} / weights chosen: row {cells[:4]}")
    return failures


def check_windows(part, name, rows, records):
    """An "AutoScale exploration windows" table (named by its model, then the variant and the
    dataset where several explorations share the model): the weights each window trained with
    and set for the next, recomputed by the rule from the window's gradient norms. The norms,
    the weighted GMS (a mean over the measured steps), cond(G) and the conflict rate need the
    per-step gradients, which records do not keep: those are compared with the record only."""
    model, *rest = name.split(", ")
    data = next((piece for piece in rest if "/" in piece), None)
    # Each candidate exploration's windows with their recomputed weights, once for all rows.
    explorations = [
        (r["search"]["history"]["windows"],
         window_weights(r["search"], len(r["dataset"]["tasks"]))[0])
        for r, _ in searched_runs(records, model, "autoscale", data)
        if r["search"]["history"].get("windows")
    ]
    failures = []
    for row in rows:
        index = int(row[0]) if row[0].isdigit() else -1

        def matches(windows, weights):
            if not 0 <= index < len(windows):
                return False
            trained, nxt = weights[index]
            m = windows[index]["metrics"]
            return (
                weights_match(row[1], trained)
                and weights_match(row[2], m["grad_norm"])
                and close(row[3], m["weighted_gms"])
                and close(row[4], m["condition_number"])
                and close(row[5], m["conflict_rate"])
                and weights_match(row[6], nxt)
            )

        if not any(matches(windows, weights) for windows, weights in explorations):
            failures.append(f"{part} / autoscale windows, {name}: row {row[:1]}")
    return failures


def paired_matches(row, a, b):
    """Whether a Paired comparisons row shows the difference of groups a and b."""
    seeds = sorted(set(a["dm_by_seed"]) & set(b["dm_by_seed"]))
    diffs = [a["dm_by_seed"][k] - b["dm_by_seed"][k] for k in seeds]
    if not diffs or row[3] != str(len(diffs)):
        return False
    n, mean, ci = summary(diffs)
    if ci is None:
        verdict = "n = 1"
    elif mean + ci < 0:
        verdict = "a better"
    elif mean - ci > 0:
        verdict = "b better"
    else:
        verdict = "no difference"
    return estimate_matches(row[4], (n, mean, ci)) and (ci is None or row[5] == verdict)


def tables(markdown):
    """(part title, table kind, dataset label, header cells, rows as lists of cells, the
    notes below the table up to the next heading) of tables.md."""
    part, out = None, []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            part = line[3:].strip()
        m = re.match(
            r"### (Comparison|Per-task test metrics|Paired comparisons of Δm%|Pareto view"
            r"|Δm% by model size) on (\S+)"
            r"|### (Data draw)[^,]*, (.+)"
            r"|### Candidate ranks across model sizes, (tuned \S+) on (\S+)"
            r"|### (Mean rank) over (datasets and models)"
            r"|### (Weights chosen) by (the searches)"
            r"|### AutoScale (exploration windows), (.+)",
            line,
        )
        if m:
            i += 1
            while i < len(lines) and not lines[i].startswith("|"):
                i += 1
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            notes = []
            while i < len(lines) and not lines[i].startswith("#"):
                notes.append(lines[i])
                i += 1
            kind, label = next((m.group(i), m.group(i + 1)) for i in (1, 3, 5, 7, 9, 11) if m.group(i))
            out.append((part, kind, label, rows[0], rows[2:], "\n".join(notes)))
            continue
        i += 1
    return out


def check(study_dir, runs_dir, tables_md):
    study = tomllib.loads((Path(study_dir) / "study.toml").read_text())
    titles = {p["title"]: p["name"] for p in study["parts"]}
    failures, checked = [], 0
    cache = {}
    for part_title, kind, label, header, rows, notes in tables(Path(tables_md).read_text()):
        part = titles.get(part_title)
        if part is None:
            continue
        if part not in cache:
            # One read of the part's records serves every table of the part.
            records = load_records(Path(runs_dir) / part)
            groups = groups_of(records)
            stats = {k: group_stats(v, records) for k, v in groups.items()}
            add_ranks(stats)
            cache[part] = records, groups, stats
        records, groups, stats = cache[part]
        if kind == "Mean rank":
            checked += len(rows)
            failures += check_mean_ranks(part, rows, stats)
            continue
        if kind.startswith("tuned "):
            n, bad = check_ranks(part, kind, label, header, rows, notes, records)
            checked += n
            failures += bad
            continue
        if kind == "Δm% by model size":
            checked += len(rows)
            failures += check_model_sizes(part, label, header, rows, stats)
            continue
        if kind == "Pareto view":
            n, bad = check_pareto(part, label, rows, notes, groups)
            checked += n
            failures += bad
            continue
        if kind == "Weights chosen":
            checked += len(rows)
            failures += check_chosen_weights(part, header, rows, records)
            continue
        if kind == "exploration windows":
            checked += len(rows)
            failures += check_windows(part, label, rows, records)
            continue
        if kind == "Data draw":
            checked += len(rows)
            failures += check_draws(part, label, rows, records)
            continue
        if kind.startswith("Paired"):
            for row in rows:
                model, a_name, b_name = row[0], row[1].split()[0], row[2].split()[0]
                groups = {
                    name: [s for (d, m, g, _), s in stats.items()
                           if d == label and m == model and g == name]
                    for name in (a_name, b_name)
                }
                checked += 1
                if not any(
                    paired_matches(row, a, b)
                    for a in groups[a_name]
                    for b in groups[b_name]
                    if a is not b
                ):
                    failures.append(f"{part} / paired on {label}: row {row}")
            continue
        for row in rows:
            method, model, n = row[0].split()[0], row[1], row[2]
            candidates = [
                s
                for (dataset, m, name, _), s in stats.items()
                if dataset == label and m == model and name == method
            ]

            def matches(s):
                if n != str(s["seeds"]) and not (
                    "/" in n and s["dm"] and n == f"{s['dm'][0]}/{s['seeds']}"
                ):
                    return False
                if kind == "Comparison":
                    epoch, _, not_improved = row[5].partition(" (")
                    shown_ni = f"{s['not_improved']} n.i.)" if s["not_improved"] else ""
                    if not (
                        s["epoch"] is not None
                        and close(epoch, s["epoch"])
                        and not_improved == shown_ni
                        and row[8] == str(s["diverged"])
                        and s["backward"] is not None
                        and close(row[6], s["backward"])
                    ):
                        return False
                    if method == "stl":
                        k = len(s["tasks"])
                        return row[3] == "0 (ref)" and row[4] == "–" and row[7] == f"{k}.0×"
                    if s["budget"] is None or not close(row[7].rstrip("×"), s["budget"]):
                        return False
                    return (
                        s["dm"] is not None
                        and estimate_matches(row[3], s["dm"])
                        and row[4] == rank_text(s["rank"])
                    )
                # "–": no run of the row scores that task (a part under way has single-task
                # baselines of one task only).
                return all(
                    cell == "–" if t is None else estimate_matches(cell, t)
                    for cell, t in zip(row[3:], s["tasks"])
                )

            checked += 1
            if not any(matches(s) for s in candidates):
                failures.append(
                    f"{part} / {kind} on {label}: row {row[:4]} (candidates {len(candidates)})"
                )
    return checked, failures


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    checked, failures = check(*sys.argv[1:])
    for f in failures:
        print("MISMATCH", f)
    print(f"{checked - len(failures)} of {checked} table rows recomputed and equal")
    sys.exit(1 if failures or checked == 0 else 0)


if __name__ == "__main__":
    main()
