#!/usr/bin/env python3
"""Plots how the bench's figures grow with the number of customers.

    for n in 10000 100000 1000000; do
        cargo run --release --example bench -- --n $n --json > benches/runs/n$n.jsonl
    done
    python3 benches/plot.py benches/runs/n*.jsonl -o benches/scaling.svg

Each file is one bench run (JSON lines; its `customers` line gives N). The
SVG has four panels on log-log axes, custodian beside plain rusqlite where
the bench measures both: insert rate, audited read median, keyword search
median, sorted-page times. A flat line costs the same at any N; a line that
rises with slope 1 grows in proportion to N. Only the standard library is
used, so the plot can be redrawn on any machine that has Python 3.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

# (panel title, unit, [(metric, label, colour, dashed)])
PANELS: list[tuple[str, str, list[tuple[str, str, str, bool]]]] = [
    (
        "Bulk insert",
        "customers/s",
        [
            ("insert_rate_custodian", "custodian, keyword index on", "#c0392b", False),
            ("insert_rate_custodian_index_off", "custodian, index off", "#e67e22", False),
            ("insert_rate_plain", "plain rusqlite", "#7f8c8d", True),
        ],
    ),
    (
        "Audited point read (median)",
        "µs",
        [
            ("read_by_id_custodian_median", "custodian, by id", "#2980b9", False),
            ("read_by_mobile_custodian_median", "custodian, by mobile", "#8e44ad", False),
            ("read_by_id_plain_median", "plain, by id", "#7f8c8d", True),
            ("read_by_mobile_plain_median", "plain, by mobile", "#95a5a6", True),
        ],
    ),
    (
        "Keyword search (median)",
        "ms",
        [
            ("keyword_search_median", "custodian, 发票", "#27ae60", False),
            ("keyword_search_latin_median", "custodian, vip", "#16a085", False),
            ("keyword_search_plain_median", "plain FTS5 LIKE, 发票", "#7f8c8d", True),
            ("keyword_search_latin_plain_median", "plain FTS5 MATCH, vip", "#95a5a6", True),
            ("keyword_search_phrase_median", "custodian, 增值税专用发票 (six grams)", "#8e44ad", False),
            ("keyword_search_phrase_plain_median", "plain FTS5 MATCH, 增值税专用发票", "#bdc3c7", True),
        ],
    ),
    (
        "First page sorted by name",
        "ms",
        [
            ("sorted_page_first_build", "custodian, first build", "#d35400", False),
            ("sorted_page_cold", "custodian, after open", "#c0392b", False),
            ("sorted_page_after_write_median", "custodian, after a write", "#2c3e50", False),
            ("sorted_page_warm_median", "custodian, warm", "#2980b9", False),
        ],
    ),
]

WIDTH, HEIGHT = 520, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 150


def read_run(path: Path) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("{"):
            record = json.loads(line)
            if isinstance(record.get("value"), (int, float)):
                values[record["metric"]] = float(record["value"])
    if "customers" not in values:
        raise SystemExit(f"{path}: no 'customers' line; is it a bench run with --json?")
    return values


def decades(low: float, high: float) -> list[float]:
    """Powers of ten covering [low, high]."""
    start, end = math.floor(math.log10(low)), math.ceil(math.log10(high))
    if start == end:
        end += 1
    return [10.0**e for e in range(start, end + 1)]


def label(v: float) -> str:
    if v >= 1_000_000:
        return f"{v / 1_000_000:g}M"
    if v >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def panel(runs: list[dict[str, float]], title: str, unit: str, series, x0: float, y0: float) -> list[str]:
    ns = [r["customers"] for r in runs]
    points = {m: [(r["customers"], r[m]) for r in runs if r.get(m, 0) > 0] for m, *_ in series}
    values = [v for pts in points.values() for _, v in pts]
    out = [f'<g transform="translate({x0},{y0})">']
    out.append(f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{title}</text>')
    if not values:
        out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data</text></g>')
        return out
    xs, ys = decades(min(ns), max(ns)), decades(min(values), max(values))
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(n: float) -> float:
        return LEFT + pw * (math.log10(n) - math.log10(xs[0])) / (math.log10(xs[-1]) - math.log10(xs[0]))

    def py(v: float) -> float:
        return TOP + ph * (1 - (math.log10(v) - math.log10(ys[0])) / (math.log10(ys[-1]) - math.log10(ys[0])))

    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    for x in xs:
        out.append(f'<line x1="{px(x):.1f}" y1="{TOP}" x2="{px(x):.1f}" y2="{TOP + ph}" stroke="#ddd"/>')
        out.append(f'<text x="{px(x):.1f}" y="{TOP + ph + 16}" text-anchor="middle" font-size="11">{label(x)}</text>')
    for y in ys:
        out.append(f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{LEFT + pw}" y2="{py(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{py(y) + 4:.1f}" text-anchor="end" font-size="11">{label(y)}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{TOP + ph + 32}" text-anchor="middle" font-size="11">customers (N)</text>')
    out.append(
        f'<text transform="translate(16,{TOP + ph / 2}) rotate(-90)" text-anchor="middle" font-size="11">{unit}</text>'
    )
    for i, (metric, name, colour, dashed) in enumerate(series):
        pts = sorted(points[metric])
        dash = ' stroke-dasharray="6,4"' if dashed else ""
        if len(pts) > 1:
            path = " ".join(f"{px(n):.1f},{py(v):.1f}" for n, v in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for n, v in pts:
            out.append(f'<circle cx="{px(n):.1f}" cy="{py(v):.1f}" r="3" fill="{colour}"><title>{name}: {v:g} {unit} at N = {n:g}</title></circle>')
        ly = TOP + ph + 50 + 18 * i
        out.append(f'<line x1="{LEFT}" y1="{ly - 4}" x2="{LEFT + 24}" y2="{ly - 4}" stroke="{colour}" stroke-width="2"{dash}/>')
        last = f" ({pts[-1][1]:,.1f} at {label(pts[-1][0])})" if pts else " (not measured)"
        out.append(f'<text x="{LEFT + 30}" y="{ly}" font-size="11">{name}{last}</text>')
    out.append("</g>")
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="bench runs, one JSON-lines file per N")
    parser.add_argument("-o", "--output", type=Path, default=Path("scaling.svg"), help="the SVG to write")
    args = parser.parse_args(argv[1:])
    runs = sorted((read_run(p) for p in args.runs), key=lambda r: r["customers"])
    if len({r["customers"] for r in runs}) != len(runs):
        raise SystemExit("two runs have the same N")
    width, height = 2 * WIDTH, 2 * HEIGHT + 30
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" viewBox="0 0 {width} {height}">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="13">custodian against plain rusqlite at '
        f'N = {", ".join(label(r["customers"]) for r in runs)} (log-log; dashed: plain)</text>',
    ]
    for i, (title, unit, series) in enumerate(PANELS):
        svg += panel(runs, title, unit, series, (i % 2) * WIDTH, 30 + (i // 2) * HEIGHT)
    svg.append("</svg>")
    args.output.write_text("\n".join(svg) + "\n", encoding="utf-8")
    print(f"wrote {args.output} from {len(runs)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
