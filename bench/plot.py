"""Throughput and p99 latency vs connections, service and floor, as one PNG (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_sweep(sweep: list[dict[str, Any]], path: Path, title: str) -> Path | None:
    """`sweep`: wrk result dicts (target, connections, rps, p99_ms); None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install -e '.[bench]')")
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
