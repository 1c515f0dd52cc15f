"""Idempotency-Key: the first successful outcome of (caller, method, path, key), for 24 hours.

The record is read once per attempt and saved, at the next version of what was read, in the same
atomic save as the command's event. Two requests with one key (in any processes) therefore name
the same next version of it: the event store lets one commit; the other conflicts, retries and
replays. Nothing of it lives in process memory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain.errors import NotFound
from ..domain.idempotency import IDEMPOTENCY_WINDOW, IdempotencyRecord
from .aggregates import Aggregates
from .outcomes import CredentialOutcome


class IdempotencyRecords:
    def __init__(self, aggregates: Aggregates) -> None:
        self._aggregates = aggregates

    async def read(self, scope: str | None) -> IdempotencyRecord | None:
        if scope is None:
            return None
        record = await self._aggregates.store.get_or_none(IdempotencyRecord.create_id(scope))
        return record if isinstance(record, IdempotencyRecord) else None

    async def replay(
        self, record: IdempotencyRecord, client: str, user_ext_id: str
    ) -> CredentialOutcome:
        """The first outcome again, while its credential still exists (else 404)."""
        _, current = await self._aggregates.user_and_credential(client, user_ext_id)
        if current.id != record.credential_id:
            raise NotFound(f"User {user_ext_id!r} has no TSP credential.")
        credential = await self._aggregates.credential_at(
            record.credential_id, record.credential_version
        )
        return CredentialOutcome(credential, has_body=record.has_body, replayed=True)

    @staticmethod
    def record(
        scope: str | None,
        record: IdempotencyRecord | None,
        outcome: CredentialOutcome,
        now: datetime,
    ) -> IdempotencyRecord | None:
        """The record to save with the command's event (None without a key)."""
        if scope is None:
            return None
        values: dict[str, Any] = {
            "credential_id": outcome.credential.id,
            "credential_version": outcome.credential.version,
            "has_body": outcome.has_body,
            "expires_at": now + IDEMPOTENCY_WINDOW,
        }
        if record is None:
            return IdempotencyRecord(scope=scope, **values)
        record.record_again(**values)  # the window of the earlier outcome has passed
        return record
