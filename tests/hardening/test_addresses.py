"""Issue 11, finding 6: what the API accepts, the delivery worker can send to.

Emails with `,` `<` `>` `"` `;` or NUL were stored and then dead-lettered by the worker (NUL
after 5 retries): the caller got 200 and fragment0, fragment1 never came.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.delivery.worker import Outcome
from service.domain.addresses import is_valid_email, is_valid_language, is_valid_mobile
from tests.support.delivery_rig import make_rig
from tests.support.envelopes import issue
from tests.support.http import BASE, Caller

BAD_EMAILS = [
    "a,b@example.com",
    "<a@example.com>",
    "Alice <a@example.com>",
    '"a"@example.com',
    "a@example.com;b@example.com",
    "a@example.com\x00",
    "a b@example.com",
    "a@example.com\r\nBcc: x@example.com",
    "a@localhost",
    "é@example.com",
    "a@" + "x" * 250 + ".com",
]


@pytest.mark.parametrize("email", BAD_EMAILS)
async def test_the_api_refuses_an_email_the_worker_could_not_send_to(api, tokens, email):
    caller = Caller(api, tokens.admin())
    response, body = await caller.request(
        "POST", f"{BASE}/acme/users", json={"extId": "addr-user", "email": email}
    )
    assert response.status == 400 and body["errors"][0]["code"] == "errors.validation"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mobile", "+41 79 000 00 00"),
        ("mobile", "0790000000"),
        ("mobile", "+123456"),
        ("mobile", "+1234567890123456"),
        ("language", "english please"),
        ("language", "de_CH"),
        ("language", "de-" + "a" * 33),
    ],
)
async def test_the_api_refuses_a_mobile_or_language_outside_the_syntax(api, tokens, field, value):
    caller = Caller(api, tokens.admin())
    response, body = await caller.request(
        "POST", f"{BASE}/acme/users", json={"extId": "addr-user", field: value}
    )
    assert response.status == 400 and body["errors"][0]["code"] == "errors.validation"


async def test_good_addresses_are_accepted(api, tokens):
    caller = Caller(api, tokens.admin())
    user = await caller.create_user(
        "acme", email="first.last+tag@sub.example.co", mobile="+41790000000", language="de-CH"
    )
    assert user


@pytest.mark.parametrize("email", ["a,b@example.com", "a@example.com\x00", "<a@example.com>"])
async def test_the_worker_dead_letters_a_malformed_address_at_once(email):
    rig = make_rig()
    mail = issue(rig.sealer, "Email", email=email)
    assert await rig.worker.handle(mail.body, mail.message_id, 1) == Outcome.dead_letter()
    assert rig.email.calls == 0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_whatever_the_api_accepts_has_no_character_smtp_would_choke_on(text):
    if is_valid_email(text):
        assert text.isascii() and len(text) <= 254 and text.count("@") == 1
        assert not any(c in text for c in ' ,;<>"\r\n\x00()[]\\')
    if is_valid_mobile(text):
        assert text.startswith("+") and text[1:].isdigit() and 7 <= len(text) - 1 <= 15
    if is_valid_language(text):
        assert len(text) <= 35 and text.isascii()
