"""Parsing and opening envelopes: anything malformed is a PermanentFailure, nothing else."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.delivery.envelope import (
    Envelope,
    SendingMethod,
    open_envelope,
    parse_envelope,
)
from service.delivery.failures import PermanentFailure
from service.sealing import Opener, Sealer
from tests.delivery.envelopes import issue

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
        envelope = parse_envelope(body)
    except PermanentFailure:
        return
    assert isinstance(envelope.sending_method, SendingMethod)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_parse_or_fail_permanently(body: bytes) -> None:
    parses_or_fails_permanently(body)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["keyId", "sealed", "sendingMethod", "x"]), JSON_VALUES))
def test_arbitrary_json_objects_parse_or_fail_permanently(document: dict[str, Any]) -> None:
    parses_or_fails_permanently(json.dumps(document).encode())


def test_deeply_nested_json_fails_permanently() -> None:
    parses_or_fails_permanently(b"[" * 100_000 + b"]" * 100_000)


@settings(max_examples=200, deadline=None)
@given(
    payload=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES),
    method=st.sampled_from(["Email", "SMS", "PDFstore"]),
)
def test_any_sealed_payload_opens_or_fails_permanently(
    sealer: Sealer, opener: Opener, payload: dict[str, Any], method: str
) -> None:
    sealed = sealer.seal(payload)
    envelope = Envelope(sealed["keyId"], sealed["sealed"], SendingMethod(method))
    try:
        request = open_envelope(opener, envelope)
    except PermanentFailure as failure:
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
            open_envelope(opener, Envelope(kid, sealed, SendingMethod.EMAIL))
        except PermanentFailure:
            continue
        raise AssertionError("garbage opened")


def test_a_sealed_envelope_opens_into_the_request(sealer: Sealer, opener: Opener) -> None:
    issued = issue(sealer, "SMS", mobile="+41790000000", login_id="bob", language="fr")
    request = open_envelope(opener, parse_envelope(issued.body))
    assert request.secret == issued.secret
    assert request.mobile == "+41790000000" and request.email is None
    assert request.message_id == issued.message_id
    assert str(request.credential_id) == issued.credential_id
    assert request.addressee == "bob"
    assert issued.secret not in repr(request) and "+4179" not in repr(request)


def test_path_like_identifiers_are_refused(sealer: Sealer, opener: Opener) -> None:
    for client, user in (("../etc", "u"), ("acme", "a/b"), ("acme", "a b")):
        issued = issue(sealer, "PDFstore", client=client, user=user)
        try:
            open_envelope(opener, parse_envelope(issued.body))
        except PermanentFailure:
            continue
        raise AssertionError(f"accepted {client!r}/{user!r}")
