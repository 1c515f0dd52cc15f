"""The Node.js checks of tools/node (installed by `npm ci --prefix tools/node`, as .ci/run does):
skipped where Node.js or the package is missing, failed instead when CI is set."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_TOOLS = ROOT / "tools" / "node"
INSTALL = "npm ci --prefix tools/node --no-audit --no-fund"


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no")


def tool_missing(problem: str) -> NoReturn:
    if truthy(os.environ.get("CI")):
        pytest.fail(f"{problem}, and CI is set: run `{INSTALL}` first")
    pytest.skip(f"{problem} (install it with `{INSTALL}`); not CI")


def node_command(script: str, package: str) -> list[str]:
    """`node tools/node/<script>`, once Node.js and `package` are there."""
    node = shutil.which("node")
    if node is None:
        tool_missing("node (Node.js) is not on PATH")
    if not (NODE_TOOLS / "node_modules" / package / "package.json").exists():
        tool_missing(f"{package} is not installed in tools/node")
    return [node, str(NODE_TOOLS / script)]


def run_node(
    script: str, package: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*node_command(script, package), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
