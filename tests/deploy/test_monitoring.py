"""k8s/monitoring: the alerting rules (`promtool check rules`, `promtool test rules` on the
synthetic series of tests/deploy/monitoring/), their runbook entries, the Grafana dashboard and the
generated prometheus-operator PrometheusRule.

The tests that run promtool skip without it, except under CI, where they fail: run
`.ci/install-monitoring-tools.sh` first (`.ci/run` does). That every metric the rules and the
dashboard name is exported is checked in test_documented_metrics.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "k8s" / "monitoring"
RULES = MONITORING / "tempstrong-rules.yaml"
DASHBOARD = MONITORING / "tempstrong-dashboard.json"
GENERATOR = MONITORING / "generate-prometheusrule.py"
PROMETHEUS_RULE = MONITORING / "prometheus-operator" / "prometheusrule.yaml"
RULE_TESTS = Path(__file__).resolve().parent / "monitoring" / "tempstrong-rules.test.yaml"
OPERATIONS = REPO / "docs" / "operations.md"
# Where .ci/install-monitoring-tools.sh puts promtool when it cannot link it onto PATH.
TOOLS_DIR = os.environ.get("TEMPSTRONG_MONITORING_TOOLS_DIR", "/opt/tempstrong-monitoring-tools")
TOOLS_PROMTOOL = Path(TOOLS_DIR) / "bin" / "promtool"

SEVERITIES = {"critical", "warning"}
# Grafana's variables, replaced by something PromQL accepts to check a panel's query.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$namespace": ".*"}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def promtool() -> str:
    path = os.environ.get("TEMPSTRONG_PROMTOOL") or shutil.which("promtool")
    if path is None and TOOLS_PROMTOOL.is_file():
        path = str(TOOLS_PROMTOOL)
    if path is None:
        if _truthy(os.environ.get("CI")):
            pytest.fail("promtool is missing and CI is set: run .ci/install-monitoring-tools.sh")
        pytest.skip(
            "promtool is not installed (bash .ci/install-monitoring-tools.sh extracts it from "
            "Debian's prometheus package); not CI"
        )
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, check=False
    )


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def alerts() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for rule in rules():
        assert "alert" in rule, f"only alerting rules here: {rule}"
        assert rule["alert"] not in found, f"duplicate alert {rule['alert']}"
        found[rule["alert"]] = rule
    return found


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel but the rows, also those inside collapsed rows."""
    found = []
    for panel in board["panels"]:
        found.extend(panel.get("panels", []))
        if panel["type"] != "row":
            found.append(panel)
    return found


def dashboard_queries(board: dict[str, Any]) -> list[str]:
    queries = [t["expr"] for p in panels(board) for t in p.get("targets", []) if t.get("expr")]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            queries.append(query["query"] if isinstance(query, dict) else query)
    return queries


# ---------------------------------------------------------------------------------- promtool


