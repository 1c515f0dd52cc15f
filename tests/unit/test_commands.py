"""The service layer on the library's in-memory store: given a history, a command, then the
events it stored or the error it raised. No database, no HTTP (fast): the same commands run on
PostgreSQL in tests/integration."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from nacl.public import PrivateKey

from service.commands.facade import Commands
from service.commands.idempotency import IdempotentRequest
from service.commands.outcomes import UserProfile
from service.contracts.envelope import (
    DeliveryEnvelope,
    SealedDelivery,
    StoredDelivery,
    open_delivery,
)
from service.domain.credential import TempStrongPassword
from service.domain.errors import (
    AlreadyExists,
    Conflict,
    IdempotencyKeyReused,
    MaxResetCountReached,
    MissingDeliveryAddress,
    NotFound,
    PolicyNotAllowed,
)
from service.domain.idempotency import IdempotencyRecord, request_fingerprint
from service.domain.password import PasswordHasher
from service.domain.policy_file import parse_policy_document
from service.domain.user import User
from service.eventstore.application import EventStoreApp
from service.eventstore.port import NO_KEY_CHANGES, KeyChanges
from service.eventstore.threaded import ThreadedStore
from service.privacy.keyring import new_keyring_document, parse_keyring
from service.privacy.personal_data import PersonalData
from service.queries.facade import Queries
from service.security.sealing import Opener, Sealer, encode_key

POLICIES = {
    "clients": {
        "acme": {"defaultPolicy": "mail", "policies": ["hidden", "none", "two"]},
        "other": {"defaultPolicy": "mail"},
    },
    "policies": {
        "mail": {"type": "TempStrongPasswordPolicy", "sendingMethod": "Email"},
        "hidden": {
            "type": "TempStrongPasswordPolicy",
            "sendingMethod": "SMS",
            "plainValueExposedToCaller": False,
        },
        "none": {"type": "TempStrongPasswordPolicy", "sendingMethod": "None"},
        "two": {"type": "TempStrongPasswordPolicy", "sendingMethod": "None", "maxResetCount": 2},
    },
}
PROFILE = UserProfile(login_id="alice", email="alice@example.com", mobile="+41790000000")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class ConflictingStore(ThreadedStore):
    """The in-memory store, whose next `conflicts` saves lose a race to another writer."""

    conflicts = 0

    async def save(
        self,
        *aggregates: Aggregate | None,
        unchanged: Sequence[Aggregate] = (),
        keys: KeyChanges = NO_KEY_CHANGES,
    ) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise IntegrityError("another writer took the version")
        await super().save(*aggregates, unchanged=unchanged, keys=keys)


@dataclass
class World:
    commands: Commands
    queries: Queries
    store: ConflictingStore
    opener: Opener
    clock: Clock
    personal: PersonalData

    async def reveal(self, delivery: SealedDelivery, user: str = "alice") -> SealedDelivery:
        """What the delivery worker does: the address opened with the person's data key."""
        subject = await self.store.get_or_none(User.create_id("acme", user))
        assert isinstance(subject, User)
        key = await self.personal.live_key(subject)
        assert key is not None
        return delivery.revealed(key.open)

    async def events(self, aggregate_id: Any) -> list[str]:
        return [type(e).__name__ for e in await self.store.events_of(aggregate_id)]

    async def credential_events(self, client: str, user: str) -> list[str]:
        return await self.events((await self.queries.credentials.get(client, user)).credential.id)

    async def user(self, name: str = "alice", profile: UserProfile = PROFILE) -> str:
        await self.commands.users.register("acme", name, profile)
        return name

    async def create(self, user: str = "alice", policy: str | None = None, **kw: Any) -> Any:
        return await self.commands.credentials.create(
            "acme",
            user,
            ext_id=kw.pop("ext_id", None),
            policy_ext_id=policy,
            state_name=None,
            actor="helpdesk",
            **kw,
        )

    async def reset(self, user: str = "alice", key: IdempotentRequest | None = None) -> Any:
        return await self.commands.credentials.reset(
            "acme", user, actor="helpdesk", idempotency=key
        )


def keyed(scope: str, body: dict[str, Any] | None = None) -> IdempotentRequest:
    """An Idempotency-Key's scope with the fingerprint of the request's validated body."""
    return IdempotentRequest(scope, request_fingerprint(body or {}))


@pytest.fixture
async def world() -> AsyncIterator[World]:
    key = PrivateKey.generate()
    store = ConflictingStore(EventStoreApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}))
    clock = Clock()
    catalog = parse_policy_document(POLICIES, None)
    personal = PersonalData(parse_keyring(new_keyring_document()), store)
    sealer = Sealer(encode_key(key.public_key))
    commands = Commands(store, catalog, PasswordHasher(None), sealer, personal, clock)
    queries = Queries(store, catalog, personal, None, clock)
    yield World(commands, queries, store, Opener(encode_key(key)), clock, personal)
    await store.close()


