"""What must hold once the soak is quiet: read from the event store, the broker, the mail sink."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Mapper, StoredEvent

from projections.folding import fold, is_credential_topic
from service.domain.credential import TempStrongPassword
from service.domain.ids import event_id
from service.observability.correlation import correlation_id_of
from service.security.sealing import Opener
from tests.support.sinks import ReceivedMail

_CODE = re.compile(r"^Code: (\S+)\r?$", re.MULTILINE)


@dataclass
class Store:
    """The event store decoded: every event, and the one that could not be (the poison)."""

    events: list[Any] = field(default_factory=list)
    undecodable: list[UUID] = field(default_factory=list)

    @property
    def correlation_ids(self) -> set[str]:
        return {cid for e in self.events if (cid := correlation_id_of(e)) is not None}

    @property
    def credential_events(self) -> list[Any]:
        return [e for e in self.events if isinstance(e, TempStrongPassword.Event)]

    def credentials(self) -> dict[UUID, TempStrongPassword]:
        folded: dict[UUID, TempStrongPassword] = {}
        for domain_event in self.credential_events:
            folded[domain_event.originator_id] = fold(
                folded.get(domain_event.originator_id), domain_event
            )
        return folded


async def read_store(connection: asyncpg.Connection, mapper: Mapper[UUID]) -> Store:
    store = Store()
    rows = await connection.fetch(
        "SELECT originator_id, originator_version, topic, state FROM tempstrong_events "
        "ORDER BY notification_id"
    )
    for row in rows:
        stored = StoredEvent(
            UUID(bytes=row["originator_id"].bytes),
            row["originator_version"],
            row["topic"],
            bytes(row["state"]),
        )
        try:
            store.events.append(mapper.to_domain_event(stored))
        except Exception:
            assert is_credential_topic(stored.topic)
            store.undecodable.append(event_id(stored.originator_id, stored.originator_version))
    return store


def queue_details(vhost: str) -> list[dict[str, object]]:
    """Ready and unacknowledged counts and consumers per delivery queue (why one is stuck)."""
    fields = ["name", "messages_ready", "messages_unacknowledged", "consumers"]
    result = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, *fields, "--formatter=json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return [q for q in json.loads(result.stdout) if q["name"].startswith("tempstrong.delivery")]


def queue_depths(vhost: str) -> dict[str, int]:
    result = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages", "--formatter=json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {q["name"]: int(q["messages"]) for q in json.loads(result.stdout)}


@dataclass
class Deliveries:
    by_event: Counter[UUID]
    unknown_codes: list[str]
    latest_missing: list[UUID]

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.by_event.values() if count > 1)


def check_deliveries(store: Store, mails: list[ReceivedMail], opener: Opener) -> Deliveries:
    """Every mail names a secret some Created/Reset event sealed; the latest of each credential
    arrived; anything beyond one mail per event is a duplicate."""
    issued: dict[str, UUID] = {}
    latest: dict[UUID, UUID] = {}
    for domain_event in store.credential_events:
        delivery = getattr(domain_event, "delivery", None)
        if delivery:
            secret = opener.open(delivery)["secret"]
            eid = event_id(domain_event.originator_id, domain_event.originator_version)
            issued[secret] = eid
            latest[domain_event.originator_id] = eid
    by_event: Counter[UUID] = Counter()
    unknown: list[str] = []
    for mail in mails:
        for code in _CODE.findall(mail.text):
            if code in issued:
                by_event[issued[code]] += 1
            else:
                unknown.append(code)
    missing = [eid for eid in latest.values() if by_event[eid] == 0]
    return Deliveries(by_event, unknown, missing)


@dataclass
class Published:
    ids: set[str]
    out_of_order: list[str]
    messages: int


def check_published(bodies: list[bytes]) -> Published:
    """At least once, and per credential in order: first sightings of versions only rise."""
    seen: set[str] = set()
    last: dict[tuple[str, str], int] = defaultdict(int)
    out_of_order: list[str] = []
    for body in bodies:
        event = json.loads(body)
        if event["id"] in seen:
            continue  # a duplicate (at least once): its first sighting decided the order
        seen.add(event["id"])
        key = (event["data"]["clientExtId"], event["subject"])
        version = event["data"]["version"]
        if version <= last[key]:
            out_of_order.append(f"{key}: {version} after {last[key]}")
        last[key] = max(last[key], version)
    return Published(seen, out_of_order, len(bodies))