def test_promtool_checks_the_rules(promtool: str) -> None:
    result = _run(promtool, "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout, result.stdout


def test_promtool_rule_tests_pass(promtool: str) -> None:
    """The healthy run fires nothing; a publisher stalled for 2 minutes, parked events, dead
    letters, idle delivery workers, an unready API, 5xx, slow resets, a lagging or stalled
    projector and an unscrapable pod each fire their alert (and resolve)."""
    result = _run(promtool, "test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Each panel's query, with Grafana's variables filled in, as a recording rule for promtool."""
    records = []
    for index, query in enumerate(dashboard_queries(dashboard())):
        if query.startswith("label_values("):  # Grafana's variable function, not PromQL
            match = re.fullmatch(r"label_values\((.+), *([a-z_]+)\)", query)
            assert match, query
            query = match.group(1)
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        assert "$" not in query, f"unknown Grafana variable in {query}"
        records.append({"record": f"dashboard:query_{index}", "expr": query})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    result = _run(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------- rules


def test_the_rule_tests_cover_every_alert() -> None:
    document = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    assert document["rule_files"] == [os.path.relpath(RULES, RULE_TESTS.parent)]
    healthy, *problems = document["tests"]
    assert healthy["name"] == "healthy run"
    quiet = {case["alertname"] for case in healthy["alert_rule_test"]}
    assert all(not case["exp_alerts"] for case in healthy["alert_rule_test"])
    assert quiet == set(alerts()), "the healthy run must name every alert (and expect none)"
    fired = {
        case["alertname"]
        for test in problems
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert fired == set(alerts()), f"alerts no test makes fire: {sorted(set(alerts()) - fired)}"
    names = [test["name"] for test in problems]
    assert "publisher stalled for 2 minutes fires" in names
    assert "parked events fire" in names


def test_the_required_alerts_exist() -> None:
    expressions = {name: rule["expr"] for name, rule in alerts().items()}

    def alert_on(metric: str) -> bool:
        return any(metric in expr for expr in expressions.values())

    assert alert_on("tempstrong_api_ready")  # API not ready / none up
    assert alert_on('status=~"5.."')  # reset 5xx
    assert alert_on("tempstrong_http_request_duration_seconds_bucket")  # reset p99
    assert alert_on("tempstrong_projection_lag_seconds")  # projection lag
    stalled = expressions["TempstrongPublisherStalled"]
    assert "tempstrong_follower_heartbeat_timestamp_seconds" in stalled
    assert alert_on("tempstrong_parked_events")
    assert alert_on('outcome="dead_lettered"')
    assert alert_on("tempstrong_delivery_consuming")
    assert alert_on("tempstrong_follower_errors_total")


def _runbook_section() -> str:
    text = OPERATIONS.read_text(encoding="utf-8")
    assert "\n## Runbook\n" in text, "docs/operations.md needs a '## Runbook' section"
    return text.split("\n## Runbook\n", 1)[1].split("\n## ", 1)[0]


def test_every_alert_is_labelled_annotated_and_has_a_runbook_entry() -> None:
    runbook = _runbook_section()
    headings = re.findall(r"^### (\S+)\s*$", runbook, flags=re.MULTILINE)
    for name, rule in alerts().items():
        assert name.startswith("Tempstrong"), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        if rule["labels"]["severity"] == "critical":
            assert rule.get("for"), f"{name}: a page needs a `for:`"
        annotations = rule["annotations"]
        assert annotations.get("summary") and annotations.get("description"), name
        # GitHub's anchor of the heading `### <alert>` is the lower-cased name.
        assert annotations["runbook_url"] == f"docs/operations.md#{name.lower()}", name
        assert name in headings, f"docs/operations.md, '## Runbook', lacks '### {name}'"
    assert set(headings) == set(alerts()), "runbook entries without an alert"


def test_the_prometheus_rule_is_generated_from_the_rule_file() -> None:
    result = _run(sys.executable, GENERATOR, "--check")
    assert result.returncode == 0, (
        f"{result.stderr}run `python3 k8s/monitoring/generate-prometheusrule.py` and commit"
    )
    generated = yaml.safe_load(PROMETHEUS_RULE.read_text(encoding="utf-8"))
    assert generated["apiVersion"] == "monitoring.coreos.com/v1"
    assert generated["kind"] == "PrometheusRule"
    assert generated["spec"] == yaml.safe_load(RULES.read_text(encoding="utf-8"))
    kustomization = yaml.safe_load(
        (PROMETHEUS_RULE.parent / "kustomization.yaml").read_text(encoding="utf-8")
    )
    assert PROMETHEUS_RULE.name in kustomization["resources"]


# ---------------------------------------------------------------------------------- dashboard


def test_the_dashboard_uses_a_datasource_variable_everywhere() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board.get("id") is None
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["namespace"]["datasource"]["uid"] == "${datasource}"
    every = board["panels"] + [c for p in board["panels"] for c in p.get("panels", [])]
    ids = [p["id"] for p in every]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(board):
        title = panel.get("title")
        assert title, panel["id"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        assert panel["targets"], title
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", title
            assert target["expr"].strip(), title
            assert 'namespace=~"$namespace"' in target["expr"], f"{title}: namespace filter"
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{title}: a unit"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, title


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    queries = "\n".join(dashboard_queries(dashboard()))
    for needle in (
        "tempstrong_resets_total",  # reset rate and errors by code
        'outcome!~"ok|replayed"',
        "histogram_quantile(0.99, sum by (le) (rate(tempstrong_http_request_duration_seconds",
        "tempstrong_eventstore_saves_total",  # group-commit size
        "tempstrong_eventstore_commits_total",
        "tempstrong_projection_lag_events",  # projection lag, events and seconds
        "tempstrong_projection_lag_seconds",
        'tempstrong_projection_lag_events{namespace=~"$namespace", follower="publisher"}',
        "tempstrong_parked_events",
        "tempstrong_parked_total",
        "sum by (channel, outcome) (rate(tempstrong_deliveries_total",  # per channel
        'outcome="dead_lettered"',
        "tempstrong_api_ready",  # readiness
    ):
        assert needle in queries, needle