async def test_create_stores_created_and_attached_and_seals_fragment1(world: World) -> None:
    user = await world.user()
    outcome = await world.create(user)
    credential = outcome.credential
    assert await world.events(credential.id) == ["TempStrongPasswordCreated"]
    assert await world.events(User.create_id("acme", user)) == [
        "UserCreated",
        "CredentialAttached",
    ]
    assert len(outcome.response_secret) == 30 and outcome.has_body
    (created,) = await world.store.events_of(credential.id)
    envelope = DeliveryEnvelope.of_event(
        StoredDelivery.from_event_attribute(created.delivery), credential.id, 1
    )
    sealed = await world.reveal(open_delivery(world.opener, envelope))
    assert sealed.email == "alice@example.com" and len(sealed.secret) == 8
    whole = outcome.response_secret + sealed.secret
    assert await world.commands.credentials.verify("acme", user, whole)


@pytest.mark.parametrize(
    ("policy", "response_length", "sealed_length"),
    [("none", 38, None), ("hidden", None, 38), (None, 30, 8)],
)
async def test_which_part_goes_where(
    world: World, policy: str | None, response_length: int | None, sealed_length: int | None
) -> None:
    await world.user()
    outcome = await world.create(policy=policy)
    (created,) = await world.store.events_of(outcome.credential.id)
    secret = outcome.response_secret
    assert (len(secret) if secret else None) == response_length
    assert outcome.has_body is (response_length is not None)
    if sealed_length is None:
        assert created.delivery is None
    else:
        envelope = DeliveryEnvelope.of_event(
            StoredDelivery.from_event_attribute(created.delivery), outcome.credential.id, 1
        )
        assert len(open_delivery(world.opener, envelope).secret) == sealed_length


async def test_a_channel_without_its_address_is_refused_and_nothing_is_stored(
    world: World,
) -> None:
    await world.user("bob", UserProfile(email="bob@example.com"))  # no mobile
    with pytest.raises(MissingDeliveryAddress):
        await world.create("bob", policy="hidden")  # sends by SMS
    assert await world.events(User.create_id("acme", "bob")) == ["UserCreated"]


async def test_policies_are_scoped_per_client(world: World) -> None:
    await world.commands.users.register("other", "carol", PROFILE)
    with pytest.raises(PolicyNotAllowed):
        await world.commands.credentials.create(
            "other", "carol", ext_id=None, policy_ext_id="none", state_name=None, actor="h"
        )


async def test_one_credential_per_user_and_ext_ids_per_client(world: World) -> None:
    await world.user()
    await world.create(ext_id="c1")
    with pytest.raises(AlreadyExists):
        await world.create()
    await world.user("bob")
    with pytest.raises(AlreadyExists):
        await world.create("bob", ext_id="c1")
    await world.commands.users.register("other", "bob", PROFILE)
    created = await world.commands.credentials.create(
        "other", "bob", ext_id="c1", policy_ext_id=None, state_name=None, actor="h"
    )
    assert created.credential.ext_id == "c1"  # the same extId in another client


async def test_reset_stores_reset_and_counts(world: World) -> None:
    await world.user()
    await world.create(policy="two")
    outcome = await world.reset()
    assert outcome.credential.version == 2 and outcome.credential.reset_count == 1
    assert await world.credential_events("acme", "alice") == [
        "TempStrongPasswordCreated",
        "TempStrongPasswordReset",
    ]
    await world.reset()
    with pytest.raises(MaxResetCountReached):
        await world.reset()
    assert (await world.queries.credentials.get("acme", "alice")).credential.reset_count == 2


async def test_a_replay_answers_the_first_outcome_without_a_secret_and_stores_nothing(
    world: World,
) -> None:
    await world.user()
    await world.create(policy="none")
    first = await world.reset(key=keyed("helpdesk|POST|/reset|k1"))
    replay = await world.reset(key=keyed("helpdesk|POST|/reset|k1"))
    assert replay.replayed and replay.response_secret is None
    assert replay.credential.version == first.credential.version == 2
    assert (await world.credential_events("acme", "alice")).count("TempStrongPasswordReset") == 1
    # after the window, the same key names a new outcome
    world.clock.now += timedelta(hours=25)
    later = await world.reset(key=keyed("helpdesk|POST|/reset|k1"))
    assert not later.replayed and later.credential.version == 3


async def test_a_replay_after_the_credential_was_deleted_is_404(world: World) -> None:
    await world.user()
    await world.create()
    await world.reset(key=keyed("k"))
    await world.commands.credentials.delete("acme", "alice", actor="h")
    with pytest.raises(NotFound):
        await world.reset(key=keyed("k"))


