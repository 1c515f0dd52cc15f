"""The Mermaid diagrams of the docs parse, and what they name is what the repository has.

Every ```mermaid block of the repository's Markdown goes through Mermaid's own parser
(tools/node/validate-mermaid.mjs). In docs/architecture.md, every section that holds a diagram
(from its `## ` heading to the next) is read for the things it names: paths must exist, exchanges
and queues must be the topology's, processes the CLI's, tables and event types the code's. A
rename then fails here instead of leaving a picture of code that is gone.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from projections.parking import PARKED_TABLE
from projections.tracking import TRACKING_TABLE
from service import cli
from service.contracts.cloudevents import EVENT_TYPES, routing_key
from service.contracts.topology import DELIVERY_ROUTING_KEY, EXCHANGES, QUEUES
from service.delivery import dedup
from service.delivery.amqp import RETRY_QUEUE_PREFIX
from service.eventstore.names import EVENTS_TABLE, SNAPSHOTS_TABLE
from tests.support.node import ROOT, run_node

ARCHITECTURE = ROOT / "docs" / "architecture.md"
FENCE = "```mermaid"
SKIPPED_FOLDERS = {"node_modules", ".venv", "venv", ".git"}
# a repository path: a top-level folder, then /name... (a `::name` after a file names a def)
PATH = re.compile(
    r"(?<![\w./-])((?:service|projections|tests|deploy|docs|tools|k8s|bench)/(?:[\w.-]+/?)*)"
    r"(?![\w-])(?:::(\w+))?"
)
BROKEN = {
    "flowchart": "flowchart LR\n    api[tempstrong api --> store[(PostgreSQL)]\n",
    "sequence": "sequenceDiagram\n    participant a as service/http\n    a->>: reset\n",
    "unknown type": "flowchrt LR\n    a --> b\n",
}


def validate(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return run_node("validate-mermaid.mjs", "mermaid", *args, stdin=stdin)


def markdown_with_diagrams() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.md")
        if not SKIPPED_FOLDERS & set(path.relative_to(ROOT).parts)
        and FENCE in path.read_text(encoding="utf-8")
    )


def diagram_sections() -> str:
    """The sections of docs/architecture.md that hold a diagram: the diagrams and their text."""
    sections = re.split(r"^(?=## )", ARCHITECTURE.read_text(encoding="utf-8"), flags=re.M)
    found = [section for section in sections if FENCE in section]
    assert found, "docs/architecture.md has no ```mermaid block"
    return "\n".join(found)


def subcommands() -> set[str]:
    parser = cli._parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(action.choices)


def test_every_diagram_parses():
    files = markdown_with_diagrams()
    assert ARCHITECTURE in files
    result = validate(*(str(path.relative_to(ROOT)) for path in files))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(r"^docs/architecture\.md: (\d+) diagram\(s\), 0 error", result.stdout, re.M)
    assert summary and int(summary.group(1)) >= 3, result.stdout


def test_the_parser_check_fails_on_a_broken_diagram():
    markdown = "# broken\n" + "".join(f"\n{FENCE}\n{diagram}```\n" for diagram in BROKEN.values())
    result = validate("-", stdin=markdown)
    assert result.returncode == 1, result.stdout
    errors = re.findall(r"^-:(\d+): error:", result.stdout, re.M)
    assert len(errors) == len(BROKEN), result.stdout  # each block, by its own line
    assert f"-: {len(BROKEN)} diagram(s), {len(BROKEN)} error(s)" in result.stdout


def test_every_path_the_diagrams_name_exists():
    named = {
        (match.group(1).rstrip("."), match.group(2)) for match in PATH.finditer(diagram_sections())
    }
    assert {path for path, _ in named} >= {"service/delivery", "projections/publisher"}
    missing = sorted(path for path, _ in named if not (ROOT / path).exists())
    assert missing == [], f"docs/architecture.md's diagrams name paths that do not exist: {missing}"
    for path, name in named:
        if name is not None:
            source = (ROOT / path).read_text(encoding="utf-8")
            assert re.search(rf"^\s*(?:async def|def|class) {name}\b", source, re.M), (path, name)


def test_every_exchange_and_queue_is_the_topologys():
    text = diagram_sections()
    declared = {e.name for e in EXCHANGES} | {q.name for q in QUEUES} | {RETRY_QUEUE_PREFIX + "*"}
    named = set(re.findall(r"\btempstrong(?:\.(?:[\w-]+|\*))+", text))
    assert named - declared == set(), f"not in service/contracts/topology.py: {named - declared}"
    assert {e.name for e in EXCHANGES} | {q.name for q in QUEUES} <= named, "a diagram left one out"
    # the routing keys on the edges out of the exchanges
    assert routing_key("&lt;clientExtId&gt;", "&lt;type&gt;") in text
    assert f'-->|"{DELIVERY_ROUTING_KEY}"|' in text


def test_every_process_is_a_subcommand():
    named = set(re.findall(r"\btempstrong (\w+)", diagram_sections()))
    assert {"api", "projector", "publisher", "delivery", "dev"} <= named
    assert named - subcommands() == set()


def test_every_table_and_event_type_is_the_codes():
    text = diagram_sections()
    ledger = set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", dedup.SCHEMA))
    tables = {EVENTS_TABLE, SNAPSHOTS_TABLE, TRACKING_TABLE, PARKED_TABLE, *ledger}
    named_tables = set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", text))
    assert named_tables - tables == set(), "snake_case names in the diagrams that are no table"
    assert {EVENTS_TABLE, *ledger} <= named_tables
    named_events = set(re.findall(r"\b(?:TempStrongPassword|Login)[A-Z]\w*", text))
    assert named_events, "the sequence names the events it stores"
    assert named_events - set(EVENT_TYPES) == set()
