"""`tempstrong erase --client C --user U`: erases a person now (a data-subject request)."""

from __future__ import annotations

import asyncio
import sys

from ..config import ERASE, Settings
from ..domain.errors import DomainError
from ..eventstore.application import event_mapper
from ..eventstore.postgres import PostgresStore
from ..privacy.erasure import Erasure, erase_now
from .parts import require_reachable

OPERATOR = "tempstrong erase"


async def run(database_url: str, client: str, user: str, actor: str) -> Erasure:
    store = PostgresStore(database_url, event_mapper())
    await store.open()
    try:
        return await erase_now(store, client, user, actor)
    finally:
        await store.close()


def main(settings: Settings, client: str, user: str, actor: str | None) -> int:
    """0 once the person is erased (or was before); 1 with the reason if not."""
    settings.require(ERASE, "database_url")
    assert settings.database_url
    who = f"{OPERATOR} ({actor})" if actor else OPERATOR
    require_reachable(ERASE, settings)
    try:
        erasure = asyncio.run(run(settings.database_url, client, user, who))
    except DomainError as refused:
        print(f"tempstrong erase: {refused.message}", file=sys.stderr)
        return 1
    if not erasure.key_ids and not erasure.deleted:
        print(f"tempstrong erase: user {user} of client {client} was erased before: nothing to do")
        return 0
    deleted = " deleted and" if erasure.deleted else ""
    print(
        f"tempstrong erase: user {user} of client {client}{deleted} erased "
        f"({len(erasure.key_ids)} data key(s) destroyed; consumers are told by user.erased)"
    )
    return 0