async def test_a_key_sent_again_with_another_body_is_refused_and_stores_nothing(
    world: World,
) -> None:
    await world.user()
    scope = "helpdesk|POST|/acme/users/alice/tempstrong-password|k1"
    first = await world.create(ext_id="c1", idempotency=keyed(scope, {"extId": "c1"}))
    with pytest.raises(IdempotencyKeyReused):
        await world.create(ext_id="c2", idempotency=keyed(scope, {"extId": "c2"}))
    assert not await world.store.get_or_none(TempStrongPassword.create_id("acme", "c2"))
    again = await world.create(ext_id="c1", idempotency=keyed(scope, {"extId": "c1"}))
    assert again.replayed and again.credential.version == first.credential.version
    record = await world.store.get_or_none(IdempotencyRecord.create_id(scope))
    assert [type(e).__name__ for e in await world.store.events_of(record.id)] == [  # type: ignore[union-attr]
        "OutcomeRecorded"
    ]


async def test_a_reset_key_sent_again_with_another_body_is_refused_until_the_window_ends(
    world: World,
) -> None:
    await world.user()
    await world.create(policy="none")
    await world.reset(key=keyed("k", {}))
    with pytest.raises(IdempotencyKeyReused):
        await world.reset(key=keyed("k", {"other": "body"}))
    assert (await world.credential_events("acme", "alice")).count("TempStrongPasswordReset") == 1
    # after the window the key names a new outcome, and remembers the new body
    world.clock.now += timedelta(hours=25)
    later = await world.reset(key=keyed("k", {"other": "body"}))
    assert not later.replayed and later.credential.version == 3
    assert (await world.reset(key=keyed("k", {"other": "body"}))).replayed
    with pytest.raises(IdempotencyKeyReused):
        await world.reset(key=keyed("k", {}))


def test_a_fingerprint_is_of_the_fields_not_of_their_order() -> None:
    assert request_fingerprint({"a": "1", "b": 2}) == request_fingerprint({"b": 2, "a": "1"})
    assert request_fingerprint({"a": "1"}) != request_fingerprint({"a": 1})
    assert request_fingerprint({}) != request_fingerprint({"a": ""})
    assert len(request_fingerprint({"é": "ü"})) == 64


async def test_a_conflict_is_retried_and_too_many_are_409(world: World) -> None:
    await world.user()
    await world.create(policy="none")
    world.store.conflicts = 3
    assert (await world.reset()).credential.version == 2
    world.store.conflicts = 100
    with pytest.raises(Conflict):
        await world.reset()
    assert (await world.queries.credentials.get("acme", "alice")).credential.version == 2


async def test_verify_stores_the_outcome_either_way(world: World) -> None:
    await world.user()
    outcome = await world.create(policy="none")
    assert not await world.commands.credentials.verify("acme", "alice", "wrong")
    assert await world.commands.credentials.verify("acme", "alice", outcome.response_secret)
    assert (await world.credential_events("acme", "alice"))[-2:] == [
        "LoginFailed",
        "LoginSucceeded",
    ]


async def test_deleting_a_user_deletes_its_credential_in_the_same_save(world: World) -> None:
    await world.user()
    outcome = await world.create()
    await world.commands.users.delete("acme", "alice", actor="h")
    assert (await world.events(outcome.credential.id))[-1] == "TempStrongPasswordDeleted"
    # with no erasure delay, the person's data is erased in the same save
    assert (await world.events(User.create_id("acme", "alice")))[-2:] == [
        "UserDeleted",
        "UserErased",
    ]
    with pytest.raises(NotFound):
        await world.queries.credentials.get("acme", "alice")
    # the extId is never reused, and the user extId can be registered again
    await world.user()
    with pytest.raises(AlreadyExists):
        await world.create(ext_id=outcome.credential.ext_id)


async def test_an_unknown_client_is_404_before_any_read(world: World) -> None:
    with pytest.raises(NotFound):
        await world.commands.users.register("nobody", "x", PROFILE)
    assert not await world.store.events_of(User.create_id("nobody", "x"))


def test_credential_ids_are_per_client() -> None:
    assert TempStrongPassword.create_id("acme", "c1") != TempStrongPassword.create_id("b", "c1")


class StaleStore(ConflictingStore):
    """Serves, to a trusting read, the copy it held before another process changed it."""

    stale: dict[Any, Aggregate] = {}

    async def get_or_none(self, aggregate_id: Any, *, fresh: bool = True) -> Aggregate | None:
        if not fresh and aggregate_id in self.stale:
            return self.stale[aggregate_id]
        return await super().get_or_none(aggregate_id, fresh=fresh)


async def test_a_refusal_decided_on_a_stale_copy_is_decided_again_on_a_fresh_one(
    world: World,
) -> None:
    await world.user()
    outcome = await world.create(policy="none")
    credential = outcome.credential
    stale = await world.store.get_or_none(credential.id)
    assert stale is not None
    stale.state = stale.state.__class__("disabled")  # what the cache held before an unlock
    store = StaleStore(world.store.app)
    store.stale = {credential.id: stale}
    commands = Commands(
        store, world.commands.catalog, PasswordHasher(None), None, world.personal, world.clock
    )
    # the stale copy says "not usable"; the fresh one says the password is right
    assert await commands.credentials.verify("acme", "alice", outcome.response_secret)
