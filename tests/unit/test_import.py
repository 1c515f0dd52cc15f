"""`tempstrong import` without I/O: a line checked as the API checks a body, prepared into the
events the API would have stored, and a batch written with its refusals in order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.persistence import IntegrityError, StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from service.commands.imports import (
    EXISTED,
    IMPORTED,
    ImportPreparer,
    LineResult,
    Prepared,
    PreparedUser,
    write_prepared,
)
from service.domain.credential import TempStrongPassword
from service.domain.password import PasswordHasher
from service.domain.policy_file import parse_policy_document
from service.domain.states import CredentialState, StateChangeReason
from service.domain.user import User
from service.eventstore.application import event_mapper
from service.eventstore.port import KeyChanges
from service.privacy.data_keys import DataKey
from service.privacy.keyring import new_keyring_document, parse_keyring
from service.roots.importer import BadLine, parse_line

POLICIES = {
    "clients": {"acme": {"defaultPolicy": "tsp-default", "policies": ["tsp-hmac"]}},
    "policies": {
        "tsp-default": {"type": "TempStrongPasswordPolicy"},
        "tsp-hmac": {"type": "TempStrongPasswordPolicy", "hashAlgorithm": "HMAC-SHA256"},
        "tsp-elsewhere": {"type": "TempStrongPasswordPolicy"},
    },
}
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
HASH_KEY = b"h" * 32
HASHER = PasswordHasher(HASH_KEY)
CATALOG = parse_policy_document(POLICIES, HASH_KEY)
KNOWN_HASH = HASHER.hash("what-the-old-system-knew", CATALOG.default_policy("acme").hash_algorithm)
KEYRING = parse_keyring(new_keyring_document())
MAPPER = event_mapper()


def _preparer() -> ImportPreparer:
    return ImportPreparer(CATALOG, HASHER, KEYRING, MAPPER, lambda: NOW)


def _line(document: dict[str, Any], number: int = 1) -> Prepared:
    return _preparer().prepare("acme", parse_line(number, json.dumps(document)))


def _aggregates(prepared: PreparedUser) -> dict[type, Any]:
    by_id: dict[UUID | str, list[StoredEvent]] = {}
    for stored in prepared.events:
        by_id.setdefault(stored.originator_id, []).append(stored)
    built = [
        project_aggregate(None, [MAPPER.to_domain_event(e) for e in events])
        for events in by_id.values()
    ]
    return {type(aggregate): aggregate for aggregate in built}


# -- a line ----------------------------------------------------------------------------------


def test_a_line_is_checked_by_the_apis_rules_and_named_by_its_number() -> None:
    bad = {
        "[1]": "not a JSON object",
        "{": "The JSON is not valid.",
        '{"extId": "a", "extId": "b"}': "duplicated key",
        '{"email": "a@corp.local"}': "Field extId is required.",
        '{"extId": "a", "password": "x"}': "Unknown field(s): password.",
        '{"extId": "a", "email": "a@"}': "Field email has an invalid format.",
        '{"extId": "../a"}': "Field extId has an invalid format.",
        '{"extId": "a", "tempStrongPassword": 1}': "tempStrongPassword must be a JSON object",
        '{"extId": "a", "tempStrongPassword": {"resetCount": -1}}': "non-negative",
        '{"extId": "a", "tempStrongPassword": {"stateName": "locked"}}': "must be one of",
        '{"extId": "a", "tempStrongPassword": {"lastFailedLoginDate": "2026-12-01"}}': (
            "lastFailedLoginDate has an invalid format"  # a date without a time and offset
        ),
    }
    for text, reason in bad.items():
        with pytest.raises(BadLine) as refused:
            parse_line(7, text)
        assert refused.value.line == 7 and reason in refused.value.reason, text
        assert str(refused.value).startswith("line 7: ")


def test_a_refusal_never_quotes_the_value() -> None:
    with pytest.raises(BadLine) as refused:
        parse_line(1, json.dumps({"extId": "a", "email": "secret-person@"}))
    assert "secret-person" not in str(refused.value)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_any_text_is_a_user_or_a_bad_line(text: str) -> None:
    try:
        user = parse_line(1, text)
    except BadLine as bad:
        assert bad.reason and bad.line == 1
    else:
        assert user.ext_id and user.line == 1


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["extId", "loginId", "email", "mobile", "language", "tempStrongPassword"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=40), st.booleans(),
                  st.dictionaries(st.text(max_size=20), st.integers() | st.text(max_size=20))),
    )
)  # fmt: skip
def test_any_object_is_prepared_or_refused_with_a_reason(document: dict[str, Any]) -> None:
    try:
        prepared = _line(document)
    except BadLine as bad:
        assert bad.reason
    else:
        assert isinstance(prepared, PreparedUser) or prepared.failed


# -- prepared as the API would have stored it --------------------------------------------------


def test_a_user_and_credential_are_the_apis_events_with_the_persons_values_sealed() -> None:
    prepared = _line(
        {
            "extId": "ann",
            "loginId": "ann.smith",
            "email": "ann@corp.local",
            "mobile": "+41790000001",
            "language": "de",
            "tempStrongPassword": {
                "extId": "tsp-ann",
                "stateName": "active",
                "resetCount": 2,
                "successfulLoginCount": 9,
                "failedLoginCount": 1,
                "lastSuccessfulLoginDate": "2026-11-30T08:00:00+01:00",
                "lastFailedLoginDate": "2026-11-29T08:00:00Z",
                "hash": KNOWN_HASH,
            },
        }
    )
    assert isinstance(prepared, PreparedUser)
    everything = b"".join(e.state for e in prepared.events)
    for clear in (b"ann.smith", b"ann@corp.local", b"41790000001"):
        assert clear not in everything  # sealed to the person's key
    built = _aggregates(prepared)
    user, credential = built[User], built[TempStrongPassword]
    assert user.id == User.create_id("acme", "ann") == prepared.user_id
    assert user.credential_id == credential.id
    assert prepared.named_credential == ("tsp-ann", credential.id)
    (wrapped,) = prepared.keys.new
    assert wrapped.subject_id == user.id and wrapped.key_id == user.data_key_id
    key = DataKey(wrapped.key_id, KEYRING.unwrap(wrapped))
    assert key.open(user.email, user.id, "email") == "ann@corp.local"
    assert key.open(user.login_id, user.id, "login_id") == "ann.smith"
    assert credential.state is CredentialState.ACTIVE
    assert credential.state_change_reason is StateChangeReason.ACTIVATED
    assert (credential.reset_count, credential.successful_login_count) == (2, 9)
    assert credential.failed_login_count == 1
    assert credential.last_successful_login == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    assert credential.last_failed_login == datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    assert HASHER.verify("what-the-old-system-knew", credential.password_hash)
    assert credential.created_by == "tempstrong import"
    assert credential.valid_until > NOW


def test_without_a_hash_the_credential_gets_one_nobody_knows_and_starts_initial() -> None:
    first, second = (
        _line({"extId": "a", "tempStrongPassword": {}}),
        _line({"extId": "b", "tempStrongPassword": {}}),
    )
    assert isinstance(first, PreparedUser) and isinstance(second, PreparedUser)
    one, other = _aggregates(first)[TempStrongPassword], _aggregates(second)[TempStrongPassword]
    assert one.password_hash != other.password_hash and one.password_hash.startswith("{SSHA256}")
    assert one.state is CredentialState.INITIAL and one.reset_count == 0
    assert first.named_credential is None  # a generated extId cannot be taken


def test_the_clients_rules_refuse_what_the_api_would() -> None:
    refused = {
        "tmp-locked": {"stateName": "tmp-locked"},
        "is not allowed": {"policyExtId": "tsp-elsewhere"},  # not one of the client's
        "{SSHA256}": {"hash": "secret-in-the-clear"},
    }
    for reason, credential in refused.items():
        result = _line({"extId": "a", "tempStrongPassword": credential}, number=4)
        assert isinstance(result, LineResult) and result.line == 4, reason
        assert reason in result.outcome, (reason, result.outcome)
    assert "secret-in-the-clear" not in str(_line({"extId": "a", "tempStrongPassword": {
        "hash": "secret-in-the-clear"}}))  # fmt: skip
    elsewhere = _preparer().prepare("nobody", parse_line(1, '{"extId": "a"}'))
    assert isinstance(elsewhere, LineResult) and elsewhere.failed


def test_a_fail_locked_credential_stays_locked() -> None:
    prepared = _line({"extId": "a", "tempStrongPassword": {"stateName": "fail-locked"}})
    assert isinstance(prepared, PreparedUser)
    credential = _aggregates(prepared)[TempStrongPassword]
    assert credential.state is CredentialState.FAIL_LOCKED
    assert credential.state_change_reason is StateChangeReason.TOO_MANY_LOGIN_FAILURES


# -- a batch written -----------------------------------------------------------------------------


class FakeStore:
    def __init__(self, existing: set[UUID] = frozenset(), conflicting: set[UUID] = frozenset()):  # type: ignore[assignment]
        self.known = set(existing)
        self.conflicting = conflicting
        self.appended: list[Sequence[StoredEvent]] = []
        self.queries = 0

    async def existing(self, aggregate_ids: Sequence[UUID]) -> set[UUID]:
        self.queries += 1
        return self.known & set(aggregate_ids)

    async def append(self, events: Sequence[StoredEvent], keys: KeyChanges) -> None:
        if {event.originator_id for event in events} & self.conflicting:
            raise IntegrityError("taken meanwhile")
        self.appended.append(events)


def _batch(*documents: dict[str, Any]) -> list[Prepared]:
    return [_line(d, number) for number, d in enumerate(documents, start=1)]


async def test_a_batch_costs_one_query_and_keeps_the_lines_order() -> None:
    store = FakeStore(existing={User.create_id("acme", "old")})
    batch = _batch(
        {"extId": "a"},
        {"extId": "old"},
        {"extId": "b", "tempStrongPassword": {"stateName": "tmp-locked"}},
        {"extId": "a"},
        {"extId": "c", "tempStrongPassword": {"extId": "shared"}},
        {"extId": "d", "tempStrongPassword": {"extId": "shared"}},
    )
    results = await write_prepared(store, batch)
    assert store.queries == 1
    assert [r.line for r in results] == [1, 2, 3, 4, 5, 6]
    assert [r.outcome for r in results][:2] == [IMPORTED, EXISTED]
    assert "tmp-locked" in results[2].outcome
    assert results[3].outcome == "user a is on line 1"
    assert results[4].outcome == IMPORTED
    assert results[5].outcome == "credential extId shared is on line 5"
    (saved,) = store.appended  # one save for the batch: a's events and c's
    assert {e.originator_id for e in saved} >= {User.create_id("acme", x) for x in "ac"}
    assert len(saved) == 1 + 3  # a: registered; c: registered, credential created, attached


async def test_a_credential_extid_in_use_is_refused_and_nothing_of_the_line_is_written() -> None:
    taken = TempStrongPassword.create_id("acme", "taken")
    store = FakeStore(existing={taken})
    (result,) = await write_prepared(
        store, _batch({"extId": "a", "tempStrongPassword": {"extId": "taken"}})
    )
    assert result.outcome == "credential extId taken is in use" and store.appended == []


async def test_stop_on_error_writes_nothing_after_the_first_refused_line() -> None:
    store = FakeStore()
    batch = _batch({"extId": "a"}, {"extId": "a"}, {"extId": "b"})
    results = await write_prepared(store, batch, stop_on_error=True)
    assert [r.outcome for r in results] == [IMPORTED, "user a is on line 1"]
    assert len(store.appended) == 1


async def test_a_user_written_meanwhile_by_another_import_counts_as_there() -> None:
    store = FakeStore(conflicting={User.create_id("acme", "b")})
    results = await write_prepared(store, _batch({"extId": "a"}, {"extId": "b"}))
    assert [r.outcome for r in results] == [IMPORTED, EXISTED]
    assert len(store.appended) == 1  # the batch failed as a whole; then a alone was saved
