"""Reads of the user aggregate."""

from __future__ import annotations

from ..commands.aggregates import Aggregates
from ..domain.user import User


class UserQueries:
    def __init__(self, aggregates: Aggregates) -> None:
        self._aggregates = aggregates

    async def get(self, client: str, ext_id: str) -> User:
        return await self._aggregates.user(client, ext_id)
