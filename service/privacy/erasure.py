"""Erasing a person: their data keys are destroyed in the same save as the `UserErased` event that
records it (who, when, why); their events stay and decode, their personal fields no longer open.

- `erase_now` (`tempstrong erase --client C --user U`, a data-subject request): a live user is
  deleted first, with their credential; every key the user aggregate still has is destroyed.
- `Eraser`: `DELETE /{c}/users/{u}` with a TEMPSTRONG_ERASURE_DELAY schedules the person's key
  (the key row's `erase_after`); the eraser finds the due ones and erases them. It runs in the
  projector process (and in dev mode). A crash half way leaves either
nothing done or everything done for a person (one transaction on PostgreSQL), and the next pass
does what is left: it is safe to run again, and two runners never erase one key twice (the
second one's save conflicts and finds the key gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from prometheus_client import CollectorRegistry, Counter

from ..domain.credential import TempStrongPassword
from ..domain.errors import Conflict, NotFound
from ..domain.user import User
from ..eventstore.port import AggregateStore, KeyChanges

ERASURE_DELAY_REASON = "erasure delay passed"
DATA_SUBJECT_REQUEST = "data-subject request"
MAX_ATTEMPTS = 8
ERASER = "tempstrong (erasure delay)"  # who acted: the deployment's policy
BATCH = 100
INTERVAL_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 60.0

log = logging.getLogger("tempstrong.erasure")


class ErasureMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.erased = Counter(
            "tempstrong_erasures_total",
            "Data keys destroyed because their erasure delay had passed",
            registry=registry,
        )
        self.errors = Counter(
            "tempstrong_erasure_errors_total",
            "Passes of the erasure runner that failed (it tries again)",
            registry=registry,
        )


class Eraser:
    def __init__(
        self,
        store: AggregateStore,
        clock: Callable[[], datetime],
        metrics: ErasureMetrics | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._metrics = metrics

    async def erase_due(self) -> int:
        """Erases every person whose erasure is due; returns how many keys were destroyed."""
        erased = 0
        while True:
            due = await self._store.due_erasures(self._clock(), BATCH)
            if not due:
                return erased
            ordered = sorted(due, key=lambda d: d.subject_id)
            for subject_id, rows in groupby(ordered, key=lambda d: d.subject_id):
                erased += await self._erase(subject_id, [row.key_id for row in rows])
            if len(due) < BATCH:
                return erased

    async def _erase(self, subject_id: UUID, key_ids: list[UUID]) -> int:
        try:
            erasure = await _erase(
                self._store, subject_id, ERASER, ERASURE_DELAY_REASON, only=key_ids
            )
        except NotFound:
            log.error("a data key names no user", extra={"subject_id": str(subject_id)})
            return 0
        if self._metrics is not None:
            self._metrics.erased.inc(len(erasure.key_ids))
        return len(erasure.key_ids)

    async def run(self, stop: asyncio.Event, interval: float = INTERVAL_SECONDS) -> None:
        """Erases what is due every `interval` until `stop`; backs off on errors."""
        pause = interval
        while not stop.is_set():
            try:
                await self.erase_due()
                pause = interval
            except Exception as exc:
                if self._metrics is not None:
                    self._metrics.errors.inc()
                log.warning("erasure pass failed", extra={"error": type(exc).__name__})
                pause = min(pause * 2, BACKOFF_CAP_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)


@dataclass(frozen=True)
class Erasure:
    """What an erasure did: the data keys it destroyed, and whether it deleted a live user."""

    key_ids: tuple[UUID, ...]
    deleted: bool


async def erase_now(
    store: AggregateStore, client_ext_id: str, user_ext_id: str, actor: str | None
) -> Erasure:
    """Erases a person now, live or deleted (a pending erasure delay is cut short). Idempotent:
    once nothing is left to destroy, it changes nothing."""
    return await _erase(
        store, User.create_id(client_ext_id, user_ext_id), actor, DATA_SUBJECT_REQUEST
    )


async def _erase(
    store: AggregateStore,
    subject_id: UUID,
    actor: str | None,
    reason: str,
    *,
    only: list[UUID] | None = None,
) -> Erasure:
    """Destroys the subject's keys (`only` those, for a scheduled erasure: a live user keeps its
    present key) in one save with the event; retries while another writer moves the user."""
    for _ in range(MAX_ATTEMPTS):
        user = await store.get_or_none(subject_id)
        if not isinstance(user, User):
            raise NotFound("No such user.")
        present = [key.key_id for key in await store.data_keys(subject_id)]
        key_ids = [k for k in present if only is None or k in only]
        live = not user.deleted and only is None
        nothing_left = not key_ids and (only is not None or user.data_key_id is None)
        if nothing_left and not live:
            return Erasure((), deleted=False)  # erased before, or by another runner
        credential = None
        if live:
            credential = await _live_credential(store, user)
            if credential is not None:
                credential.delete(actor=actor)
            user.delete()
        user.erase(key_ids, actor=actor, reason=reason)
        try:
            await store.save(user, credential, keys=KeyChanges(destroy=key_ids))
        except IntegrityError:
            continue  # the user changed meanwhile: read again
        log.info("personal data erased", extra={"subject_id": str(subject_id), "reason": reason})
        return Erasure(tuple(key_ids), deleted=live)
    raise Conflict("The user kept changing; try the erasure again.")


async def _live_credential(store: AggregateStore, user: User) -> TempStrongPassword | None:
    if user.credential_id is None:
        return None
    credential = await store.get_or_none(user.credential_id)
    if isinstance(credential, TempStrongPassword) and not credential.deleted:
        return credential
    return None
