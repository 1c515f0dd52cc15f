"""A page of the credentials view: the question the list endpoint asks, and the port that answers.

Both read models (projections/credentials: PostgreSQL, and SQLite in dev mode) implement
`CredentialPages`; the question travels as one value from the HTTP layer to the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..domain.credential import TempStrongPassword


@dataclass(frozen=True)
class PageQuery:
    """Credentials of `client` sorted by userExtId, after `after_user`, at most `limit`; with a
    `state_name`, only those in that effective state at `now` (a tmp-lock may have expired)."""

    client: str
    state_name: str | None
    after_user: str | None
    limit: int
    now: datetime


class CredentialPages(Protocol):
    """The read model behind the list endpoint (may lag the event store)."""

    async def page(self, query: PageQuery) -> list[TempStrongPassword]: ...
