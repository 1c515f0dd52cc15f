"""Issue 11, finding 6: what the API accepts, the delivery worker can send to.

Emails with `,` `<` `>` `"` `;` or NUL were stored and then dead-lettered by the worker (NUL
after 5 retries): the caller got 200 and fragment0, fragment1 never came.

Issue 18, item 1: the rule is syntax only. Special-use and single-label domains (`x@corp.local`,
`x@localhost`) were refused, a local part over 64 characters accepted. The corpus
(tests/fixtures/email_addresses.json) goes through the API and through the worker.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.delivery.channels.email import SmtpChannel, parse_smtp_url
from service.delivery.worker import Outcome
from service.domain.addresses import is_valid_email, is_valid_language, is_valid_mobile
from tests.support.addresses import ACCEPTED, EMAIL_CORPUS, REFUSED, corpus_ids
from tests.support.delivery_rig import make_rig
from tests.support.envelopes import issue
from tests.support.http import BASE, Caller, new_user_id
from tests.support.sinks import SmtpSink


async def test_the_api_answers_each_corpus_address_as_the_rule_decides(api, tokens):
    """Issue 18, item 1: 201 for what the rule accepts (special-use domains too), else 400."""
    caller = Caller(api, tokens.admin())
    wrong = []
    for entry in EMAIL_CORPUS:
        response, body = await caller.request(
            "POST", f"{BASE}/acme/users", json={"extId": new_user_id(), "email": entry.address}
        )
        answer = (response.status, body["errors"][0]["code"] if response.status == 400 else None)
        if answer != ((201, None) if entry.accept else (400, "errors.validation")):
            wrong.append(f"{response.status} {body}: {entry}")
    assert wrong == []


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


@pytest.mark.parametrize("entry", REFUSED, ids=corpus_ids(REFUSED))
async def test_the_worker_dead_letters_an_address_the_rule_refuses_at_once(entry):
    rig = make_rig()
    mail = issue(rig.sealer, "Email", email=entry.address)
    assert await rig.worker.handle(mail.body, mail.message_id, 1) == Outcome.dead_letter(), entry
    assert rig.email.calls == 0


async def test_the_worker_mails_every_address_the_rule_accepts_through_a_real_relay():
    """Issue 18, item 1: what the API accepts, the worker sends (`x@corp.local`, `x@localhost`,
    a 64-character local part, every atext symbol), and the relay gets it unchanged."""
    sink = SmtpSink()
    sink.start()
    relay = SmtpChannel(parse_smtp_url(sink.url))
    try:
        rig = make_rig(relay=relay)
        for entry in ACCEPTED:
            mail = issue(rig.sealer, "Email", email=entry.address)
            assert await rig.worker.handle(mail.body, mail.message_id, 1) == Outcome.ack(), entry
            [received] = sink.to(entry.address)
            assert received.recipients == [entry.address], entry
            assert received.message["To"] == entry.address, entry
            assert f"Code: {mail.secret}" in received.text.splitlines()
    finally:
        await relay.close()
        sink.stop()


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
