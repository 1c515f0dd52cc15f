"""Personal data encrypted per person, and forgotten by destroying the person's key,
on the library's in-memory store: the keyring, the data keys, registration, erasure at once and
after the delay, `erase` by request, the envelope's one address, the worker skipping the erased."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from nacl.public import PrivateKey

from service.commands.facade import Commands
from service.commands.outcomes import UserProfile
from service.contracts.envelope import DeliveryEnvelope, StoredDelivery, open_delivery
from service.delivery.data_keys import TableDataKeys
from service.delivery.metrics import DeliveryMetrics
from service.delivery.worker import Action, DeliveryWorker
from service.domain.credential import TempStrongPassword
from service.domain.errors import NotFound
from service.domain.password import PasswordHasher
from service.domain.personal import Encrypted
from service.domain.policy import SendingMethod
from service.domain.policy_file import parse_policy_document
from service.domain.states import CredentialState
from service.domain.user import User
from service.eventstore.application import EventStoreApp
from service.eventstore.keys import MemoryKeyTable
from service.eventstore.threaded import ThreadedStore
from service.privacy.data_keys import CannotOpen, DataKey
from service.privacy.erasure import Eraser, erase_now
from service.privacy.keyring import (
    Keyring,
    KeyringError,
    UnwrapError,
    load_keyring,
    new_keyring_document,
    parse_keyring,
)
from service.privacy.personal_data import PersonalData
from service.queries.facade import Queries
from service.security.sealing import Opener, Sealer, encode_key
from tests.support.delivery_fakes import FakeChannel, FakeSupersession, FlakyDedup
from tests.support.delivery_rig import BACKOFF, MAX_ATTEMPTS

POLICIES = {
    "clients": {"acme": {"defaultPolicy": "mail", "policies": ["sms", "letter"]}},
    "policies": {
        "mail": {"type": "TempStrongPasswordPolicy", "sendingMethod": "Email"},
        "sms": {"type": "TempStrongPasswordPolicy", "sendingMethod": "SMS"},
        "letter": {"type": "TempStrongPasswordPolicy", "sendingMethod": "PDFstore"},
    },
}
ALICE = UserProfile(
    login_id="alice-7f3e", email="alice.7f3e@corp.local", mobile="+41797770001", language="de"
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    commands: Commands
    queries: Queries
    store: ThreadedStore
    keys: MemoryKeyTable
    keyring: Keyring
    personal: PersonalData
    clock: Clock
    delivery_key: PrivateKey

    def commands_with_delay(self, delay: timedelta) -> Commands:
        catalog = self.commands.catalog
        sealer = Sealer(encode_key(self.delivery_key.public_key))
        return Commands(
            self.store, catalog, PasswordHasher(None), sealer, self.personal, self.clock, delay
        )

    async def stored_states(self, aggregate_id: object) -> list[bytes]:
        recorder = self.store.app.recorder
        return [e.state for e in recorder.select_events(aggregate_id)]  # type: ignore[arg-type]

    async def create(self, user: str = "alice", policy: str | None = None):  # type: ignore[no-untyped-def]
        return await self.commands.credentials.create(
            "acme", user, ext_id=None, policy_ext_id=policy, state_name=None, actor="helpdesk"
        )


@pytest.fixture
async def world() -> AsyncIterator[World]:
    keys = MemoryKeyTable()
    store = ThreadedStore(
        EventStoreApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}), keys=keys
    )
    keyring = parse_keyring(new_keyring_document())
    personal = PersonalData(keyring, store)
    clock = Clock()
    delivery_key = PrivateKey.generate()
    catalog = parse_policy_document(POLICIES, None)
    sealer = Sealer(encode_key(delivery_key.public_key))
    commands = Commands(store, catalog, PasswordHasher(None), sealer, personal, clock)
    queries = Queries(store, catalog, personal, None, clock)
    yield World(commands, queries, store, keys, keyring, personal, clock, delivery_key)
    await store.close()


# -- the keyring and the data keys --------------------------------------------------------------


def test_the_keyring_refuses_what_it_cannot_use_and_never_quotes_a_key(tmp_path) -> None:
    good = base64.b64encode(b"k" * 32).decode()
    short = base64.b64encode(b"k" * 31).decode()
    cases = {
        "not-json": "{",
        "no keys": "{}",
        "empty": '{"keys": []}',
        "short key": json.dumps({"keys": [{"id": "a", "key": short}]}),
        "not base64": json.dumps({"keys": [{"id": "a", "key": "!!!"}]}),
        "bad id": json.dumps({"keys": [{"id": "a b", "key": good}]}),
        "two ids": json.dumps({"keys": [{"id": "a", "key": good}, {"id": "a", "key": good}]}),
        "extra field": json.dumps({"keys": [{"id": "a", "key": good, "x": 1}]}),
    }
    for name, text in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(text)
        with pytest.raises(KeyringError) as refused:
            load_keyring(path)
        message = str(refused.value)
        assert message.startswith(f"TEMPSTRONG_PERSONAL_DATA_KEYS: {path}"), name
        assert good not in message and short not in message, name
    with pytest.raises(KeyringError, match="cannot be read"):
        load_keyring(tmp_path / "missing.json")
    assert load_keyring(json.dumps({"keys": [{"id": "a", "key": good}]})).key_ids == ["a"]


def test_the_first_key_wraps_every_key_unwraps_and_a_wrapped_key_stays_with_its_person() -> None:
    old = parse_keyring(new_keyring_document("old"))
    new = parse_keyring(new_keyring_document("new"))
    impostor = parse_keyring(new_keyring_document("old"))  # the same id, another key
    secret, key_id, subject = b"s" * 32, uuid4(), uuid4()
    wrapped_by_old = old.wrap(key_id, subject, secret)
    with pytest.raises(UnwrapError):
        impostor.unwrap(wrapped_by_old)
    with pytest.raises(UnwrapError):  # a ring without the key that wrapped it
        new.unwrap(wrapped_by_old)
    ring = Keyring([new.current, old.current])
    assert ring.unwrap(wrapped_by_old) == secret
    rewrapped = ring.rewrap(wrapped_by_old)
    assert rewrapped.wrapping_key_id == "new" and ring.unwrap(rewrapped) == secret
    with pytest.raises(UnwrapError):  # moved onto another person's row
        ring.unwrap(replace(rewrapped, subject_id=uuid4()))
    with pytest.raises(UnwrapError):  # flipped bits
        ring.unwrap(replace(rewrapped, wrapped=rewrapped.wrapped[:-1] + b"x"))


def test_a_value_opens_only_for_its_aggregate_and_field_with_its_key() -> None:
    key, other = DataKey.new(), DataKey.new()
    user, someone_else = uuid4(), uuid4()
    sealed = key.seal("alice@corp.local", user, "email")
    assert key.open(sealed, user, "email") == "alice@corp.local"
    assert b"alice" not in sealed.sealed
    for aggregate, field, opener in (
        (someone_else, "email", key),
        (user, "mobile", key),
        (user, "email", other),
    ):
        with pytest.raises(CannotOpen):
            opener.open(sealed, aggregate, field)


# -- registration and reads ---------------------------------------------------------------------


async def test_a_person_is_stored_sealed_and_answered_in_the_clear(world: World) -> None:
    view = await world.commands.users.register("acme", "alice", ALICE)
    user_id = User.create_id("acme", "alice")
    (state,) = await world.stored_states(user_id)
    for value in (ALICE.login_id, ALICE.email, ALICE.mobile):
        assert value is not None and value.encode() not in state
    assert view.user.data_key_id is not None
    assert [k.key_id for k in world.keys.of(user_id)] == [view.user.data_key_id]
    got = await world.queries.users.get("acme", "alice")
    revealed = {
        name: got.revealer.reveal(getattr(got.user, name), user_id, name)
        for name in ("login_id", "email", "mobile")
    }
    assert revealed == {"login_id": ALICE.login_id, "email": ALICE.email, "mobile": ALICE.mobile}


async def test_a_comment_is_sealed_to_its_person_and_shown_while_they_are_known(
    world: World,
) -> None:
    await world.commands.users.register("acme", "alice", ALICE)
    outcome = await world.create()
    view = await world.commands.credentials.modify(
        "acme",
        "alice",
        expected_version=1,
        state_name=CredentialState.ACTIVE,
        policy_ext_id=None,
        modification_comment="Ausweis 7f3e geprüft",
        actor="admin",
    )
    assert isinstance(view.credential.modification_comment, Encrypted)
    states = await world.stored_states(outcome.credential.id)
    assert not any(b"Ausweis 7f3e" in s for s in states)
    got = await world.queries.credentials.get("acme", "alice")
    name = "modification_comment"
    comment = got.revealer.reveal(got.credential.modification_comment, got.credential.id, name)
    assert comment == "Ausweis 7f3e geprüft"


# -- erasure ------------------------------------------------------------------------------------


async def test_a_deletion_erases_at_once_and_the_events_still_decode(world: World) -> None:
    view = await world.commands.users.register("acme", "alice", ALICE)
    await world.create()
    await world.commands.users.delete("acme", "alice", actor="helpdesk")
    user_id = User.create_id("acme", "alice")
    assert world.keys.of(user_id) == []
    events = await world.store.events_of(user_id)
    assert [type(e).__name__ for e in events][-2:] == ["UserDeleted", "UserErased"]
    erased = events[-1]
    assert erased.key_ids == [view.user.data_key_id] and erased.actor == "helpdesk"  # type: ignore[attr-defined]
    created = events[0]
    assert isinstance(created.email, Encrypted)  # type: ignore[attr-defined]
    assert await world.personal.live_key(await _user(world, "alice")) is None
    with pytest.raises(NotFound):
        await world.queries.users.get("acme", "alice")


async def test_a_deletion_with_a_delay_erases_when_it_is_due(world: World) -> None:
    commands = world.commands_with_delay(timedelta(days=90))
    view = await commands.users.register("acme", "alice", ALICE)
    await commands.users.delete("acme", "alice", actor="helpdesk")
    user_id = User.create_id("acme", "alice")
    eraser = Eraser(world.store, world.clock)
    world.clock.now += timedelta(days=89)
    assert await eraser.erase_due() == 0 and world.keys.of(user_id) != []
    world.clock.now += timedelta(days=1)
    assert await eraser.erase_due() == 1
    assert world.keys.of(user_id) == []
    events = [type(e).__name__ for e in await world.store.events_of(user_id)]
    assert events[-2:] == ["UserDeleted", "UserErased"]
    assert await eraser.erase_due() == 0  # nothing left: a second runner changes nothing
    assert view.user.data_key_id is not None


async def test_a_person_registered_again_is_a_new_person_with_a_new_key(world: World) -> None:
    commands = world.commands_with_delay(timedelta(days=1))
    first = await commands.users.register("acme", "alice", ALICE)
    await commands.users.delete("acme", "alice", actor="helpdesk")
    second = await commands.users.register("acme", "alice", replace(ALICE, email="new@corp.local"))
    assert second.user.data_key_id not in (None, first.user.data_key_id)
    world.clock.now += timedelta(days=2)
    assert await Eraser(world.store, world.clock).erase_due() == 1  # the first person's key
    got = await world.queries.users.get("acme", "alice")
    user_id = User.create_id("acme", "alice")
    assert got.revealer.reveal(got.user.email, user_id, "email") == "new@corp.local"
    assert [k.key_id for k in world.keys.of(user_id)] == [second.user.data_key_id]


async def test_erase_by_request_deletes_a_live_person_and_is_idempotent(world: World) -> None:
    await world.commands.users.register("acme", "alice", ALICE)
    outcome = await world.create()
    erasure = await erase_now(world.store, "acme", "alice", "dpo@acme")
    assert erasure.deleted and len(erasure.key_ids) == 1
    credential = await world.store.get_or_none(outcome.credential.id)
    assert isinstance(credential, TempStrongPassword) and credential.deleted
    again = await erase_now(world.store, "acme", "alice", "dpo@acme")
    assert again.key_ids == () and not again.deleted
    user_id = User.create_id("acme", "alice")
    names = [type(e).__name__ for e in await world.store.events_of(user_id)]
    assert names.count("UserErased") == 1
    with pytest.raises(NotFound):
        await erase_now(world.store, "acme", "nobody", "dpo@acme")


# -- what the out-of-band channel carries -------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "method", "address"),
    [(None, "Email", "email"), ("sms", "SMS", "mobile"), ("letter", "PDFstore", None)],
)
async def test_an_envelope_carries_its_channel_s_address_only_sealed_to_the_person(
    world: World, policy: str | None, method: str, address: str | None
) -> None:
    await world.commands.users.register("acme", "alice", ALICE)
    outcome = await world.create(policy=policy)
    (created,) = await world.store.events_of(outcome.credential.id)
    envelope = DeliveryEnvelope.of_event(
        StoredDelivery.from_event_attribute(created.delivery),  # type: ignore[attr-defined]
        outcome.credential.id,
        1,
    )
    opened = open_delivery(Opener(encode_key(world.delivery_key)), envelope)
    assert opened.sending_method is SendingMethod(method)
    assert (opened.email, opened.mobile, opened.login_id) == (None, None, None)
    assert (opened.sealed_address is None) == (address is None)
    key = await world.personal.live_key(await _user(world, "alice"))
    assert key is not None
    revealed = opened.revealed(key.open)
    expected = {"email": None, "mobile": None}
    if address is not None:
        expected[address] = getattr(ALICE, address)
    assert {"email": revealed.email, "mobile": revealed.mobile} == expected
    assert revealed.login_id == ALICE.login_id


async def test_the_worker_skips_an_erased_person_s_envelope_and_sends_the_others(
    world: World,
) -> None:
    for name in ("alice", "bob"):
        await world.commands.users.register("acme", name, replace(ALICE, email=f"{name}@x.test"))
        await world.create(name)
    bodies = []
    for name in ("alice", "bob"):
        credential = (await world.queries.credentials.get("acme", name)).credential
        (created,) = await world.store.events_of(credential.id)
        envelope = DeliveryEnvelope.of_event(
            StoredDelivery.from_event_attribute(created.delivery),  # type: ignore[attr-defined]
            credential.id,
            1,
        )
        bodies.append(envelope)
    await world.commands.users.delete("acme", "alice", actor="helpdesk")  # erased at once
    email, metrics = FakeChannel(), DeliveryMetrics()
    worker = DeliveryWorker(
        opener=Opener(encode_key(world.delivery_key)),
        keyring=world.keyring,
        data_keys=TableDataKeys(world.keys),
        channels={SendingMethod.EMAIL: email},
        dedup=FlakyDedup(),
        supersession=FakeSupersession(),
        metrics=metrics,
        max_attempts=MAX_ATTEMPTS,
        backoff=BACKOFF,
    )
    outcomes = [await worker.handle(e.to_body(), e.message_id, 1) for e in bodies]
    assert [o.action for o in outcomes] == [Action.ACK, Action.ACK]
    assert [m.email for m in email.sent] == ["bob@x.test"]
    skipped = {"channel": "Email", "outcome": "skipped_erased"}
    assert metrics.registry.get_sample_value("tempstrong_deliveries_total", skipped) == 1


async def _user(world: World, name: str) -> User:
    user = await world.store.get_or_none(User.create_id("acme", name))
    assert isinstance(user, User)
    return user
