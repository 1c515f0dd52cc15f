"""Reads of the user aggregate."""

from __future__ import annotations

from ..commands.aggregates import Aggregates
from ..commands.outcomes import UserView
from ..privacy.personal_data import PersonalData


class UserQueries:
    def __init__(self, aggregates: Aggregates, personal: PersonalData) -> None:
        self._aggregates = aggregates
        self._personal = personal

    async def get(self, client: str, ext_id: str) -> UserView:
        """The user and their live data key (read with the user: no second round trip)."""
        user = await self._aggregates.user(client, ext_id)
        return UserView(user, await self._personal.revealer(user))
