"""Parsing and opening envelopes: anything malformed is a PermanentFailure, nothing else."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.contracts.envelope import DeliveryEnvelope, MalformedEnvelope, open_delivery
from service.domain.policy import SendingMethod
from service.security.sealing import Opener, Sealer
from tests.support.envelopes import issue

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)
FIELDS = (
    "secret",
    "clientExtId",
    "userExtId",
    "credentialExtId",
    "version",
    "sendingMethod",
    "loginId",
    "email",
    "mobile",
    "language",
)


def parses_or_fails_permanently(body: bytes) -> None:
    try:
        envelope = DeliveryEnvelope.from_body(body)
    except MalformedEnvelope:
        return
    assert isinstance(envelope.sending_method, SendingMethod)
    assert envelope.sending_method is not SendingMethod.NONE


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_parse_or_fail_permanently(body: bytes) -> None:
    parses_or_fails_permanently(body)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["keyId", "sealed", "sendingMethod", "eventId", "credentialId", "version", "x"]
        ),
        JSON_VALUES,
    )
)
def test_arbitrary_json_objects_parse_or_fail_permanently(document: dict[str, Any]) -> None:
    parses_or_fails_permanently(json.dumps(document).encode())


def test_deeply_nested_json_fails_permanently() -> None:
    parses_or_fails_permanently(b"[" * 100_000 + b"]" * 100_000)


@settings(max_examples=100, deadline=None)
@given(
    payload=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES),
    method=st.sampled_from(["Email", "SMS", "PDFstore"]),
)
def test_any_sealed_payload_opens_or_fails_permanently(
    sealer: Sealer, opener: Opener, payload: dict[str, Any], method: str
) -> None:
    sealed = sealer.seal(payload)
    envelope = DeliveryEnvelope(sealed["keyId"], sealed["sealed"], SendingMethod(method))
    try:
        request = open_delivery(opener, envelope)
    except MalformedEnvelope as failure:
        secret = payload.get("secret")
        if isinstance(secret, str) and len(secret) > 3:
            assert secret not in str(failure)
        return
    assert request.sending_method is SendingMethod(method)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=64), st.binary(max_size=64))
def test_garbage_ciphertext_fails_permanently(opener: Opener, key_id: str, noise: bytes) -> None:
    sealed = base64.b64encode(noise).decode()
    for kid in (key_id, next(iter(opener.key_ids))):
        try:
            open_delivery(opener, DeliveryEnvelope(kid, sealed, SendingMethod.EMAIL))
        except MalformedEnvelope:
            continue
        raise AssertionError("garbage opened")


def test_a_sealed_envelope_opens_into_the_request(sealer: Sealer, opener: Opener) -> None:
    issued = issue(sealer, "SMS", mobile="+41790000000", login_id="bob", language="fr")
    request = open_delivery(opener, DeliveryEnvelope.from_body(issued.body))
    assert request.secret == issued.secret
    assert request.mobile == "+41790000000" and request.email is None
    assert str(request.event_id) == issued.message_id
    assert str(request.credential_id) == issued.credential_id
    assert request.addressee == "bob"
    assert issued.secret not in repr(request) and "+4179" not in repr(request)


def test_path_like_identifiers_are_refused(sealer: Sealer, opener: Opener) -> None:
    for client, user in (("../etc", "u"), ("acme", "a/b"), ("acme", "a b")):
        issued = issue(sealer, "PDFstore", client=client, user=user)
        try:
            open_delivery(opener, DeliveryEnvelope.from_body(issued.body))
        except MalformedEnvelope:
            continue
        raise AssertionError(f"accepted {client!r}/{user!r}")


def test_the_message_id_is_the_issuing_event_id_unique_across_clients(sealer: Sealer) -> None:
    """Issue 11 finding 3: the same credential extId and version in two clients."""
    a = issue(sealer, "Email", client="acme", credential="tsp-d1", version=3, email="a@example.com")
    b = issue(
        sealer, "Email", client="other", credential="tsp-d1", version=3, email="b@example.com"
    )
    assert a.message_id != b.message_id
    assert len(a.message_id.encode()) <= 255  # an AMQP short string


def test_ids_outside_must_match_what_is_sealed(sealer: Sealer, opener: Opener) -> None:
    issued = issue(sealer, "Email", version=2, email="a@example.com")
    other = issue(sealer, "Email", version=2, email="b@example.com")
    swapped = DeliveryEnvelope.from_body(issued.body)
    forged = DeliveryEnvelope(
        swapped.key_id,
        swapped.sealed,
        swapped.sending_method,
        *DeliveryEnvelope.from_body(other.body).ids(),
    )
    try:
        open_delivery(opener, forged)
    except MalformedEnvelope:
        return
    raise AssertionError("an envelope whose ids name another credential was opened")


def test_an_envelope_from_before_the_ids_still_opens(sealer: Sealer, opener: Opener) -> None:
    issued = issue(sealer, "SMS", mobile="+41790000000")
    legacy = {
        k: v
        for k, v in json.loads(issued.body).items()
        if k in ("keyId", "sealed", "sendingMethod")
    }
    envelope = DeliveryEnvelope.from_body(json.dumps(legacy).encode())
    assert envelope.event_id is None
    assert open_delivery(opener, envelope).secret == issued.secret
