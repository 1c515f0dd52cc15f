"""The scale benchmark's table: one row per metric, a column per store size, the growth factor.

Pure functions over the per-size result dicts of bench/scale.py (no I/O), so that they are
unit-tested (tests/unit/test_scale_table.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    label: str  # the row's name, with its unit
    path: tuple[str, ...]  # keys into one size's result dict
    digits: int = 1  # decimals shown
    plot: bool = True  # a subplot of the PNG


def pick(result: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The value at `path` in nested dicts; None where a key is missing."""
    value: Any = result
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def number(value: Any) -> float | None:
    """A finite number (bools are not numbers here), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def factor(values: Sequence[Any]) -> float | None:
    """The value at the largest size ÷ the value at the smallest (None if either is missing or
    the smallest is 0)."""
    if len(values) < 2:
        return None
    first, last = number(values[0]), number(values[-1])
    if first is None or last is None or first == 0:
        return None
    return last / first


def size_label(size: int) -> str:
    """10000 -> "10^4"; a size that is no power of ten keeps its digits ("25,000")."""
    if size >= 10:
        exponent = round(math.log10(size))
        if 10**exponent == size:
            return f"10^{exponent}"
    return f"{size:,}"


def cell(value: Any, digits: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    as_number = number(value)
    return "n/a" if as_number is None else f"{as_number:,.{digits}f}"


def rows(
    results: Sequence[Mapping[str, Any]], metrics: Sequence[Metric]
) -> list[tuple[Metric, list[Any], float | None]]:
    """Each metric's values over the sizes (in the order of `results`) and its factor."""
    out = []
    for metric in metrics:
        values = [pick(result, metric.path) for result in results]
        out.append((metric, values, factor(values)))
    return out


def markdown_table(
    sizes: Sequence[int], results: Sequence[Mapping[str, Any]], metrics: Sequence[Metric]
) -> str:
    """A Markdown table: metric | one column per size | factor largest ÷ smallest."""
    labels = [size_label(size) for size in sizes]
    last = f"factor {labels[-1]}÷{labels[0]}" if len(labels) > 1 else "factor"
    lines = [
        "| metric | " + " | ".join(labels) + f" | {last} |",
        "|---|" + "---:|" * len(labels) + "---:|",
    ]
    for metric, values, growth in rows(results, metrics):
        shown = [cell(value, metric.digits) for value in values]
        ratio = "n/a" if growth is None else f"{growth:.2f}x"
        lines.append(f"| {metric.label} | " + " | ".join(shown) + f" | {ratio} |")
    return "\n".join(lines)
