"""The email corpus, tests/fixtures/email_addresses.json: each address with the verdict of the
rule (syntax only) and why. The unit, API, worker and contract tests read it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CORPUS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "email_addresses.json"


@dataclass(frozen=True)
class CorpusAddress:
    address: str
    accept: bool
    group: str  # rfc, special-use, realistic, red-team
    why: str

    def __str__(self) -> str:
        verdict = "accepted" if self.accept else "refused"
        return f"{self.address!r} must be {verdict}: {self.why}"


def _load() -> tuple[CorpusAddress, ...]:
    rows = json.loads(CORPUS_FILE.read_text(encoding="utf-8"))["addresses"]
    return tuple(CorpusAddress(**row) for row in rows)


EMAIL_CORPUS = _load()
ACCEPTED = tuple(entry for entry in EMAIL_CORPUS if entry.accept)
REFUSED = tuple(entry for entry in EMAIL_CORPUS if not entry.accept)


def corpus_ids(entries: tuple[CorpusAddress, ...]) -> list[str]:
    """Short printable test ids: group and position (the address itself may hold CR, NUL, ...)."""
    return [f"{entry.group}-{EMAIL_CORPUS.index(entry)}" for entry in entries]
