"""The PNGs (matplotlib, Agg): throughput and p99 latency vs connections, service and floor
(bench/run.py); each cost vs the store's size (bench/scale.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or None (said once) when it is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install -e '.[bench]')")
        return None
    return plt


def plot_sweep(sweep: list[dict[str, Any]], path: Path, title: str) -> Path | None:
    """`sweep`: wrk result dicts (target, connections, rps, p99_ms); None without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for target, style in (("service", "o-"), ("floor", "s--")):
        points = sorted(
            (r["connections"], r["rps"], r["p99_ms"]) for r in sweep if r["target"] == target
        )
        if not points:
            continue
        conns = [p[0] for p in points]
        left.plot(conns, [p[1] for p in points], style, label=target)
        right.plot(conns, [p[2] for p in points], style, label=target)
    ticks = sorted({int(r["connections"]) for r in sweep})
    for axis, label in ((left, "requests/s (log)"), (right, "p99 latency (ms, log)")):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xticks(ticks, [str(t) for t in ticks])
        axis.set_xlabel("wrk connections")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    left.set_title("throughput")
    right.set_title("p99 latency")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_scale(
    sizes: Sequence[int],
    series: Sequence[tuple[str, Sequence[float | None]]],
    path: Path,
    title: str,
    columns: int = 4,
) -> Path | None:
    """One small subplot per cost (label, one value per size; None = not measured) against the
    store's size on a log axis; None without matplotlib."""
    plt = _pyplot()
    if plt is None or not series:
        return None
    lines = math.ceil(len(series) / columns)
    figure, axes = plt.subplots(lines, columns, figsize=(3.6 * columns, 2.6 * lines), squeeze=False)
    for axis, (label, values) in zip(axes.flat, series, strict=False):
        points = [(s, v) for s, v in zip(sizes, values, strict=True) if v is not None]
        if points:
            axis.plot([p[0] for p in points], [p[1] for p in points], "o-")
        axis.set_xscale("log")
        axis.set_xticks(list(sizes), [f"{s:,}" for s in sizes], fontsize=7)
        axis.minorticks_off()
        axis.set_ylim(bottom=0)
        axis.set_title(label, fontsize=8)
        axis.tick_params(axis="y", labelsize=7)
        axis.grid(True, alpha=0.3)
    for axis in list(axes.flat)[len(series) :]:
        axis.set_visible(False)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.4 / (2.6 * lines)))  # room for the title
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
