"""Reads of the credential aggregate (event store) and of the credentials view (read model)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from ..commands.aggregates import Aggregates
from ..domain.credential import TempStrongPassword
from ..eventstore.port import StoreUnavailable


class CredentialPages(Protocol):
    """The read model behind the list endpoint (may lag the event store)."""

    async def page(
        self,
        client: str,
        state_name: str | None,
        after_user: str | None,
        limit: int,
        now: datetime,
    ) -> list[TempStrongPassword]: ...


class CredentialQueries:
    def __init__(self, aggregates: Aggregates, pages: CredentialPages | None) -> None:
        self._aggregates = aggregates
        self._pages = pages

    async def get(self, client: str, user_ext_id: str) -> TempStrongPassword:
        return (await self._aggregates.user_and_credential(client, user_ext_id))[1]

    async def events(self, client: str, user_ext_id: str) -> Sequence[Any]:
        credential = await self.get(client, user_ext_id)
        return await self._aggregates.events_of(credential.id)

    async def page(
        self,
        client: str,
        state_name: str | None,
        after_user: str | None,
        limit: int,
        now: datetime,
    ) -> list[TempStrongPassword]:
        """Sorted by userExtId, after `after_user`; an unknown client is 404."""
        self._aggregates.catalog.require_client(client)
        if self._pages is None:
            raise StoreUnavailable("The read model is not configured.")
        return await self._pages.page(client, state_name, after_user, limit, now)
