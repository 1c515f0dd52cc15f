"""Runs the podman scripts (deploy/image-smoke.sh, k8s/run-with-podman.sh) where podman is not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

# what the scripts call before they look for podman
TOOLS = ("bash", "dirname", "basename", "date", "id", "mkdir")


def run_without_podman(
    script: Path, tmp_path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """`bash SCRIPT` with a PATH of TOOLS only: no podman, no apt-get to install it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"no {tool}")
        (bin_dir / tool).symlink_to(found)
    return subprocess.run(
        [str(bin_dir / "bash"), str(script)],
        env={"PATH": str(bin_dir), "TEMPSTRONG_SMOKE_STATE": str(tmp_path / "state"), **env},
        capture_output=True,
        text=True,
        check=False,
    )
