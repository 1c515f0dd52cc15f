"""deploy/*.lock against pyproject.toml: a dependency change without `deploy/lock.py` fails here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RELOCK = "re-lock with `python3 deploy/lock.py` (deploy/README.md)"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
# The image's interpreter: CPython 3.11 on Linux (what markers are evaluated against).
IMAGE_ENVIRONMENT = {
    "python_version": "3.11",
    "python_full_version": "3.11.2",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def read_lock(name: str) -> tuple[list[str], dict[str, tuple[str, list[str]]]]:
    """The `# input:` requirements and the pins (name -> (version, hashes)) of one lock file."""
    inputs: list[str] = []
    pins: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in (DEPLOY / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("# input: "):
            inputs.append(line.removeprefix("# input: ").strip())
        elif match := PIN.match(line):
            current = canonicalize_name(match.group(1))
            assert current not in pins, f"{name}: {current} pinned twice"
            pins[current] = (match.group(2), [])
        if current is not None:
            pins[current][1].extend(HASH.findall(line))
    return inputs, pins


LOCKS = {
    "requirements.lock": lambda: pyproject()["project"]["dependencies"],
    "build-requirements.lock": lambda: pyproject()["build-system"]["requires"],
}


@pytest.mark.parametrize("lock_name", sorted(LOCKS))
def test_lock_was_made_from_the_current_pyproject(lock_name: str) -> None:
    inputs, _ = read_lock(lock_name)
    expected = [str(Requirement(r)) for r in LOCKS[lock_name]()]
    assert [str(Requirement(r)) for r in inputs] == expected, (
        f"pyproject.toml changed since deploy/{lock_name} was made: {RELOCK}"
    )


@pytest.mark.parametrize("lock_name", sorted(LOCKS))
def test_every_requirement_is_pinned_within_its_range(lock_name: str) -> None:
    _, pins = read_lock(lock_name)
    for text in LOCKS[lock_name]():
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate(IMAGE_ENVIRONMENT):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is missing from deploy/{lock_name}: {RELOCK}"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"deploy/{lock_name} pins {name}=={version}, outside {requirement}: {RELOCK}"
        )


@pytest.mark.parametrize("lock_name", sorted(LOCKS))
def test_every_pin_is_exact_and_hashed(lock_name: str) -> None:
    _, pins = read_lock(lock_name)
    assert pins
    for name, (version, hashes) in pins.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), f"{name}=={version}"
        assert hashes, f"{name} has no --hash in deploy/{lock_name}"
        assert len(hashes) == len(set(hashes)), name


def test_the_runtime_lock_holds_no_build_tool() -> None:
    _, pins = read_lock("requirements.lock")
    assert not {"setuptools", "wheel", "pip"} & set(pins)
