"""Idempotency records: saved atomically with the command's event, so a retry never doubles it."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .ids import NAMESPACE_TEMPSTRONG

IDEMPOTENCY_WINDOW = timedelta(hours=24)


class IdempotencyRecord(Aggregate):
    """The first successful outcome of (caller, method, path, Idempotency-Key)."""

    class Event(Aggregate.Event):
        class_version = 1

    @staticmethod
    def create_id(scope: str) -> UUID:
        return uuid5(NAMESPACE_TEMPSTRONG, f"idempotency/{scope}")

    @event("OutcomeRecorded")
    def __init__(
        self,
        scope: str,
        credential_id: UUID,
        credential_version: int,
        has_body: bool,
        expires_at: datetime,
    ) -> None:
        self._set(credential_id, credential_version, has_body, expires_at)

    def is_live(self, now: datetime) -> bool:
        return now < self.expires_at

    @event("OutcomeRecordedAgain")
    def record_again(
        self, credential_id: UUID, credential_version: int, has_body: bool, expires_at: datetime
    ) -> None:
        """After the window expired, the same key may name a new outcome."""
        self._set(credential_id, credential_version, has_body, expires_at)

    def _set(
        self, credential_id: UUID, credential_version: int, has_body: bool, expires_at: datetime
    ) -> None:
        self.credential_id = credential_id
        self.credential_version = credential_version
        self.has_body = has_body
        self.expires_at = expires_at
