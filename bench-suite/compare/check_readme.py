#!/usr/bin/env python3
"""Check that every interval a study README quotes comes from a table.

A study README retells its tables in prose and in hand-made summary tables ("uniform +2.5 ±
1.4", "paired −0.1 ± 13.4"). `check_tables.py` recomputes the tables from the run records;
this script closes the loop from the tables to the text: it finds every "a ± b" in the README
and looks for a pair in the sources that prints as it at the README's digits (0.8991 ± 0.0265
is quoted correctly as 0.899 ± 0.027 or 0.90 ± 0.03; the sign must agree). It exits 1 and
lists, with their line numbers, the quoted intervals no source holds; 0 when every one is
found.

    python3 bench-suite/compare/check_readme.py README SOURCE...

Each SOURCE is a Markdown file (the study's `tables.md`, another study's tables, a twin's
result table) or `git:REV:PATH`, a file as an earlier commit had it, for the values a README
quotes from before a rerun. Each study README gives its own command. Standard library only.
"""

import re
import subprocess
import sys
from pathlib import Path

NUMBER = r"[+\-−]?\d[\d,]*(?:\.\d+)?(?:e[+\-]?\d+)?"
INTERVAL = re.compile(rf"({NUMBER}) ± ({NUMBER})")


def value(text):
    return float(text.replace("−", "-").replace(",", ""))


def half_step(text):
    """Half a unit of the last printed digit: how far a value may be from its rounding."""
    mantissa, _, exponent = text.partition("e")
    digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 0.5 * 10 ** (int(exponent or 0) - digits) * (1 + 1e-9)


def read_source(source):
    if source.startswith("git:"):
        rev, _, path = source[4:].partition(":")
        shown = subprocess.run(
            ["git", "show", f"{rev}:{path}"], capture_output=True, text=True, check=False
        )
        if shown.returncode != 0:
            sys.exit(f"{source}: git show failed: {shown.stderr.strip()}")
        return shown.stdout
    path = Path(source)
    if not path.is_file():
        sys.exit(f"{source}: no such file")
    return path.read_text()


def quoted_intervals(readme):
    for number, line in enumerate(readme.splitlines(), start=1):
        for mean, half in INTERVAL.findall(line):
            yield number, mean, half


def sign(text):
    return -1 if text[0] in "-−" else 1


def holds(pairs, mean, half):
    m, h = value(mean), value(half)
    dm, dh = half_step(mean), half_step(half)
    return any(
        abs(x - m) <= dm and abs(y - h) <= dh and (m == 0 or (x < 0) == (sign(mean) < 0))
        for x, y in pairs
    )


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    readme = Path(sys.argv[1]).read_text()
    pairs = [
        (value(a), value(b))
        for source in sys.argv[2:]
        for a, b in INTERVAL.findall(read_source(source))
    ]
    quoted = list(quoted_intervals(readme))
    missing = [(n, a, b) for n, a, b in quoted if not holds(pairs, a, b)]
    for n, a, b in missing:
        print(f"NOT FOUND line {n}: {a} ± {b}")
    print(f"{len(quoted) - len(missing)} of {len(quoted)} quoted intervals found in the sources")
    sys.exit(1 if missing or not quoted else 0)


if __name__ == "__main__":
    main()
