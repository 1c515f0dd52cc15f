"""The transport-independent core: one envelope in, one decision out (ack, retry, dead-letter)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from service.contracts.envelope import (
    DeliveryEnvelope,
    MalformedEnvelope,
    SealedDelivery,
    open_delivery,
)
from service.domain.addresses import is_valid_email, is_valid_mobile
from service.domain.policy import SendingMethod
from service.sealing import Opener

from .backoff import Backoff
from .channels import Channel
from .dedup import DedupLedger
from .failures import DependencyUnavailable, PermanentFailure, TransientFailure
from .metrics import DeliveryMetrics, DeliveryOutcome
from .supersession import SupersessionCheck

log = logging.getLogger("tempstrong.delivery")

UNKNOWN_CHANNEL = "unknown"
# After the channel accepted, the dedup row must be written before the ack; a database outage
# at that moment is waited out this long (see `_record`).
RECORD_DEADLINE_SECONDS = 30.0
_RECORD_RETRY_CAP_SECONDS = 5.0


class Action(Enum):
    ACK = "ack"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True)
class Outcome:
    action: Action
    delay: float = 0.0
    next_attempt: int = 0

    @classmethod
    def ack(cls) -> Outcome:
        return cls(Action.ACK)

    @classmethod
    def retry(cls, delay: float, next_attempt: int) -> Outcome:
        return cls(Action.RETRY, delay, next_attempt)

    @classmethod
    def dead_letter(cls) -> Outcome:
        return cls(Action.DEAD_LETTER)


class DeliveryWorker:
    def __init__(
        self,
        *,
        opener: Opener,
        channels: Mapping[SendingMethod, Channel],
        dedup: DedupLedger,
        supersession: SupersessionCheck,
        metrics: DeliveryMetrics,
        max_attempts: int,
        backoff: Backoff,
        record_deadline: float = RECORD_DEADLINE_SECONDS,
    ) -> None:
        self._opener = opener
        self._channels = dict(channels)
        self._dedup = dedup
        self._supersession = supersession
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._record_deadline = record_deadline

    async def handle(self, body: bytes, message_id: str, attempt: int) -> Outcome:
        """`attempt` is 1 for the first delivery; failures never carry the secret.

        Deliveries are deduplicated by the id of the event that issued the secret (the
        message_id), which is unique across clients.
        """
        channel_name = UNKNOWN_CHANNEL
        try:
            envelope = _parse(body)
            channel_name = envelope.sending_method.value
            opened: SealedDelivery | None = None
            if envelope.event_id is None:
                # an envelope published before the ids were added outside: open it to find them
                opened = self._open(envelope)
                if message_id not in (str(opened.event_id), opened.legacy_message_id):
                    raise PermanentFailure("message_id does not match the sealed credential")
                key = str(opened.event_id)
            elif message_id != envelope.message_id:
                raise PermanentFailure("message_id is not the envelope's event id")
            else:
                key = message_id
            async with self._dedup.claim(key):
                return await self._deliver_once(envelope, opened, key, channel_name)
        except PermanentFailure as failure:
            return self._dead_letter(message_id, channel_name, str(failure))
        except DependencyUnavailable as failure:
            self._report(message_id, channel_name, DeliveryOutcome.RETRIED, str(failure), attempt)
            return Outcome.retry(self._backoff.delay(attempt), attempt)
        except TransientFailure as failure:
            return self._retry(message_id, channel_name, attempt, str(failure))
        except Exception as exc:
            # A bug, not a verdict on the message: retry it; the text might quote the plaintext.
            reason = f"unexpected {type(exc).__name__}"
            return self._retry(message_id, channel_name, attempt, reason)

    async def _deliver_once(
        self, envelope: DeliveryEnvelope, opened: SealedDelivery | None, key: str, channel: str
    ) -> Outcome:
        if await self._dedup.delivered(key):
            self._report(key, channel, DeliveryOutcome.DUPLICATE)
            return Outcome.ack()
        if envelope.credential_id is not None and envelope.version is not None:
            superseded = await self._supersession.superseded(
                envelope.credential_id, envelope.version
            )
        else:
            assert opened is not None
            superseded = await self._supersession.superseded(opened.credential_id, opened.version)
        if superseded:  # decided before opening: a stale envelope is never decrypted
            self._report(key, channel, DeliveryOutcome.SKIPPED_SUPERSEDED)
            return Outcome.ack()
        delivery = opened or self._open(envelope)
        await self._send(delivery)
        await self._record(key)
        self._report(key, channel, DeliveryOutcome.DELIVERED)
        return Outcome.ack()

    def _open(self, envelope: DeliveryEnvelope) -> SealedDelivery:
        try:
            return open_delivery(self._opener, envelope)
        except MalformedEnvelope as exc:
            raise PermanentFailure(str(exc)) from None

    async def _send(self, delivery: SealedDelivery) -> None:
        channel = self._channels.get(delivery.sending_method)
        if channel is None:
            raise PermanentFailure(f"no channel configured for {delivery.sending_method.value}")
        _check_address(delivery)
        await channel.send(delivery)

    async def _record(self, message_id: str) -> None:
        # The channel has accepted: a retry now would send twice, so the dedup row is retried
        # here instead. If the database stays away past the deadline the message is acked
        # unrecorded: the broker will not redeliver an acked message, so this still sends once.
        deadline = time.monotonic() + self._record_deadline
        pause = 0.1
        while True:
            try:
                await self._dedup.record(message_id)
                return
            except TransientFailure as failure:
                if time.monotonic() + pause > deadline:
                    log.error(
                        "delivered but not recorded: %s",
                        failure,
                        extra={"message_id": message_id, "outcome": "unrecorded"},
                    )
                    return
                await asyncio.sleep(pause)
                pause = min(pause * 2, _RECORD_RETRY_CAP_SECONDS)

    def _retry(self, message_id: str, channel: str, attempt: int, reason: str) -> Outcome:
        if attempt >= self._max_attempts:
            return self._dead_letter(
                message_id, channel, f"{reason}; gave up after {attempt} attempts"
            )
        self._report(message_id, channel, DeliveryOutcome.RETRIED, reason, attempt)
        return Outcome.retry(self._backoff.delay(attempt), attempt + 1)

    def _dead_letter(self, message_id: str, channel: str, reason: str) -> Outcome:
        self._report(message_id, channel, DeliveryOutcome.DEAD_LETTERED, reason)
        return Outcome.dead_letter()

    def _report(
        self,
        message_id: str,
        channel: str,
        outcome: DeliveryOutcome,
        reason: str | None = None,
        attempt: int | None = None,
    ) -> None:
        self._metrics.count(channel, outcome)
        extra: dict[str, object] = {
            "message_id": message_id,
            "channel": channel,
            "outcome": outcome.value,
        }
        if reason is not None:
            extra["reason"] = reason
        if attempt is not None:
            extra["attempt"] = attempt
        level = logging.WARNING if outcome is DeliveryOutcome.DEAD_LETTERED else logging.INFO
        log.log(level, "delivery %s", outcome.value, extra=extra)


def _parse(body: bytes) -> DeliveryEnvelope:
    try:
        return DeliveryEnvelope.from_body(body)
    except MalformedEnvelope as exc:
        raise PermanentFailure(str(exc)) from None


def _check_address(delivery: SealedDelivery) -> None:
    """The API's rule again: anyone holding the public key can seal anything, and retrying a
    malformed address can never help, so it is dead-lettered at once."""
    method = delivery.sending_method
    if method is SendingMethod.EMAIL and not is_valid_email(delivery.email or ""):
        raise PermanentFailure("no valid email address")
    if method is SendingMethod.SMS and not is_valid_mobile(delivery.mobile or ""):
        raise PermanentFailure("no valid mobile number")
