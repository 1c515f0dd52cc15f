"""The scale benchmark's table (bench/scaletable.py): values picked from nested results, the
growth factor, size labels, the Markdown layout."""

from __future__ import annotations

import math

import pytest

from bench.scaletable import Metric, cell, factor, markdown_table, pick, rows, size_label

RESULTS = [
    {"size": 10_000, "wrk": {"ratio_rps": 0.2}, "api": {"rss_mib": 90.0}, "list": {}},
    {"size": 100_000, "wrk": {"ratio_rps": 0.19}, "api": {"rss_mib": 91.5}, "list": {}},
    {"size": 1_000_000, "wrk": {"ratio_rps": 0.18}, "api": {"rss_mib": 99.0}, "list": {}},
]
METRICS = [
    Metric("reset ÷ floor", ("wrk", "ratio_rps"), 3),
    Metric("API RSS MiB", ("api", "rss_mib"), 1),
    Metric("list p99 ms", ("list", "first", "p99_ms"), 2),
]


def test_pick_walks_nested_dicts_and_is_none_where_a_key_is_missing():
    assert pick(RESULTS[0], ("wrk", "ratio_rps")) == 0.2
    assert pick(RESULTS[0], ("list", "first", "p99_ms")) is None
    assert pick(RESULTS[0], ("size", "deeper")) is None


def test_factor_is_the_largest_size_over_the_smallest():
    assert factor([2.0, 3.0, 5.0]) == 2.5
    assert factor([4, None, 2]) == 0.5


def test_factor_is_none_without_two_numbers_or_with_a_zero_first():
    assert factor([1.0]) is None
    assert factor([None, 3.0]) is None
    assert factor([2.0, "n/a"]) is None
    assert factor([0.0, 3.0]) is None
    assert factor([math.nan, 3.0]) is None
    assert factor([True, 3.0]) is None


def test_size_labels_are_powers_of_ten_where_they_can_be():
    assert [size_label(n) for n in (1000, 10_000, 1_000_000)] == ["10^3", "10^4", "10^6"]
    assert size_label(25_000) == "25,000"
    assert size_label(200) == "200"


def test_cells_group_thousands_and_say_what_is_missing():
    assert cell(8123.4, 0) == "8,123"
    assert cell(0.1875, 3) == "0.188"
    assert cell(None, 1) == "n/a"
    assert cell(math.inf, 1) == "n/a"
    assert cell(True, 1) == "yes"
    assert cell("bounded", 1) == "bounded"


def test_rows_give_each_metric_its_values_in_size_order_and_its_factor():
    out = rows(RESULTS, METRICS)
    assert [(m.label, values) for m, values, _ in out] == [
        ("reset ÷ floor", [0.2, 0.19, 0.18]),
        ("API RSS MiB", [90.0, 91.5, 99.0]),
        ("list p99 ms", [None, None, None]),
    ]
    assert out[1][2] == pytest.approx(1.1)
    assert out[2][2] is None


def test_the_markdown_table_has_a_column_per_size_and_the_factor_last():
    table = markdown_table([r["size"] for r in RESULTS], RESULTS, METRICS).splitlines()
    assert table[0] == "| metric | 10^4 | 10^5 | 10^6 | factor 10^6÷10^4 |"
    assert table[1] == "|---|---:|---:|---:|---:|"
    assert table[2] == "| reset ÷ floor | 0.200 | 0.190 | 0.180 | 0.90x |"
    assert table[3] == "| API RSS MiB | 90.0 | 91.5 | 99.0 | 1.10x |"
    assert table[4] == "| list p99 ms | n/a | n/a | n/a | n/a |"
