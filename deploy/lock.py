"""Re-locks the image's dependencies from pyproject.toml: `python3 deploy/lock.py`.

Writes two pip requirement files, every version pinned and every file's sha256 listed, which
deploy/Dockerfile installs with `pip install --require-hashes --only-binary=:all:`:

- deploy/requirements.lock        [project] dependencies (what runs in the image)
- deploy/build-requirements.lock  [build-system] requires (setuptools, to build the project)

pip's own resolver picks the versions (`pip install --dry-run --report`, nothing is installed),
once per image platform: CPython 3.11 on glibc 2.17 to 2.36 (Debian bookworm or newer) for x86_64
and aarch64, wheels only. A version must come out the same on both platforms; each pin lists the
one wheel pip chose per platform (a pure-Python wheel once). Each file keeps the requirements it
was made from as `# input:` lines; tests/deploy/test_lock.py fails when they no longer match
pyproject.toml, so a dependency change without a re-lock is caught by the test suite.

Run it with a Python 3.11 on Linux (markers are evaluated by the running interpreter) whose pip
is 23 or newer, with access to the package index. Files come from the index alone: pip
configuration files, find-links and constraints of this machine are ignored (PIP_INDEX_URL,
PIP_CERT and proxies are kept).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
PYTHON_VERSION = "3.11"
ARCHITECTURES = ("x86_64", "aarch64")
GLIBC_MINORS = range(36, 16, -1)  # manylinux_2_36 (bookworm) down to manylinux_2_17
KEPT_PIP_ENV = {"PIP_INDEX_URL", "PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY", "PIP_DEFAULT_TIMEOUT"}

Pins = dict[str, tuple[str, str, set[str]]]  # normalized name -> (name, version, sha256s)


def normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def platforms(arch: str) -> list[str]:
    tags = [f"manylinux_2_{minor}_{arch}" for minor in GLIBC_MINORS]
    return [*tags, f"manylinux2014_{arch}"]


def pip_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in KEPT_PIP_ENV}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def resolve(requirements: list[str], arch: str, scratch: Path) -> Pins:
    """pip's resolution of `requirements` for one platform: name -> (version, wheel sha256)."""
    req_file = scratch / "requirements.in"
    req_file.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    report = scratch / f"report-{arch}.json"
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--dry-run",
        "--ignore-installed",
        "--only-binary=:all:",
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        *(arg for tag in platforms(arch) for arg in ("--platform", tag)),
        "--target",
        str(scratch / "unused-target"),
        "--report",
        str(report),
        "-r",
        str(req_file),
    ]
    subprocess.run(command, check=True, env=pip_environment())  # noqa: S603 (our own argv)
    pins: Pins = {}
    for item in json.loads(report.read_text(encoding="utf-8"))["install"]:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        info = item["download_info"]
        sha256 = info.get("archive_info", {}).get("hashes", {}).get("sha256")
        if not info["url"].startswith("https://") or not sha256:
            raise SystemExit(f"lock: {name} {version} did not come from the index: {info['url']}")
        pins[normalize(name)] = (name, version, {sha256})
    return pins


def lock(requirements: list[str], scratch: Path) -> Pins:
    merged: Pins = {}
    for arch in ARCHITECTURES:
        for key, (name, version, hashes) in resolve(requirements, arch, scratch).items():
            if key in merged and merged[key][1] != version:
                raise SystemExit(
                    f"lock: {name} resolves to {merged[key][1]} on {ARCHITECTURES[0]} but to "
                    f"{version} on {arch}; narrow its range in pyproject.toml"
                )
            merged.setdefault(key, (name, version, set()))[2].update(hashes)
    return merged


def render(title: str, requirements: list[str], pins: Pins) -> str:
    lines = [
        f"# {title}",
        "# Made by `python3 deploy/lock.py` from pyproject.toml: do not edit by hand. Every",
        "# version is pinned, with the sha256 of the wheel pip chose for CPython 3.11 on glibc",
        "# 2.17-2.36 (Debian bookworm or newer), x86_64 and aarch64. deploy/README.md: re-locking.",
        "#",
        *(f"# input: {requirement}" for requirement in requirements),
    ]
    for key in sorted(pins):
        name, version, hashes = pins[key]
        lines.append(f"{normalize(name)}=={version} \\")
        sorted_hashes = sorted(hashes)
        for index, sha256 in enumerate(sorted_hashes):
            tail = " \\" if index < len(sorted_hashes) - 1 else ""
            lines.append(f"    --hash=sha256:{sha256}{tail}")
    return "\n".join(lines) + "\n"


def main() -> int:
    running = "{}.{}".format(*sys.version_info[:2])
    if sys.platform != "linux" or running != PYTHON_VERSION:
        print(f"lock: run me with Python {PYTHON_VERSION} on Linux, not {running}", file=sys.stderr)
        return 2
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    targets = (
        (
            "requirements.lock",
            "The image's runtime dependencies: [project] dependencies of pyproject.toml.",
            list(pyproject["project"]["dependencies"]),
        ),
        (
            "build-requirements.lock",
            "What builds the project's wheel in the image: [build-system] requires.",
            list(pyproject["build-system"]["requires"]),
        ),
    )
    with tempfile.TemporaryDirectory(prefix="tempstrong-lock-") as scratch:
        for filename, title, requirements in targets:
            pins = lock(requirements, Path(scratch))
            (DEPLOY / filename).write_text(render(title, requirements, pins), encoding="utf-8")
            print(f"lock: deploy/{filename}: {len(pins)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
