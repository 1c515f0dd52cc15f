"""The repository's docs stand alone: a clone has no file outside it, so nothing may cite one,
every relative link resolves, and the README names every command and the docs a newcomer
needs next."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from service.cli import _parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
NEXT_READS = [
    "docs/architecture.md",
    "docs/operations.md",
    "deploy/README.md",
    "k8s/README.md",
    "docs/consumers.md",
    "docs/import.md",
]
LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _tracked(*patterns: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", *patterns], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return [ROOT / name.decode() for name in listed if name]


def test_no_tracked_file_cites_a_path_outside_the_repository() -> None:
    outside = re.compile(r"\.\./shared/|/work/shared")
    citing = []
    for path in _tracked():
        if not path.is_file() or path.suffix in {".png", ".lock"}:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        if outside.search(text) and path != Path(__file__):
            citing.append(str(path.relative_to(ROOT)))
    assert citing == []


def test_every_relative_link_of_the_docs_resolves() -> None:
    broken = []
    for document in _tracked("*.md"):
        for target in LINK.findall(document.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            if not (document.parent / target).exists():
                broken.append(f"{document.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_the_readme_links_what_a_newcomer_reads_next() -> None:
    linked = set(LINK.findall(README))
    assert [doc for doc in NEXT_READS if doc not in linked] == []


def test_the_readme_names_every_command() -> None:
    (commands,) = [a for a in _parser()._actions if a.dest == "command"]
    named = set(re.findall(r"`tempstrong ([a-z]+)", README))
    assert sorted(set(commands.choices) - named) == []  # type: ignore[arg-type]


def test_the_readme_says_what_to_do_when_the_usual_things_go_wrong() -> None:
    troubleshooting = README.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    for situation in ("cannot listen on", "is in use by a running", "--fresh", "does not exist"):
        assert situation in troubleshooting, situation
    assert "RabbitMQ is down" in troubleshooting


def test_the_readme_names_the_inner_loop_and_the_soaks_own_command() -> None:
    assert ".venv/bin/pytest tests/unit" in README
    assert ".venv/bin/pytest -m soak" in README
    assert ".venv/bin/pytest -m soak" in (ROOT / ".ci" / "run").read_text()
