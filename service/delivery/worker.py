"""The transport-independent core: a batch of envelopes in, one decision each out
(ack, retry, dead-letter).

Per batch, whatever its size: one supersession query (before anything is opened: a stale
envelope is never decrypted), one claim statement, the sends at once (each bounded by a hard
deadline), and one statement that records the deliveries and releases what failed. Messages
are deduplicated by the id of the event that issued the secret, unique across clients.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from uuid import UUID

from opentelemetry.trace import SpanKind, StatusCode

from service.contracts.envelope import (
    DeliveryEnvelope,
    MalformedEnvelope,
    SealedDelivery,
    open_delivery,
)
from service.domain.addresses import is_valid_email, is_valid_mobile
from service.domain.policy import SendingMethod
from service.observability import tracing
from service.observability.logs import request_id_in_scope
from service.privacy.data_keys import CannotOpen, DataKey
from service.privacy.keyring import Keyring, UnwrapError, WrappedKey
from service.security.sealing import Opener

from .backoff import Backoff
from .channels import Channel
from .data_keys import DataKeySource
from .dedup import Claims, DedupLedger
from .failures import DependencyUnavailable, PermanentFailure, TransientFailure
from .metrics import DeliveryMetrics, DeliveryOutcome
from .supersession import SupersessionCheck

log = logging.getLogger("tempstrong.delivery")


class Erased:
    """An envelope whose person was erased: skipped, never sent."""


ERASED = Erased()
Revealed = SealedDelivery | Exception | Erased

UNKNOWN_CHANNEL = "unknown"
# A send that takes longer is abandoned (a transient failure; its claim is let go).
SEND_DEADLINE_SECONDS = 45.0
# After the channel accepted, the delivery must be recorded before the ack; a database outage
# at that moment is waited out this long (see `_finish`).
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


@dataclass(frozen=True)
class Incoming:
    """One message as a transport received it; `attempt` is 1 for the first delivery."""

    body: bytes
    message_id: str
    attempt: int = 1
    correlation_id: str | None = None
    # the W3C trace context the publisher sent the message under (service/observability/tracing.py)
    trace_context: Mapping[str, str] | None = None


@dataclass
class _Item:
    index: int
    message: Incoming
    envelope: DeliveryEnvelope
    key: str
    credential_id: UUID
    version: int
    opened: SealedDelivery | None

    @property
    def channel(self) -> str:
        return self.envelope.sending_method.value


class DeliveryWorker:
    def __init__(
        self,
        *,
        opener: Opener,
        keyring: Keyring,
        data_keys: DataKeySource,
        channels: Mapping[SendingMethod, Channel],
        dedup: DedupLedger,
        supersession: SupersessionCheck,
        metrics: DeliveryMetrics,
        max_attempts: int,
        backoff: Backoff,
        record_deadline: float = RECORD_DEADLINE_SECONDS,
        send_deadline: float = SEND_DEADLINE_SECONDS,
    ) -> None:
        self._opener = opener
        self._keyring = keyring
        self._data_keys = data_keys
        self._channels = dict(channels)
        self._dedup = dedup
        self._supersession = supersession
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._record_deadline = record_deadline
        self._send_deadline = send_deadline

    async def handle(self, body: bytes, message_id: str, attempt: int) -> Outcome:
        """One message (a batch of one)."""
        (outcome,) = await self.handle_batch([Incoming(body, message_id, attempt)])
        return outcome

    async def handle_batch(self, messages: Sequence[Incoming]) -> list[Outcome]:
        """One outcome per message, in order; failures never carry the secret."""
        outcomes: list[Outcome | None] = [None] * len(messages)
        items: list[_Item] = []
        keys: set[str] = set()
        for index, message in enumerate(messages):
            channel = UNKNOWN_CHANNEL
            try:
                envelope = _parse(message.body)
                channel = envelope.sending_method.value
                item = self._prepare(index, message, envelope)
            except PermanentFailure as failure:
                outcomes[index] = self._dead_letter(message, channel, str(failure))
                continue
            except Exception as exc:  # a bug, not a verdict on the message
                outcomes[index] = self._retry(message, channel, _unexpected(exc))
                continue
            if item.key in keys:
                # the same message twice in one batch: the second waits for the first's outcome
                outcomes[index] = self._wait(item, "the same message is in this batch")
                continue
            keys.add(item.key)
            items.append(item)
        if items:
            for index, outcome in await self._deliver(items):
                outcomes[index] = outcome
        assert all(outcome is not None for outcome in outcomes)
        return outcomes  # type: ignore[return-value]

    def _prepare(self, index: int, message: Incoming, envelope: DeliveryEnvelope) -> _Item:
        if not message.message_id:
            raise PermanentFailure("message has no message_id to deduplicate by")
        if envelope.event_id is None:
            # an envelope published before the ids were added outside: open it to find them
            opened = self._open(envelope)
            if message.message_id not in (str(opened.event_id), opened.legacy_message_id):
                raise PermanentFailure("message_id does not match the sealed credential")
            key, credential_id, version = str(opened.event_id), opened.credential_id, opened.version
            return _Item(index, message, envelope, key, credential_id, version, opened)
        if message.message_id != envelope.message_id:
            raise PermanentFailure("message_id is not the envelope's event id")
        assert envelope.credential_id is not None and envelope.version is not None
        return _Item(
            index, message, envelope, envelope.message_id, envelope.credential_id,
            envelope.version, None,
        )  # fmt: skip

    async def _deliver(self, items: list[_Item]) -> list[tuple[int, Outcome]]:
        done: list[tuple[int, Outcome]] = []
        try:
            superseded = await self._supersession.superseded(
                [(item.credential_id, item.version) for item in items]
            )
            live = [i for i in items if (i.credential_id, i.version) not in superseded]
            claims: Claims | None = (
                await self._dedup.claim([item.key for item in live]) if live else None
            )
        except DependencyUnavailable as outage:
            return [(item.index, self._wait(item, str(outage))) for item in items]
        for item in items:
            if (item.credential_id, item.version) in superseded:
                done.append((item.index, self._acked(item, DeliveryOutcome.SKIPPED_SUPERSEDED)))
            elif claims is not None and item.key in claims.delivered:
                done.append((item.index, self._acked(item, DeliveryOutcome.DUPLICATE)))
            elif claims is not None and item.key in claims.busy:
                done.append((item.index, self._wait(item, "another worker is delivering it")))
        if claims is None:
            return done
        claimed = [item for item in items if item.key in claims.claimed]
        try:
            revealed = await self._reveal(claimed)
        except DependencyUnavailable as outage:
            await claims.abandon()
            return [*done, *((item.index, self._wait(item, str(outage))) for item in claimed)]
        sendable: list[tuple[_Item, SealedDelivery]] = []
        for item in claimed:
            verdict = revealed[item.key]
            if isinstance(verdict, SealedDelivery):
                sendable.append((item, verdict))
            elif isinstance(verdict, Erased):
                done.append((item.index, self._acked(item, DeliveryOutcome.SKIPPED_ERASED)))
            else:
                done.append((item.index, self._verdict(item, verdict)))
        try:
            errors = await asyncio.gather(*(self._send(i, d) for i, d in sendable))
        except BaseException:
            # cancelled mid-send (a stop that outlived its drain): let the claims go, record
            # nothing; the unsettled messages come back from the broker
            await asyncio.shield(claims.abandon())
            raise
        results = list(zip((item for item, _ in sendable), errors, strict=True))
        await self._finish(claims, [item.key for item, error in results if error is None])
        done.extend((item.index, self._verdict(item, error)) for item, error in results)
        return done

    async def _reveal(self, items: list[_Item]) -> dict[str, Revealed]:
        """Each claimed envelope opened, with its person's address revealed by their data key
        (one query for the batch's keys): a delivery, ERASED (the key is gone: the person was
        erased), or why it cannot be sent. Raises DependencyUnavailable (nothing decided)."""
        opened: dict[str, SealedDelivery | Exception] = {}
        for item in items:
            try:
                opened[item.key] = item.opened or self._open(item.envelope)
            except PermanentFailure as failure:
                opened[item.key] = failure
        wanted = {
            delivery.data_key_id
            for delivery in opened.values()
            if isinstance(delivery, SealedDelivery) and delivery.data_key_id is not None
        }
        keys = await self._data_keys.wrapped(sorted(wanted)) if wanted else {}
        revealed: dict[str, Revealed] = {}
        for name, delivery in opened.items():
            if not isinstance(delivery, SealedDelivery) or delivery.data_key_id is None:
                revealed[name] = delivery  # a failure, or an envelope with nothing personal
                continue
            wrapped = keys.get(delivery.data_key_id)
            if wrapped is None or wrapped.subject_id != delivery.subject_id:
                revealed[name] = ERASED
                continue
            revealed[name] = self._revealed(delivery, wrapped)
        return revealed

    def _revealed(
        self, delivery: SealedDelivery, wrapped: WrappedKey
    ) -> SealedDelivery | Exception:
        try:
            key = DataKey(wrapped.key_id, self._keyring.unwrap(wrapped))
        except UnwrapError:
            # the keyring lost the key that wrapped it: an operator's to fix, then it goes
            log.error("a data key does not unwrap", extra={"key_id": str(wrapped.key_id)})
            return TransientFailure("the person's data key does not unwrap with the keyring")
        try:
            return delivery.revealed(key.open)
        except CannotOpen:
            return PermanentFailure("the sealed address does not open with its person's key")

    async def _send(self, item: _Item, delivery: SealedDelivery) -> Exception | None:
        """None once the channel accepted; else why not (never raises)."""
        with (
            request_id_in_scope(item.message.correlation_id),
            tracing.span(
                f"{item.channel} deliver",
                SpanKind.CONSUMER,
                parent=item.message.trace_context,
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.operation.type": "process",
                    "messaging.message.id": item.key,
                    "tempstrong.delivery.attempt": item.message.attempt,
                },
            ) as span,
        ):
            try:
                channel = self._channels.get(delivery.sending_method)
                if channel is None:
                    method = delivery.sending_method.value
                    raise PermanentFailure(f"no channel configured for {method}")
                _check_address(delivery)
                async with asyncio.timeout(self._send_deadline):
                    await channel.send(delivery)
            except TimeoutError:
                failure: Exception = TransientFailure(
                    "the channel did not accept within the send deadline"
                )
            except Exception as exc:
                failure = exc
            else:
                return None
            if span is not None:
                # the failure's type only: its text might quote the plaintext
                span.set_status(StatusCode.ERROR, type(failure).__name__)
            return failure

    def _verdict(self, item: _Item, failure: Exception | None) -> Outcome:
        if failure is None:
            return self._acked(item, DeliveryOutcome.DELIVERED)
        if isinstance(failure, PermanentFailure):
            return self._dead_letter(item.message, item.channel, str(failure))
        if isinstance(failure, TransientFailure):
            return self._retry(item.message, item.channel, str(failure))
        return self._retry(item.message, item.channel, _unexpected(failure))

    async def _finish(self, claims: Claims, delivered: list[str]) -> None:
        # The channel has accepted: a retry now would send twice, so the record is retried here
        # instead. If the database stays away past the deadline the messages are acked
        # unrecorded: the broker will not redeliver an acked message, the ledger goes on trying
        # to record them, and until it has, their claims keep any other copy waiting.
        deadline = time.monotonic() + self._record_deadline
        pause = 0.1
        while True:
            try:
                await claims.finish(delivered)
                return
            except TransientFailure as unrecorded:
                if time.monotonic() + pause > deadline:
                    log.error(
                        "delivered but not recorded: %s",
                        unrecorded,
                        extra={"message_ids": delivered, "outcome": "unrecorded"},
                    )
                    return
                await asyncio.sleep(pause)
                pause = min(pause * 2, _RECORD_RETRY_CAP_SECONDS)

    def _open(self, envelope: DeliveryEnvelope) -> SealedDelivery:
        try:
            return open_delivery(self._opener, envelope)
        except MalformedEnvelope as exc:
            raise PermanentFailure(str(exc)) from None

    # -- outcomes ---------------------------------------------------------------------------

    def _acked(self, item: _Item, outcome: DeliveryOutcome) -> Outcome:
        self._report(item.message, item.channel, outcome)
        return Outcome.ack()

    def _wait(self, item: _Item, reason: str) -> Outcome:
        """Not this message's fault (our database, another worker): retry, spending no attempt."""
        attempt = item.message.attempt
        self._report(item.message, item.channel, DeliveryOutcome.RETRIED, reason, attempt)
        return Outcome.retry(self._backoff.delay(attempt), attempt)

    def _retry(self, message: Incoming, channel: str, reason: str) -> Outcome:
        attempt = message.attempt
        if attempt >= self._max_attempts:
            return self._dead_letter(
                message, channel, f"{reason}; gave up after {attempt} attempts"
            )
        self._report(message, channel, DeliveryOutcome.RETRIED, reason, attempt)
        return Outcome.retry(self._backoff.delay(attempt), attempt + 1)

    def _dead_letter(self, message: Incoming, channel: str, reason: str) -> Outcome:
        self._report(message, channel, DeliveryOutcome.DEAD_LETTERED, reason)
        return Outcome.dead_letter()

    def _report(
        self,
        message: Incoming,
        channel: str,
        outcome: DeliveryOutcome,
        reason: str | None = None,
        attempt: int | None = None,
    ) -> None:
        self._metrics.count(channel, outcome)
        extra: dict[str, object] = {
            "message_id": message.message_id,
            "channel": channel,
            "outcome": outcome.value,
        }
        if reason is not None:
            extra["reason"] = reason
        if attempt is not None:
            extra["attempt"] = attempt
        # one line per envelope only where a person may act; the rest is in the metrics
        if outcome is DeliveryOutcome.DEAD_LETTERED:
            level = logging.WARNING
        elif outcome is DeliveryOutcome.RETRIED:
            level = logging.INFO
        else:
            level = logging.DEBUG
        if log.isEnabledFor(level):
            with request_id_in_scope(message.correlation_id):
                log.log(level, "delivery %s", outcome.value, extra=extra)


def _parse(body: bytes) -> DeliveryEnvelope:
    try:
        return DeliveryEnvelope.from_body(body)
    except MalformedEnvelope as exc:
        raise PermanentFailure(str(exc)) from None


def _unexpected(exc: BaseException) -> str:
    """A bug, not a verdict on the message; the text might quote the plaintext: the type only."""
    return f"unexpected {type(exc).__name__}"


def _check_address(delivery: SealedDelivery) -> None:
    """The API's rule again: anyone holding the public key can seal anything, and retrying a
    malformed address can never help, so it is dead-lettered at once."""
    method = delivery.sending_method
    if method is SendingMethod.EMAIL and not is_valid_email(delivery.email or ""):
        raise PermanentFailure("no valid email address")
    if method is SendingMethod.SMS and not is_valid_mobile(delivery.mobile or ""):
        raise PermanentFailure("no valid mobile number")
