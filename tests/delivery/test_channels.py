"""Each channel against a real server (aiosmtpd, an aiohttp SMS gateway) or the file system."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
from pathlib import Path

import pytest
from pypdf import PdfReader

from service.contracts.envelope import SealedDelivery
from service.delivery.channels.email import SmtpChannel, compose, parse_smtp_url
from service.delivery.channels.outbox import OutboxChannel
from service.delivery.channels.pdf import PdfSpoolChannel, letter_path
from service.delivery.channels.sms import HttpSmsChannel
from service.delivery.failures import PermanentFailure, TransientFailure
from service.delivery.texts import texts_for
from service.domain.policy import SendingMethod
from tests.support.envelopes import unique, unique_mobile
from tests.support.process import free_port
from tests.support.sinks import BUSY_DOMAIN, REFUSED_DOMAIN, SmsSink, SmtpSink


def request(method: SendingMethod, **overrides: object) -> SealedDelivery:
    fields: dict[str, object] = {
        "secret": "s3cr3t=Code+1",
        "client_ext_id": "acme",
        "user_ext_id": unique("user"),
        "credential_ext_id": unique("cred"),
        "version": 2,
        "sending_method": method,
        "login_id": "alice.smith",
        "email": f"{unique('alice')}@example.com",
        "mobile": "+41790000000",
        "language": None,
    }
    fields.update(overrides)
    return SealedDelivery(**fields)  # type: ignore[arg-type]


def code_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Code:")]


# -- Email ----------------------------------------------------------------------------------


async def test_email_arrives_with_the_code_on_its_own_line(smtp_sink: SmtpSink) -> None:
    message = request(SendingMethod.EMAIL)
    await SmtpChannel(parse_smtp_url(smtp_sink.url)).send(message)
    [mail] = smtp_sink.to(message.email or "")
    assert code_lines(mail.text) == ["Code: s3cr3t=Code+1"]
    assert b"\nCode: s3cr3t=Code+1\n" in mail.raw.replace(b"\r\n", b"\n")
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message.get_content_charset() == "utf-8"
    assert mail.message["Subject"] == texts_for("en").subject
    assert "alice.smith" in mail.text


async def test_email_is_localized_by_language(smtp_sink: SmtpSink) -> None:
    message = request(SendingMethod.EMAIL, language="de-CH")
    await SmtpChannel(parse_smtp_url(smtp_sink.url)).send(message)
    [mail] = smtp_sink.to(message.email or "")
    assert mail.message["Subject"] == "Ihr temporäres Passwort"
    assert "Guten Tag alice.smith," in mail.text
    assert code_lines(mail.text) == ["Code: s3cr3t=Code+1"]


def test_unknown_languages_fall_back_to_english() -> None:
    assert texts_for("xx") == texts_for(None) == texts_for("en-GB")
    assert texts_for("DE_at") == texts_for("de")


async def test_one_connection_carries_many_mails_and_a_dropped_one_is_replaced() -> None:
    sink = SmtpSink()
    sink.start()
    channel = SmtpChannel(parse_smtp_url(sink.url))
    try:
        messages = [request(SendingMethod.EMAIL) for _ in range(5)]
        for message in messages:
            await channel.send(message)
        assert all(len(sink.to(m.email or "")) == 1 for m in messages)
        assert sink.connections == 1
        # the relay restarts (or drops idle connections): the next mail opens a new one
        sink.stop()
        sink = SmtpSink(sink.port)
        sink.start()
        await asyncio.sleep(0.2)
        late = request(SendingMethod.EMAIL)
        await channel.send(late)
        assert len(sink.to(late.email or "")) == 1
        assert sink.connections == 1
    finally:
        await channel.close()
        sink.stop()


async def test_email_refused_with_5xx_is_permanent(smtp_sink: SmtpSink) -> None:
    message = request(SendingMethod.EMAIL, email=f"nobody@{REFUSED_DOMAIN}")
    with pytest.raises(PermanentFailure, match="550") as failure:
        await SmtpChannel(parse_smtp_url(smtp_sink.url)).send(message)
    assert "nobody" not in str(failure.value)


async def test_email_deferred_with_4xx_is_transient(smtp_sink: SmtpSink) -> None:
    message = request(SendingMethod.EMAIL, email=f"someone@{BUSY_DOMAIN}")
    with pytest.raises(TransientFailure, match="451"):
        await SmtpChannel(parse_smtp_url(smtp_sink.url)).send(message)


async def test_email_to_an_unreachable_relay_is_transient() -> None:
    channel = SmtpChannel(parse_smtp_url(f"smtp://127.0.0.1:{free_port()}"), timeout=5)
    with pytest.raises(TransientFailure):
        await channel.send(request(SendingMethod.EMAIL))


@pytest.mark.parametrize("address", [None, "", "no-at-sign", "a@b@c", "x@y\nBcc: z@w"])
def test_an_invalid_email_address_is_permanent(address: str | None) -> None:
    with pytest.raises(PermanentFailure):
        compose(request(SendingMethod.EMAIL, email=address), "noreply@example.com")


def test_smtp_urls_are_parsed() -> None:
    plain = parse_smtp_url("smtp://mail.internal:2525")
    assert (plain.hostname, plain.port, plain.use_tls, plain.start_tls) == (
        "mail.internal",
        2525,
        False,
        False,
    )
    starttls = parse_smtp_url("smtp://us%40er:p%3Ass@relay:587?starttls=true&from=no@x.org")
    assert (starttls.username, starttls.password, starttls.start_tls) == ("us@er", "p:ss", True)
    assert starttls.sender == "no@x.org"
    assert "p:ss" not in repr(starttls)
    tls = parse_smtp_url("smtps://relay")
    assert (tls.port, tls.use_tls, tls.start_tls) == (465, True, False)
    with pytest.raises(ValueError, match="smtp://"):
        parse_smtp_url("http://relay")


# -- SMS ------------------------------------------------------------------------------------


async def test_sms_posts_json_with_the_code_line(sms_sink: SmsSink) -> None:
    mobile = unique_mobile()
    channel = HttpSmsChannel(sms_sink.url)
    try:
        await channel.send(request(SendingMethod.SMS, mobile=mobile, language="de"))
    finally:
        await channel.close()
    [body] = sms_sink.to(mobile)
    assert set(body) == {"to", "text"}
    assert code_lines(body["text"]) == ["Code: s3cr3t=Code+1"]
    assert "Passwort" in body["text"]


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (503, TransientFailure),
        (500, TransientFailure),
        (429, TransientFailure),
        (400, PermanentFailure),
        (404, PermanentFailure),
        (422, PermanentFailure),
    ],
)
async def test_sms_gateway_statuses(
    sms_sink: SmsSink, status: int, failure: type[Exception]
) -> None:
    channel = HttpSmsChannel(sms_sink.url)
    try:
        with pytest.raises(failure, match=str(status)):
            await channel.send(request(SendingMethod.SMS, mobile=unique_mobile(status)))
    finally:
        await channel.close()


async def test_sms_to_an_unreachable_gateway_is_transient() -> None:
    channel = HttpSmsChannel(f"http://127.0.0.1:{free_port()}/sms", timeout=5)
    try:
        with pytest.raises(TransientFailure):
            await channel.send(request(SendingMethod.SMS))
    finally:
        await channel.close()


@pytest.mark.parametrize("mobile", [None, "", "call me", "+41 79 <script>"])
async def test_an_invalid_mobile_is_permanent(mobile: str | None) -> None:
    with pytest.raises(PermanentFailure):
        await HttpSmsChannel("http://127.0.0.1:1/sms").send(
            request(SendingMethod.SMS, mobile=mobile)
        )


# -- PDFstore -------------------------------------------------------------------------------


async def test_pdf_letter_names_the_user_and_has_mode_0600(spool_dir: Path) -> None:
    message = request(SendingMethod.PDF_STORE)
    await PdfSpoolChannel(spool_dir).send(message)
    path = spool_dir / "acme" / f"{message.user_ext_id}-2.pdf"
    assert letter_path(spool_dir, message) == path
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "alice.smith" in text
    assert "Code: s3cr3t=Code+1" in text
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temp file is left"


async def test_pdf_letter_without_login_id_names_the_user_ext_id(spool_dir: Path) -> None:
    message = request(SendingMethod.PDF_STORE, login_id=None, language="de")
    await PdfSpoolChannel(spool_dir).send(message)
    data = letter_path(spool_dir, message).read_bytes()
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert message.user_ext_id in text
    assert "temporäres" in text


async def test_pdf_spool_that_cannot_be_written_is_transient(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TransientFailure):
        await PdfSpoolChannel(blocker).send(request(SendingMethod.PDF_STORE))


async def test_a_secret_outside_the_pdf_font_is_permanent(spool_dir: Path) -> None:
    message = request(SendingMethod.PDF_STORE, secret="密码密码")
    with pytest.raises(PermanentFailure) as failure:
        await PdfSpoolChannel(spool_dir).send(message)
    assert "密码" not in str(failure.value)


# -- dev outbox -----------------------------------------------------------------------------


async def test_outbox_writes_one_private_file_per_message(tmp_path: Path) -> None:
    outbox = OutboxChannel(tmp_path / "outbox")
    mail = request(SendingMethod.EMAIL)
    sms = request(SendingMethod.SMS, user_ext_id=mail.user_ext_id, version=3)
    await outbox.send(mail)
    await outbox.send(sms)
    folder = tmp_path / "outbox" / "acme"
    eml = folder / f"{mail.user_ext_id}-2.eml"
    txt = folder / f"{mail.user_ext_id}-3.sms.txt"
    assert sorted(p.name for p in folder.iterdir()) == sorted([eml.name, txt.name])
    for path in (eml, txt):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert code_lines(eml.read_text()) == ["Code: s3cr3t=Code+1"]
    assert code_lines(txt.read_text()) == ["Code: s3cr3t=Code+1"]
    assert json.dumps(sms.mobile)[1:-1] in txt.read_text()


@pytest.mark.parametrize("language", [None, "de"])
def test_a_composed_mail_parses_the_same_in_8bit_and_7bit(language: str | None) -> None:
    from email import message_from_bytes, policy

    mail = compose(request(SendingMethod.EMAIL, language=language), "noreply@example.com")
    texts = []
    for data in (mail.data, mail.seven_bit()):
        parsed = message_from_bytes(data, policy=policy.default)
        assert parsed["To"] == mail.recipient and parsed["Subject"] == texts_for(language).subject
        assert parsed.get_content_type() == "text/plain"
        texts.append(parsed.get_content())
    assert texts[0] == texts[1]
    assert code_lines(texts[0]) == ["Code: s3cr3t=Code+1"]
    assert mail.seven_bit().isascii()


@pytest.mark.parametrize("sender", ["a@b\r\nBcc: x@y", "A <a@b.c>", "a,b@c.d", "é@x.y"])
def test_a_sender_that_is_not_one_bare_mailbox_is_refused(sender: str) -> None:
    from urllib.parse import quote

    with pytest.raises(ValueError, match="from"):
        parse_smtp_url(f"smtp://relay:25?from={quote(sender)}")
