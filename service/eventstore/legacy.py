"""Bringing a store written before personal data was encrypted (2026-12-06) to the new form.

`tempstrong migrate` runs it; it is safe to run again, and cheap when there is nothing to do (each
step starts with one indexed or filtered query). An append-only store is rewritten here once, on
purpose: a deployment that upgrades must not keep its old plaintext readable for ever.

1. People: every version-1 `UserCreated` / `UserRegisteredAgain` (its profile in the clear) gets a
   data key of its own; its `loginId`, `email` and `mobile` are sealed to it and the event is
   rewritten as version 2, in one transaction per person with the new key. A registration that
   was deleted since is scheduled for erasure (its deletion time plus TEMPSTRONG_ERASURE_DELAY).
2. Free text: a `StateChanged` whose `modificationComment` is in the clear is rewritten with the
   comment sealed to the key of the person the credential belonged to (dropped if none is left).
3. Sealed deliveries: a version-1 `TempStrongPasswordCreated` / `Reset` sealed the person's
   addresses in the clear inside the box. Once published (at or below the publisher's position,
   and not parked) the box has done its job: it is removed from the event (the sending method
   stays). Those not published yet are counted; run `migrate` again once the publisher caught up.
4. Snapshots holding plaintext are deleted (they are a cache: the next ones are taken anew), and
   the read model's rows lose the free text (the list endpoint leaves it out).

Rows rewritten by UPDATE leave their old versions in PostgreSQL's data files until VACUUM reclaims
them, and in backups and WAL archives taken before: docs/operations.md says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from ..domain.credential import TempStrongPassword
from ..domain.personal import CREDENTIAL_TEXT_FIELDS, USER_FIELDS
from ..domain.user import User
from ..privacy.data_keys import DataKey
from ..privacy.keyring import Keyring, UnwrapError, WrappedKey
from .keys import KEYS_TABLE
from .names import EVENTS_TABLE, SNAPSHOTS_TABLE

REGISTRATIONS = (
    get_topic(User.UserCreated),
    get_topic(User.UserRegisteredAgain),
)
ATTACHED = get_topic(User.CredentialAttached)  # type: ignore[attr-defined]
USER_DELETED = get_topic(User.UserDeleted)  # type: ignore[attr-defined]
STATE_CHANGED = get_topic(TempStrongPassword.StateChanged)
ISSUING = (
    get_topic(TempStrongPassword.TempStrongPasswordCreated),
    get_topic(TempStrongPassword.TempStrongPasswordReset),
)
VERSIONED = b'"class_version"'  # a state written by a class of version 2 or more says so
PLAIN_COMMENT = b'"modification_comment":"'  # a comment in the clear (sealed: an object)
SEALED_DELIVERY = b'"delivery":{'
PUBLISHER = "publisher"
_REWRITE = (
    f"UPDATE {EVENTS_TABLE} SET state = $3 "  # noqa: S608 - a constant's name
    "WHERE originator_id = $1 AND originator_version = $2"
)


class KeyringNeeded(Exception):
    """Plaintext to convert, and no keyring to seal it with."""


@dataclass
class LegacyReport:
    people: int = 0  # registrations given a data key, their values sealed
    comments: int = 0  # comments sealed (or dropped, with no key left)
    deliveries_removed: int = 0  # published version-1 boxes removed from their events
    deliveries_waiting: int = 0  # version-1 boxes not published yet: run migrate again later
    snapshots_deleted: int = 0
    view_rows: int = 0
    new_keys: dict[UUID, DataKey] = field(default_factory=dict, repr=False)

    @property
    def anything(self) -> bool:
        return bool(
            self.people
            or self.comments
            or self.deliveries_removed
            or self.deliveries_waiting
            or self.snapshots_deleted
            or self.view_rows
        )


async def convert_legacy(
    pool: asyncpg.Pool,
    mapper: Mapper[UUID],
    keyring: Keyring | None,
    erasure_delay: timedelta,
    view_table: str | None = None,
) -> LegacyReport:
    report = LegacyReport()
    await _people(pool, mapper, keyring, erasure_delay, report)
    await _comments(pool, mapper, keyring, report)
    await _deliveries(pool, mapper, report)
    report.snapshots_deleted = await _snapshots(pool)
    if view_table is not None:
        report.view_rows = await _view_rows(pool, view_table, mapper)
    return report


# -- 1. people ----------------------------------------------------------------------------------


async def _people(
    pool: asyncpg.Pool,
    mapper: Mapper[UUID],
    keyring: Keyring | None,
    erasure_delay: timedelta,
    report: LegacyReport,
) -> None:
    subjects = await pool.fetch(
        f"SELECT DISTINCT originator_id FROM {EVENTS_TABLE} "  # noqa: S608
        "WHERE topic = ANY($1::text[]) AND position($2::bytea in state) = 0",
        list(REGISTRATIONS),
        VERSIONED,
    )
    if subjects and keyring is None:
        raise KeyringNeeded(f"{len(subjects)} user(s) hold personal data in the clear")
    for row in subjects:
        assert keyring is not None
        await _person(pool, mapper, keyring, UUID(bytes=row[0].bytes), erasure_delay, report)


async def _person(
    pool: asyncpg.Pool,
    mapper: Mapper[UUID],
    keyring: Keyring,
    user_id: UUID,
    erasure_delay: timedelta,
    report: LegacyReport,
) -> None:
    async with pool.acquire() as connection, connection.transaction():
        rows = await connection.fetch(
            f"SELECT originator_version, topic, state FROM {EVENTS_TABLE} "  # noqa: S608
            "WHERE originator_id = $1 ORDER BY originator_version FOR UPDATE",
            user_id,
        )
        rewritten: list[tuple[int, bytes]] = []
        keys: list[tuple[WrappedKey, datetime | None]] = []
        current: WrappedKey | None = None  # the key of a registration converted here
        for version, topic, state in rows:
            stored = StoredEvent(user_id, version, topic, bytes(state))
            if topic in REGISTRATIONS and VERSIONED not in stored.state:
                event = mapper.to_domain_event(stored)
                key = DataKey.new()
                for name in USER_FIELDS:
                    value = getattr(event, name)
                    if isinstance(value, str):
                        object.__setattr__(event, name, key.seal(value, user_id, name))
                object.__setattr__(event, "data_key_id", key.key_id)
                rewritten.append((version, mapper.to_stored_event(event).state))
                current = keyring.wrap(key.key_id, user_id, key.secret)
                keys.append((current, None))
                report.new_keys[key.key_id] = key
                report.people += 1
            elif topic in REGISTRATIONS:
                current = None
            elif topic == USER_DELETED and current is not None:
                deleted: Any = mapper.to_domain_event(stored)
                deleted_at: datetime = deleted.timestamp
                keys[-1] = (current, deleted_at + erasure_delay)
                current = None
        for version, state in rewritten:
            await connection.execute(_REWRITE, user_id, version, state)
        await connection.executemany(
            f"INSERT INTO {KEYS_TABLE} "  # noqa: S608
            "(key_id, subject_id, wrapping_key_id, wrapped, erase_after) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_id) DO NOTHING",
            [(k.key_id, k.subject_id, k.wrapping_key_id, k.wrapped, due) for k, due in keys],
        )


# -- 2. free text -------------------------------------------------------------------------------


async def _comments(
    pool: asyncpg.Pool, mapper: Mapper[UUID], keyring: Keyring | None, report: LegacyReport
) -> None:
    rows = await pool.fetch(
        f"SELECT originator_id, originator_version, state FROM {EVENTS_TABLE} "  # noqa: S608
        "WHERE topic = $1 AND position($2::bytea in state) > 0",
        STATE_CHANGED,
        PLAIN_COMMENT,
    )
    if rows and keyring is None:
        raise KeyringNeeded(f"{len(rows)} comment(s) are stored in the clear")
    for raw_id, version, state in rows:
        assert keyring is not None
        credential_id = UUID(bytes=raw_id.bytes)
        event = mapper.to_domain_event(StoredEvent(credential_id, version, STATE_CHANGED, state))
        key = await _key_of_credential(pool, mapper, keyring, credential_id, report)
        comment = event.modification_comment  # type: ignore[attr-defined]
        sealed = key.seal(comment, credential_id, "modification_comment") if key else None
        object.__setattr__(event, "modification_comment", sealed)
        await pool.execute(_REWRITE, credential_id, version, mapper.to_stored_event(event).state)
        report.comments += 1


async def _key_of_credential(
    pool: asyncpg.Pool,
    mapper: Mapper[UUID],
    keyring: Keyring,
    credential_id: UUID,
    report: LegacyReport,
) -> DataKey | None:
    """The data key of the registration the credential was attached to, if it still exists."""
    created = await pool.fetchrow(
        f"SELECT topic, state FROM {EVENTS_TABLE} "  # noqa: S608
        "WHERE originator_id = $1 AND originator_version = 1",
        credential_id,
    )
    if created is None:
        return None
    first = mapper.to_domain_event(StoredEvent(credential_id, 1, created[0], bytes(created[1])))
    user_id = User.create_id(first.client_ext_id, first.user_ext_id)  # type: ignore[attr-defined]
    rows = await pool.fetch(
        f"SELECT originator_version, topic, state FROM {EVENTS_TABLE} "  # noqa: S608
        "WHERE originator_id = $1 AND topic = ANY($2::text[]) ORDER BY originator_version",
        user_id,
        [*REGISTRATIONS, ATTACHED],
    )
    key_id: UUID | None = None
    for version, topic, state in rows:
        event = mapper.to_domain_event(StoredEvent(user_id, version, topic, bytes(state)))
        if topic in REGISTRATIONS:
            key_id = event.data_key_id  # type: ignore[attr-defined]
        elif event.credential_id == credential_id:  # type: ignore[attr-defined]
            break
    if key_id is None:
        return None
    if key_id in report.new_keys:
        return report.new_keys[key_id]
    row = await pool.fetchrow(
        f"SELECT wrapping_key_id, wrapped FROM {KEYS_TABLE} WHERE key_id = $1",  # noqa: S608
        key_id,
    )
    if row is None:
        return None  # erased: the comment goes with its person
    try:
        secret = keyring.unwrap(WrappedKey(key_id, user_id, row[0], bytes(row[1])))
    except UnwrapError:
        return None
    return DataKey(key_id, secret)


# -- 3. sealed deliveries -----------------------------------------------------------------------


async def _deliveries(pool: asyncpg.Pool, mapper: Mapper[UUID], report: LegacyReport) -> None:
    published = await _publisher_position(pool)
    rows = await pool.fetch(
        f"SELECT notification_id, originator_id, originator_version, topic, state "  # noqa: S608
        f"FROM {EVENTS_TABLE} WHERE topic = ANY($1::text[]) "
        "AND position($2::bytea in state) = 0 AND position($3::bytea in state) > 0",
        list(ISSUING),
        VERSIONED,
        SEALED_DELIVERY,
    )
    parked = await _parked(pool)
    for notification_id, raw_id, version, topic, state in rows:
        originator_id = UUID(bytes=raw_id.bytes)
        if notification_id > published or (originator_id, version) in parked:
            report.deliveries_waiting += 1
            continue
        event = mapper.to_domain_event(StoredEvent(originator_id, version, topic, bytes(state)))
        delivery = event.delivery  # type: ignore[attr-defined]
        object.__setattr__(event, "delivery", {"sendingMethod": delivery.get("sendingMethod")})
        await pool.execute(_REWRITE, originator_id, version, mapper.to_stored_event(event).state)
        report.deliveries_removed += 1


async def _publisher_position(pool: asyncpg.Pool) -> int:
    if await pool.fetchval("SELECT to_regclass('projection_tracking')") is None:
        return 0
    value = await pool.fetchval(
        "SELECT position FROM projection_tracking WHERE name = $1", PUBLISHER
    )
    return int(value or 0)


async def _parked(pool: asyncpg.Pool) -> set[tuple[UUID, int]]:
    if await pool.fetchval("SELECT to_regclass('parked_events')") is None:
        return set()
    rows = await pool.fetch(
        "SELECT originator_id, originator_version FROM parked_events "
        "WHERE follower = $1 AND republished_at IS NULL",
        PUBLISHER,
    )
    return {(UUID(bytes=row[0].bytes), row[1]) for row in rows}


# -- 4. snapshots and the read model ------------------------------------------------------------


async def _snapshots(pool: asyncpg.Pool) -> int:
    """Deletes the snapshots that hold plaintext: a user's of version 1, a credential's with a
    comment in the clear (a snapshot names its aggregate's topic inside its state)."""
    status = await pool.execute(
        f"DELETE FROM {SNAPSHOTS_TABLE} "  # noqa: S608
        "WHERE position($1::bytea in state) > 0 "
        "OR (position($2::bytea in state) > 0 AND position($3::bytea in state) = 0)",
        PLAIN_COMMENT,
        f'"topic":"{get_topic(User)}"'.encode(),
        VERSIONED,
    )
    return int(status.split()[-1])


async def _view_rows(pool: asyncpg.Pool, table: str, mapper: Mapper[UUID]) -> int:
    if await pool.fetchval("SELECT to_regclass($1)", table) is None:
        return 0
    rows = await pool.fetch(
        f"SELECT credential_id, state FROM {table} "  # noqa: S608 - a constant's name
        "WHERE position($1::bytea in state) > 0",
        b'"modification_comment":',
    )
    transcoder = mapper.transcoder
    for credential_id, state in rows:
        decoded: dict[str, Any] = transcoder.decode(bytes(state))
        kept = {k: v for k, v in decoded.items() if k not in CREDENTIAL_TEXT_FIELDS}
        await pool.execute(
            f"UPDATE {table} SET state = $2 WHERE credential_id = $1",  # noqa: S608
            credential_id,
            transcoder.encode(kept),
        )
    return len(rows)


def describe(report: LegacyReport) -> list[str]:
    """What `migrate` prints about it (nothing when there was nothing to do)."""
    if not report.anything:
        return []
    lines = [
        f"{report.people} person(s) given a data key, their profile sealed to it; "
        f"{report.comments} comment(s) sealed; {report.deliveries_removed} published sealed "
        f"box(es) with addresses removed; {report.snapshots_deleted} snapshot(s) deleted; "
        f"{report.view_rows} read-model row(s) without free text"
    ]
    if report.deliveries_waiting:
        lines.append(
            f"{report.deliveries_waiting} sealed box(es) stored before are not published yet: "
            "run `tempstrong migrate` again once the publisher has caught up"
        )
    lines.append(
        "the old row versions stay in the data files until VACUUM reclaims them, and in backups "
        "taken before (docs/operations.md, Personal data)"
    )
    return lines
