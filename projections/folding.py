"""Decode notifications and fold credential events onto credential states (reusing the domain).

The view and the publisher both need "the credential after this event". The aggregate's own
`@event` bodies compute it: folding the event with `event.mutate(previous)` keeps one source of
truth for every rule.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, Notification
from eventsourcing.utils import get_topic

from service.contracts.cloudevents import USER_EVENT_TYPES
from service.domain.credential import TempStrongPassword
from service.domain.personal import CREDENTIAL_TEXT_FIELDS
from service.domain.user import User

from .parking import FailureCounter, ParkedEvent

# every credential event's topic starts with its aggregate class's topic
CREDENTIAL_TOPIC_PREFIX = get_topic(TempStrongPassword) + "."
# kept out of view rows: the hash, and the personal text (the list endpoint leaves it out)
_NOT_IN_VIEWS = frozenset({"password_hash", *CREDENTIAL_TEXT_FIELDS})


# the user events consumers are told about, by topic
USER_EVENT_TOPICS = frozenset(f"{get_topic(User)}.{name}" for name in USER_EVENT_TYPES)


def is_credential_topic(topic: str) -> bool:
    return topic.startswith(CREDENTIAL_TOPIC_PREFIX)


def is_published_topic(topic: str) -> bool:
    return is_credential_topic(topic) or topic in USER_EVENT_TOPICS


def decode_credential_events(
    mapper: Mapper[UUID],
    batch: Sequence[Notification],
    failures: FailureCounter,
    wanted: Callable[[str], bool] = is_credential_topic,
) -> tuple[list[tuple[Notification, Any]], list[ParkedEvent]]:
    """The batch's credential events (or those `wanted` names), decoded; one that does not
    decode is retried (the counter raises EventNotHandled) until it is due to be parked."""
    decoded: list[tuple[Notification, Any]] = []
    parked: list[ParkedEvent] = []
    for notification in batch:
        if not wanted(notification.topic):
            continue
        try:
            decoded.append((notification, mapper.to_domain_event(notification)))
        except Exception as exc:
            parked.append(failures.failed(notification, "decode", exc))
    return decoded, parked


def event_name(domain_event: DomainEventProtocol[UUID]) -> str:
    return type(domain_event).__name__


def fold(previous: TempStrongPassword | None, domain_event: Any) -> TempStrongPassword:
    """The credential after `domain_event`, given the credential just before it."""
    result: TempStrongPassword = domain_event.mutate(previous)
    return result


def state_of(credential: TempStrongPassword) -> dict[str, Any]:
    """The aggregate's attributes without the hash and the personal text, for a view row."""
    return {k: v for k, v in vars(credential).items() if k not in _NOT_IN_VIEWS}


def credential_from_state(state: dict[str, Any]) -> TempStrongPassword:
    credential: TempStrongPassword = object.__new__(TempStrongPassword)
    credential.__dict__.update(state)
    credential.__dict__.setdefault("password_hash", "")
    for name in CREDENTIAL_TEXT_FIELDS:
        credential.__dict__[name] = None  # rows written before they were left out held them
    return credential


def timestamp_of(domain_event: Any) -> float:
    moment: datetime = domain_event.timestamp
    return moment.timestamp()


LoadMany = Callable[[Sequence[tuple[UUID, int]]], Awaitable[dict[UUID, Any]]]


class CredentialCache:
    """Recent credential states by id, so the publisher rarely reloads from the event store.

    `prefetch` loads, in one round trip (`load_many`), the earlier states a batch needs and the
    cache does not hold (a publisher that just started holds none).
    """

    def __init__(
        self,
        load: Callable[[UUID, int], Awaitable[Any]],
        load_many: LoadMany | None = None,
        size: int = 10_000,
    ) -> None:
        self._load = load
        self._load_many = load_many
        self._size = size
        self._items: dict[UUID, TempStrongPassword] = {}

    async def prefetch(self, domain_events: Sequence[Any]) -> None:
        if self._load_many is None:
            return
        first_version: dict[UUID, int] = {}
        for event in domain_events:
            first_version.setdefault(event.originator_id, event.originator_version)
        missing = [
            (originator_id, version - 1)
            for originator_id, version in first_version.items()
            if version > 1
            and (
                originator_id not in self._items
                or self._items[originator_id].version != version - 1
            )
        ]
        if missing:
            for originator_id, credential in (await self._load_many(missing)).items():
                self._keep(originator_id, credential)

    async def after(self, domain_event: Any) -> TempStrongPassword:
        originator_id: UUID = domain_event.originator_id
        version: int = domain_event.originator_version
        previous = self._items.pop(originator_id, None)
        if version == 1:
            previous = None
        elif previous is None or previous.version != version - 1:
            previous = await self._load(originator_id, version - 1)
        credential = fold(previous, domain_event)
        self._keep(originator_id, credential)
        return credential

    def _keep(self, originator_id: UUID, credential: TempStrongPassword) -> None:
        self._items.pop(originator_id, None)
        self._items[originator_id] = credential
        while len(self._items) > self._size:
            self._items.pop(next(iter(self._items)))
