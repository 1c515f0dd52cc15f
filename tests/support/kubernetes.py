"""The manifests of k8s/ as `kubectl kustomize` renders them, for the tests of tests/deploy.

Without kubectl a test that renders is skipped, except under CI, where it fails: run
`.ci/install-k8s-tools.sh` first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
OVERLAYS = ("dev", "prod")


def under_ci() -> bool:
    return (os.environ.get("CI") or "").strip().lower() not in ("", "0", "false", "no")


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        if under_ci():
            pytest.fail("kubectl is not on PATH and CI is set: run .ci/install-k8s-tools.sh first")
        pytest.skip("kubectl is not on PATH (install it with .ci/install-k8s-tools.sh); not CI")
    return path


def overlay_path(tree: str) -> Path:
    """`base` or an overlay's name -> its folder."""
    return K8S / tree if tree == "base" else K8S / "overlays" / tree


@cache
def render(path: Path) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    objects = tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)
    assert objects, f"kubectl kustomize {path} rendered nothing"
    return objects


def pod_templates(objects: tuple[dict[str, Any], ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`Kind/name`, pod template) of every Deployment and Job."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]
