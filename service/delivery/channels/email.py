"""Email over SMTP (aiosmtplib) to TEMPSTRONG_SMTP_URL, text/plain UTF-8."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
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
    use_tls = parts.scheme == "smtps"
    return SmtpTarget(
        hostname=parts.hostname,
        port=parts.port or (465 if use_tls else 25),
        use_tls=use_tls,
        start_tls=not use_tls and query.get("starttls", "").lower() in _TRUE,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        sender=query.get("from", DEFAULT_SENDER),
        validate_certs=query.get("verify", "true").lower() in _TRUE,
    )


def compose(request: SealedDelivery, sender: str) -> EmailMessage:
    # the rule the API applied; an envelope sealed by anyone else may hold anything
    if request.email is None or not is_valid_email(request.email):
        raise PermanentFailure("no valid email address")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = request.email
    message["Subject"] = texts_for(request.language).subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    # 8bit keeps the `Code:` line byte for byte in the transfer (quoted-printable would encode a
    # `=` in the secret); aiosmtplib falls back to 7bit when the server lacks 8BITMIME.
    message.set_content("\n".join(letter_lines(request)) + "\n", charset="utf-8", cte="8bit")
    return message


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
        email = compose(message, self._target.sender)
        async with self._slots:
            await self._send(email)

    async def _send(self, email: EmailMessage) -> None:
        try:
            client = await self._checkout()
            try:
                await client.send_message(email)
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
