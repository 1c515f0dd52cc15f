"""Reads of the credential aggregate (event store) and of the credentials view (read model)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..commands.aggregates import Aggregates
from ..commands.outcomes import CredentialView
from ..domain.credential import TempStrongPassword
from ..eventstore.port import StoreUnavailable
from ..privacy.personal_data import PersonalData, Revealer
from .pages import CredentialPages, PageQuery


@dataclass(frozen=True)
class CredentialEvents:
    """A credential's events, oldest first, and what opens the free text in them."""

    events: Sequence[Any]
    revealer: Revealer


class CredentialQueries:
    def __init__(
        self, aggregates: Aggregates, personal: PersonalData, pages: CredentialPages | None
    ) -> None:
        self._aggregates = aggregates
        self._personal = personal
        self._pages = pages

    async def get(self, client: str, user_ext_id: str) -> CredentialView:
        """The credential, and its user's live key for the free text about it."""
        user, credential = await self._aggregates.user_and_credential(client, user_ext_id)
        return CredentialView(credential, await self._personal.revealer(user))

    async def events(self, client: str, user_ext_id: str) -> CredentialEvents:
        view = await self.get(client, user_ext_id)
        events = await self._aggregates.events_of(view.credential.id)
        return CredentialEvents(events, view.revealer)

    async def page(self, query: PageQuery) -> list[TempStrongPassword]:
        """Sorted by userExtId, after `after_user`; an unknown client is 404."""
        self._aggregates.catalog.require_client(query.client)
        if self._pages is None:
            raise StoreUnavailable("The read model is not configured.")
        return await self._pages.page(query)
