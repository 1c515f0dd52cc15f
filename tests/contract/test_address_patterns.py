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

PROPERTIES: dict[str, Any] = build_openapi()["components"]["schemas"]["UserCreate"]["properties"]
EXAMPLES = settings(max_examples=300, derandomize=True, database=None, deadline=None)


@EXAMPLES
@given(st.emails())
def test_the_email_pattern_holds_for_every_address_the_server_accepts(email):
    if is_valid_email(email):
        assert re.fullmatch(PROPERTIES["email"]["pattern"], email), email
        assert len(email) <= PROPERTIES["email"]["maxLength"]


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
