#!/usr/bin/env python3
"""Where a kept PBT member came from: trace each PBT run's winning lineage back to its root.

Reads the run records of a results folder (plain JSON, nothing from mtlbench) and prints, for
every PBT run that kept its member (`pbt_result = "member"`):

- the winning member and the member its lineage started from (the root: following each
  exploit's `copied_from` back from the last round to the first);
- the root's rank among the population at the first round (1 = best validation objective),
  before any exploit could act;
- how many exploits the lineage took, and the range of the first task's weight along it;
- how far the winner's weights stayed from uniform (largest |λ_k − 1/K| over the schedule).

Usage: pbt_lineage.py RUNS_DIR [RUNS_DIR...]
"""
import glob
import json
import os
import sys


def lineage(record):
    history = record["search"]["history"]
    rounds = history["rounds"]
    member = history["winner"]
    exploits = 0
    for rnd in reversed(rounds):
        for event in rnd["exploit"]:
            if event["member"] == member:
                member = event["copied_from"]
                exploits += 1
                break
    first_scores = rounds[0]["scores"]
    order = sorted(range(len(first_scores)), key=lambda m: first_scores[m])
    root_rank = order.index(member) + 1
    schedule = [step["weights"] for step in history["schedule"]]
    k = len(schedule[0])
    off_uniform = max(abs(w - 1.0 / k) for weights in schedule for w in weights)
    first = [weights[0] for weights in schedule]
    return {
        "winner": history["winner"],
        "root": member,
        "root_rank": root_rank,
        "population": len(first_scores),
        "exploits": exploits,
        "lambda0_range": (min(first), max(first)),
        "off_uniform": off_uniform,
    }


def main(dirs):
    rows = []
    for folder in dirs:
        for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
            with open(path) as f:
                record = json.load(f)
            method = record.get("method", {})
            config = method.get("config", {})
            if method.get("name") != "tuned" or config.get("strategy") != "pbt":
                continue
            if config.get("pbt_result", "member") != "member" or not record.get("search"):
                continue
            info = lineage(record)
            # PBT's no-search control (every member at uniform weights, never perturbed) is
            # told apart from the search by its configuration.
            control = config.get("start") == "uniform" and config.get("perturb") == 0
            kind = "control" if control else "search"
            rows.append((record["model"]["name"], kind, record["seed"], info))
    if not rows:
        sys.exit("no PBT runs that kept their member in " + ", ".join(dirs))
    print(
        "| model | PBT | seed | winner | root | root's rank, round 1 | exploits "
        "| λ₁ along the lineage | max abs(λ − 1/K) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for model, kind, seed, i in sorted(rows, key=lambda r: (r[0], r[1], r[2])):
        lo, hi = i["lambda0_range"]
        print(
            f"| {model} | {kind} | {seed} | {i['winner']} | {i['root']} "
            f"| {i['root_rank']} of {i['population']} | {i['exploits']} | {lo:.3f}–{hi:.3f} "
            f"| {i['off_uniform']:.3f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
