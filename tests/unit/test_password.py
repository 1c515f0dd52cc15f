"""Fragments from the CSPRNG, salted hashes with prefix, constant-time verification."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.password import PasswordHasher, generate_password, random_string
from service.domain.policy import HashAlgorithm, TempStrongPasswordPolicy

KEY = b"k" * 32


def test_fragments_have_policy_lengths_and_charset():
    policy = TempStrongPasswordPolicy(ticket_character_set="abc", ticket_len0=12, ticket_len1=5)
    password = generate_password(policy)
    assert len(password.fragment0) == 12 and len(password.fragment1) == 5
    assert set(password.whole) <= set("abc")
    assert password.whole == password.fragment0 + password.fragment1


def test_fragments_are_not_repeated():
    policy = TempStrongPasswordPolicy()
    assert len({generate_password(policy).whole for _ in range(200)}) == 200


def test_repr_never_shows_the_secret():
    password = generate_password(TempStrongPasswordPolicy())
    assert password.fragment0 not in repr(password) and password.fragment1 not in repr(password)


def test_ssha256_is_ldap_compatible():
    stored = PasswordHasher(None).hash("secret", HashAlgorithm.SSHA256)
    assert stored.startswith("{SSHA256}")
    raw = base64.b64decode(stored.removeprefix("{SSHA256}"))
    digest, salt = raw[:32], raw[32:]
    assert len(salt) >= 8
    assert hashlib.sha256(b"secret" + salt).digest() == digest


def test_salts_differ():
    hasher = PasswordHasher(None)
    assert hasher.hash("x", HashAlgorithm.SSHA256) != hasher.hash("x", HashAlgorithm.SSHA256)


@given(password=st.text(min_size=1, max_size=80), other=st.text(min_size=1, max_size=80))
@pytest.mark.parametrize("algorithm", list(HashAlgorithm))
def test_verify_accepts_only_the_password(algorithm, password, other):
    hasher = PasswordHasher(KEY)
    stored = hasher.hash(password, algorithm)
    assert hasher.verify(password, stored)
    assert hasher.verify(other, stored) == (other == password)


def test_hmac_depends_on_the_server_key():
    stored = PasswordHasher(KEY).hash("pw", HashAlgorithm.HMAC_SHA256)
    assert stored.startswith("{HMAC-SHA256}")
    assert not PasswordHasher(b"z" * 32).verify("pw", stored)


def test_hmac_without_key_refuses():
    with pytest.raises(RuntimeError):
        PasswordHasher(None).hash("pw", HashAlgorithm.HMAC_SHA256)


@given(stored=st.text(max_size=120))
def test_verify_of_garbage_is_false_not_an_error(stored):
    assert PasswordHasher(KEY).verify("pw", stored) is False


@given(
    charset=st.text(min_size=1, max_size=300).map(lambda s: "".join(dict.fromkeys(s))),
    length=st.integers(min_value=0, max_value=80),
)
def test_random_strings_have_the_length_and_only_the_charset(charset, length):
    value = random_string(charset, length)
    assert len(value) == length and set(value) <= set(charset)


def test_random_strings_have_no_modulo_bias():
    # 255 characters: a plain `byte % 255` would pick the first one twice as often (byte 0 and
    # byte 255); 255,000 draws put that 32 sigma away, uniform draws stay within 5
    charset = "".join(chr(0x100 + i) for i in range(255))
    draws = random_string(charset, 255_000)
    expected, sigma = 1000, 1000**0.5
    assert abs(draws.count(charset[0]) - expected) < 5 * sigma
    assert abs(draws.count(charset[-1]) - expected) < 5 * sigma
