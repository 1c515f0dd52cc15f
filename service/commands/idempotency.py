"""Idempotency-Key: the first successful outcome of (caller, method, path, key), for 24 hours.

The record is read once per attempt and saved, at the next version of what was read, in the same
atomic save as the command's event. Two requests with one key (in any processes) therefore name
the same next version of it: the event store lets one commit; the other conflicts, retries and
replays. Nothing of it lives in process memory. The record holds the fingerprint of the request
that made it: the key sent again with another body is 422, not a replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain.errors import NotFound
from ..domain.idempotency import IDEMPOTENCY_WINDOW, IdempotencyRecord
from .aggregates import Aggregates
from .outcomes import CredentialOutcome


@dataclass(frozen=True)
class IdempotentRequest:
    """What an Idempotency-Key names: its scope (caller, method, path, key) and the request
    (`request_fingerprint` of its validated body)."""

    scope: str
    fingerprint: str


@dataclass(frozen=True)
class Earlier:
    """What an earlier request with the key left: its record (saved again, at the next version,
    with this request's outcome) and, while the record is live, the outcome to answer again."""

    record: IdempotencyRecord | None = None
    replay: CredentialOutcome | None = None


class IdempotencyRecords:
    def __init__(self, aggregates: Aggregates) -> None:
        self._aggregates = aggregates

    async def earlier(
        self, request: IdempotentRequest | None, now: datetime, client: str, user_ext_id: str
    ) -> Earlier:
        """The record of the key, and the first outcome again while it is live (404 if its
        credential is gone; 422 if the key was used with another body)."""
        if request is None:
            return Earlier()
        record_id = IdempotencyRecord.create_id(request.scope)
        record = await self._aggregates.store.get_or_none(record_id)
        if not isinstance(record, IdempotencyRecord):
            return Earlier()
        if not record.replays(request.fingerprint, now):
            return Earlier(record)
        return Earlier(record, await self._replay(record, client, user_ext_id))

    async def _replay(
        self, record: IdempotencyRecord, client: str, user_ext_id: str
    ) -> CredentialOutcome:
        _, current = await self._aggregates.user_and_credential(client, user_ext_id)
        if current.id != record.credential_id:
            raise NotFound(f"User {user_ext_id!r} has no TSP credential.")
        credential = await self._aggregates.credential_at(
            record.credential_id, record.credential_version
        )
        return CredentialOutcome(credential, has_body=record.has_body, replayed=True)

    @staticmethod
    def record(
        request: IdempotentRequest | None,
        earlier: Earlier,
        outcome: CredentialOutcome,
        now: datetime,
    ) -> IdempotencyRecord | None:
        """The record to save with the command's event (None without a key)."""
        if request is None:
            return None
        values: dict[str, Any] = {
            "credential_id": outcome.credential.id,
            "credential_version": outcome.credential.version,
            "has_body": outcome.has_body,
            "expires_at": now + IDEMPOTENCY_WINDOW,
            "fingerprint": request.fingerprint,
        }
        if earlier.record is None:
            return IdempotencyRecord(scope=request.scope, **values)
        earlier.record.record_again(**values)  # the window of the earlier outcome has passed
        return earlier.record
