"""Sealed boxes: only the worker's private key opens them; the envelope names its key."""

from __future__ import annotations

import base64
import hashlib

import pytest
from nacl.public import PrivateKey

from service.security.sealing import Opener, Sealer, SealingError, encode_key


def _pair() -> tuple[str, str]:
    key = PrivateKey.generate()
    return encode_key(key.public_key), encode_key(key)


def test_seal_and_open_round_trip_without_plaintext_in_the_envelope():
    public, private = _pair()
    envelope = Sealer(public).seal({"secret": "fragment-1-secret", "email": "a@b.c"})
    assert "fragment-1-secret" not in str(envelope)
    assert b"fragment-1-secret" not in base64.b64decode(envelope["sealed"])
    assert Opener(private).open(envelope) == {"secret": "fragment-1-secret", "email": "a@b.c"}


def test_key_id_is_the_first_8_bytes_of_the_public_keys_sha256():
    public, _ = _pair()
    expected = hashlib.sha256(base64.b64decode(public)).digest()[:8].hex()
    assert Sealer(public).key_id == expected
    assert Sealer(public).seal({})["keyId"] == expected


def test_rotation_opens_with_any_listed_key():
    old_public, old_private = _pair()
    new_public, new_private = _pair()
    opener = Opener(f"{new_private},{old_private}")
    assert opener.open(Sealer(old_public).seal({"v": 1})) == {"v": 1}
    assert opener.open(Sealer(new_public).seal({"v": 2})) == {"v": 2}


def test_wrong_key_or_tampering_fails_without_details():
    public, _ = _pair()
    _, other_private = _pair()
    envelope = Sealer(public).seal({"secret": "s3cr3t"})
    with pytest.raises(SealingError, match="no private key"):
        Opener(other_private).open(envelope)
    _, private = _pair()
    tampered = {**envelope, "sealed": base64.b64encode(b"x" * 80).decode()}
    with pytest.raises(SealingError):
        Opener(private).open({**tampered, "keyId": Opener(private).key_ids.__iter__().__next__()})


@pytest.mark.parametrize("bad", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_bad_keys_are_refused_with_the_setting_name(bad):
    with pytest.raises(SealingError, match="TEMPSTRONG_DELIVERY_PUBLIC_KEY"):
        Sealer(bad)
