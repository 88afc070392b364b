#!/usr/bin/env python3
"""Checks a bench run against the targets in benches/RESULTS.md.

    cargo run --release --example bench -- --n 1000000 --json > run.jsonl
    python3 benches/check_targets.py run.jsonl

Reads the "JSON metric names" table of RESULTS.md (metric, unit, target), takes
the run's `customers` line for N, and prints each metric that has a target for
that N with its value and whether it is met. Exits 1 if any target is missed.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
# "≤ 20 at N = 100,000; ≤ 50 at N = 1,000,000", "≥ 0.5", "≤ 1.1"
BOUND = re.compile(r"([≤≥])\s*([\d,.]+)(?:\s*at N = ([\d,]+))?")


def targets() -> dict[str, list[tuple[str, float, int | None]]]:
    """Per metric, its bounds: (comparison, value, N or None for any N)."""
    table: dict[str, list[tuple[str, float, int | None]]] = {}
    in_table = False
    for line in RESULTS.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            in_table = line.strip() == "## JSON metric names"
            continue
        if not in_table or not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        metric, target = cells[0].strip("`"), cells[2]
        if "not yet measured" in target:
            continue
        for part in target.split(";"):
            m = BOUND.search(part)
            if m:
                n = int(m.group(3).replace(",", "")) if m.group(3) else None
                table.setdefault(metric, []).append((m.group(1), float(m.group(2).replace(",", "")), n))
    return table


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    values: dict[str, float] = {}
    for line in Path(argv[1]).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("{"):
            record = json.loads(line)
            if isinstance(record.get("value"), (int, float)):
                values[record["metric"]] = float(record["value"])
    n = int(values.get("customers", 0))
    missed = 0
    for metric, bounds in sorted(targets().items()):
        for comparison, bound, at in bounds:
            if at is not None and at != n or metric not in values:
                continue
            value = values[metric]
            met = value <= bound if comparison == "≤" else value >= bound
            missed += not met
            print(f"{metric:45} {value:>14,.3f} {comparison} {bound:<12,g} {'met' if met else 'MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
