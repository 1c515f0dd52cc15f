#!/usr/bin/env python3
"""Writes prometheus-operator/prometheusrule.yaml from tempstrong-rules.yaml, the one source.

A PrometheusRule's `spec` has the shape of a Prometheus rule file (`groups: [...]`), so the
generated object is the rule file indented under `spec:`, comments and all. Run it after every
change of the rules: `python3 k8s/monitoring/generate-prometheusrule.py`. With `--check` it writes
nothing and exits 1 when the committed file is out of date (tests/deploy runs that).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "tempstrong-rules.yaml"
TARGET = HERE / "prometheus-operator" / "prometheusrule.yaml"

HEADER = """\
# GENERATED from k8s/monitoring/tempstrong-rules.yaml by k8s/monitoring/generate-prometheusrule.py:
# do not edit. Change the rule file, then run `python3 k8s/monitoring/generate-prometheusrule.py`.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: tempstrong
  labels:
    app.kubernetes.io/name: tempstrong
    app.kubernetes.io/part-of: tempstrong
    app.kubernetes.io/component: monitoring
spec:
"""


def render(source: str) -> str:
    lines = source.splitlines()
    # The source's opening comment describes the source file; the object does without it.
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    body = "".join(f"  {line}\n" if line.strip() else "\n" for line in lines)
    return HEADER + body


def main(argv: list[str]) -> int:
    wanted = render(SOURCE.read_text(encoding="utf-8"))
    if argv[1:] == ["--check"]:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != wanted:
            print(f"{TARGET} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    if argv[1:]:
        print(f"usage: {Path(__file__).name} [--check]", file=sys.stderr)
        return 2
    TARGET.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
