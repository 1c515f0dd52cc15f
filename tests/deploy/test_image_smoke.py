"""deploy/image-smoke.sh as text and in its skip path; the real run is `.ci/run`'s last step."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.scripts import run_without_podman

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "image-smoke.sh"
LIBRARY = REPO / "deploy" / "podman-lib.sh"  # what it shares with k8s/run-with-podman.sh
README_TEST_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/pytest"
)


def test_script_parses() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    subprocess.run(["bash", "-n", str(LIBRARY)], check=True)


def test_ci_runs_the_smoke_after_the_test_suite() -> None:
    lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    tests = lines.index(README_TEST_COMMAND)
    smoke = lines.index("bash deploy/image-smoke.sh")
    assert tests < smoke
    between = lines[tests + 1 : smoke]
    assert any("exit" in line for line in between), "a failed step of the test line must stop CI"


def test_containers_run_as_the_pods_do() -> None:
    text = SCRIPT.read_text()
    assert "set -euo pipefail" in text
    for option in (
        "--read-only",
        "--user 10001:10001",
        "--cap-drop=ALL",
        "--security-opt no-new-privileges",
        "--network host",
    ):
        assert option in text, option
    assert "trap cleanup EXIT" in text
    assert "close_backends" in text.split("cleanup() {")[1].split("\n}\n")[0]
    library = LIBRARY.read_text()
    assert "DROP DATABASE" in library and "delete_vhost" in library


def test_skips_where_podman_cannot_be_had(tmp_path: Path) -> None:
    """No podman and no apt-get on the PATH: a clear message and status 0."""
    result = run_without_podman(SCRIPT, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("image smoke test skipped: no podman"), result.stdout


def test_explicit_skip() -> None:
    env = {**os.environ, "TEMPSTRONG_SMOKE_SKIP": "1"}
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout) == (
        0,
        "image smoke test skipped: TEMPSTRONG_SMOKE_SKIP=1\n",
    )
