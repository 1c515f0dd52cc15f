"""Idempotency records: saved atomically with the command's event, so a retry never doubles it.

A record remembers what the request was (a fingerprint of its body) besides its outcome: the same
key sent again with another body is refused (the IETF Idempotency-Key draft), never answered
with the first outcome.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .errors import IdempotencyKeyReused
from .ids import NAMESPACE_TEMPSTRONG

IDEMPOTENCY_WINDOW = timedelta(hours=24)


def request_fingerprint(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the validated body's canonical JSON: keys sorted, no whitespace, UTF-8.

    Whitespace, key order and escapes of the body as sent do not matter, and neither does a
    field given as `null` (it is absent once validated): no body, `{}` and `{"extId": null}`
    are one request."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class IdempotencyRecord(Aggregate):
    """The first successful outcome of (caller, method, path, Idempotency-Key), and of which
    request."""

    class Event(Aggregate.Event):
        class_version = 1

    @staticmethod
    def create_id(scope: str) -> UUID:
        return uuid5(NAMESPACE_TEMPSTRONG, f"idempotency/{scope}")

    class Outcome(Event):
        """What both events of a record carry."""

        class_version = 2
        credential_id: UUID
        credential_version: int
        has_body: bool
        expires_at: datetime
        fingerprint: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Version 1 did not remember the request: such a record matches any body.
            state["fingerprint"] = None

    class OutcomeRecorded(Aggregate.Created, Outcome):
        scope: str

    @event(OutcomeRecorded)
    def __init__(
        self,
        scope: str,
        credential_id: UUID,
        credential_version: int,
        has_body: bool,
        expires_at: datetime,
        fingerprint: str | None,
    ) -> None:
        self._set(credential_id, credential_version, has_body, expires_at, fingerprint)

    def replays(self, fingerprint: str, now: datetime) -> bool:
        """True while the first outcome is the answer to this key; a request with another body
        is refused then (a record that has no fingerprint matches any body). After the window
        the key may name a new outcome, whatever the body."""
        if now >= self.expires_at:
            return False
        if self.fingerprint is not None and not hmac.compare_digest(self.fingerprint, fingerprint):
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used with another request body; use a new key."
            )
        return True

    class OutcomeRecordedAgain(Outcome):
        pass

    @event(OutcomeRecordedAgain)
    def record_again(
        self,
        credential_id: UUID,
        credential_version: int,
        has_body: bool,
        expires_at: datetime,
        fingerprint: str | None,
    ) -> None:
        """After the window expired, the same key may name a new outcome."""
        self._set(credential_id, credential_version, has_body, expires_at, fingerprint)

    def _set(
        self,
        credential_id: UUID,
        credential_version: int,
        has_body: bool,
        expires_at: datetime,
        fingerprint: str | None,
    ) -> None:
        self.credential_id = credential_id
        self.credential_version = credential_version
        self.has_body = has_body
        self.expires_at = expires_at
        self.fingerprint = fingerprint
