"""The OpenAPI patterns of email, mobile and language hold for every value the server accepts.

The server checks these fields with the functions of service/domain/addresses.py; the document
gives clients a pattern implied by each check (the server may refuse more, never less).
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.addresses import LANGUAGE, MOBILE, is_valid_email, is_valid_language
from service.http.openapi import build_openapi
from tests.support.addresses import EMAIL_CORPUS
from tests.support.ecma import ecma_test

PROPERTIES: dict[str, Any] = build_openapi()["components"]["schemas"]["UserCreate"]["properties"]
EXAMPLES = settings(max_examples=300, derandomize=True, database=None, deadline=None)


@EXAMPLES
@given(st.emails())
def test_the_email_pattern_holds_for_every_address_the_server_accepts(email):
    if is_valid_email(email):
        assert re.fullmatch(PROPERTIES["email"]["pattern"], email), email
        assert len(email) <= PROPERTIES["email"]["maxLength"]


def test_the_published_email_pattern_and_length_decide_the_corpus_as_the_server_does():
    """Issue 18, item 1: the document states the rule itself (the pattern, run as ECMA-262, and
    maxLength), so a client's own check agrees with the server on every corpus address."""
    pattern, max_length = PROPERTIES["email"]["pattern"], PROPERTIES["email"]["maxLength"]
    addresses = [entry.address for entry in EMAIL_CORPUS]
    published = ecma_test(pattern, addresses)
    wrong = [
        str(entry)
        for entry, matches in zip(EMAIL_CORPUS, published, strict=True)
        if (matches and len(entry.address) <= max_length) != entry.accept
    ]
    assert wrong == []


@EXAMPLES
@given(st.from_regex(LANGUAGE, fullmatch=True))
def test_the_language_pattern_holds_for_every_tag_the_server_accepts(tag):
    if is_valid_language(tag):
        assert re.fullmatch(PROPERTIES["language"]["pattern"], tag), tag


def test_the_mobile_pattern_is_the_server_s():
    assert PROPERTIES["mobile"]["pattern"] == f"^{MOBILE.pattern}$" == r"^\+[0-9]{7,15}$"


def test_the_examples_are_accepted_by_the_server():
    assert is_valid_email(PROPERTIES["email"]["example"])
    assert is_valid_language(PROPERTIES["language"]["example"])
    assert MOBILE.fullmatch(PROPERTIES["mobile"]["example"])
