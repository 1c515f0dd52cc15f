"""Email over SMTP (aiosmtplib) to TEMPSTRONG_SMTP_URL, text/plain UTF-8."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from email.header import Header
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from service.contracts.envelope import SealedDelivery
from service.domain.addresses import is_valid_email

from ..failures import PermanentFailure, TransientFailure
from ..texts import letter_lines, texts_for
from . import Channel

DEFAULT_SENDER = "tempstrong@localhost"
SMTP_TIMEOUT_SECONDS = 30.0
MAX_CONNECTIONS = 16  # open at once to the relay; sends beyond wait for one
MAX_IDLE_SECONDS = 60.0
_TRUE = {"1", "true", "yes", "on"}
# The operator's sender: written into the From header as is, so one mailbox, nothing more.
_SENDER = re.compile(r"[^\s<>,;:\"@()\[\]\\]+@[^\s<>,;:\"@()\[\]\\]+", re.ASCII)


@dataclass(frozen=True)
class SmtpTarget:
    hostname: str
    port: int
    use_tls: bool
    start_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = DEFAULT_SENDER
    validate_certs: bool = True


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://host:port`, `smtp://user:pass@host:port?starttls=true`, `smtps://...`.

    Optional query keys: `from` (the sender address) and `verify=false` (self-signed relays).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("TEMPSTRONG_SMTP_URL must be smtp://host:port or smtps://host:port")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    sender = query.get("from", DEFAULT_SENDER)
    if not sender.isascii() or not _SENDER.fullmatch(sender):
        raise ValueError("TEMPSTRONG_SMTP_URL: `from` must be a bare mailbox (local@domain)")
    use_tls = parts.scheme == "smtps"
    return SmtpTarget(
        hostname=parts.hostname,
        port=parts.port or (465 if use_tls else 25),
        use_tls=use_tls,
        start_tls=not use_tls and query.get("starttls", "").lower() in _TRUE,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        sender=sender,
        validate_certs=query.get("verify", "true").lower() in _TRUE,
    )


@dataclass(frozen=True)
class Mail:
    """A composed message: who it goes to, its headers and its UTF-8 text body."""

    sender: str
    recipient: str
    headers: tuple[str, ...]
    body: str = field(repr=False)

    @property
    def data(self) -> bytes:
        """RFC 5322 bytes with an 8bit body (CRLF line ends), for relays with 8BITMIME."""
        head = (*self.headers, "Content-Transfer-Encoding: 8bit")
        return ("\r\n".join(head) + "\r\n\r\n" + self.body + "\r\n").encode("utf-8")

    def seven_bit(self) -> bytes:
        """The same message for a relay without 8BITMIME: a base64 body unless it is ASCII."""
        if self.body.isascii():
            return self.data
        head = (*self.headers, "Content-Transfer-Encoding: base64")
        encoded = base64.encodebytes((self.body + "\r\n").encode("utf-8")).decode("ascii")
        lines = "\r\n".join(encoded.splitlines())
        return ("\r\n".join(head) + "\r\n\r\n" + lines + "\r\n").encode("ascii")


def compose(request: SealedDelivery, sender: str) -> Mail:
    """A text/plain UTF-8 mail, written directly: the standard library's EmailMessage parses
    and refolds every header, which cost two thirds of the worker's CPU per mail.

    Safe to write directly because nothing in it comes from a caller unchecked: the recipient
    passed the API's mailbox rule (checked again here: ASCII, no CR, LF, quotes, brackets or
    commas), the sender is the operator's setting, the subject one of our texts (RFC 2047
    encoded), and the body lines our texts with the secret and the addressee's id.
    """
    # the rule the API applied; an envelope sealed by anyone else may hold anything
    if request.email is None or not is_valid_email(request.email):
        raise PermanentFailure("no valid email address")
    domain = sender.rpartition("@")[2] or None
    headers = (
        f"From: {sender}",
        f"To: {request.email}",
        f"Subject: {_subject(texts_for(request.language).subject)}",
        f"Date: {formatdate(usegmt=True)}",
        f"Message-ID: {make_msgid(domain=domain)}",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
    )
    # 8bit (where the relay takes it) keeps the `Code:` line byte for byte in the transfer
    return Mail(sender, request.email, headers, "\r\n".join(letter_lines(request)))


@functools.lru_cache(maxsize=16)
def _subject(text: str) -> str:
    return text if text.isascii() else Header(text, "utf-8").encode()


class SmtpChannel(Channel):
    """A pool of up to `max_connections` connections to the relay, kept open between messages
    (each for at most a minute idle); the worker's concurrent sends share them.

    A connection per message cost a third of the worker's CPU (TCP and TLS set-up, EHLO, and a
    name lookup of the local host in a thread); a relay that drops an idle connection is
    noticed before the next message and a fresh one is opened. A connection that saw any
    error is closed, never reused.
    """

    def __init__(
        self,
        target: SmtpTarget,
        timeout: float = SMTP_TIMEOUT_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._target = target
        self._timeout = timeout
        self._max_idle = max_connections
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._local_hostname: str | None = None
        self._closed = False

    async def send(self, message: SealedDelivery) -> None:
        mail = compose(message, self._target.sender)
        async with self._slots:
            await self._send(mail)

    async def _send(self, mail: Mail) -> None:
        try:
            client = await self._checkout()
            try:
                if client.supports_extension("8BITMIME"):
                    data, options = mail.data, ["BODY=8BITMIME"]
                else:
                    data, options = mail.seven_bit(), []
                await client.sendmail(mail.sender, [mail.recipient], data, mail_options=options)
            except BaseException:
                client.close()
                raise
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [error.code for error in exc.recipients]
            raise _by_code(min(codes, default=550), "recipient refused") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, "server refused the message") from None
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
            raise TransientFailure(f"SMTP unavailable ({type(exc).__name__})") from None
        self._checkin(client)

    async def _checkout(self) -> aiosmtplib.SMTP:
        now = time.monotonic()
        while self._idle:
            client, idle_since = self._idle.pop()
            if client.is_connected and now - idle_since < MAX_IDLE_SECONDS:
                return client
            client.close()  # relays and NAT drop idle connections without telling us
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        target = self._target
        client = aiosmtplib.SMTP(
            hostname=target.hostname,
            port=target.port,
            username=target.username,
            password=target.password,
            use_tls=target.use_tls,
            start_tls=target.start_tls,
            validate_certs=target.validate_certs,
            timeout=self._timeout,
            local_hostname=self._local_hostname,
        )
        await client.connect()
        return client

    def _checkin(self, client: aiosmtplib.SMTP) -> None:
        if not self._closed and client.is_connected and len(self._idle) < self._max_idle:
            self._idle.append((client, time.monotonic()))
        else:
            client.close()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for client, _ in idle:
            try:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                    await client.quit()
            finally:
                client.close()


def _by_code(code: int, what: str) -> PermanentFailure | TransientFailure:
    if 500 <= code < 600:
        return PermanentFailure(f"SMTP {code}: {what}")
    return TransientFailure(f"SMTP {code}: {what}")
