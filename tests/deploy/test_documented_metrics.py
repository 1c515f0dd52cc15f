"""Every metric docs/operations.md tells operators to watch, and every metric a panel of the
Grafana dashboard or an alerting rule of k8s/monitoring names, is one the processes export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "k8s" / "monitoring"
_NAME = re.compile(r"`(tempstrong_[a-z_]+)")
# A metric name inside a PromQL expression (label values such as `tempstrong-password` have a dash).
_METRIC = re.compile(r"\btempstrong_[a-z_]+\b")


def _exported_names() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8")
        for folder in ("service", "projections")
        for path in (ROOT / folder).rglob("*.py")
    )


def _base(name: str) -> str:
    """The name the code registers: counters lose `_total`, histograms `_bucket` and so on."""
    return re.sub(r"_(total|bucket|count|sum)$", "", name)


def _not_exported(names: set[str]) -> list[str]:
    source = _exported_names()
    return sorted(
        name for name in names if f'"{name}"' not in source and f'"{name}_total"' not in source
    )


def _documented() -> set[str]:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    return {_base(name) for name in _NAME.findall(section)}


def test_documented_metrics_exist():
    documented = _documented()
    assert len(documented) >= 15
    missing = _not_exported(documented)
    assert not missing, f"documented but not exported: {missing}"


def _rule_expressions() -> list[str]:
    document = yaml.safe_load((MONITORING / "tempstrong-rules.yaml").read_text(encoding="utf-8"))
    return [rule["expr"] for group in document["groups"] for rule in group["rules"]]


def _dashboard_expressions() -> list[str]:
    board = json.loads((MONITORING / "tempstrong-dashboard.json").read_text(encoding="utf-8"))
    every = board["panels"] + [c for p in board["panels"] for c in p.get("panels", [])]
    found = [t["expr"] for p in every for t in p.get("targets", []) if t.get("expr")]
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        found.append(query.get("query", "") if isinstance(query, dict) else str(query or ""))
    return found


def test_every_metric_of_the_dashboard_and_the_rules_is_exported_and_documented():
    used = {
        _base(name)
        for expression in _rule_expressions() + _dashboard_expressions()
        for name in _METRIC.findall(expression)
    }
    assert len(used) >= 15, sorted(used)
    missing = _not_exported(used)
    assert not missing, f"named by k8s/monitoring but not exported: {missing}"
    undocumented = sorted(used - _documented())
    assert not undocumented, f"named by k8s/monitoring, missing in '## Metrics': {undocumented}"
