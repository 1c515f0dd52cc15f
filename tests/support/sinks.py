"""Real servers standing in for the mail relay and the SMS gateway, on loopback.

Their behaviour is keyed by recipient, so tests sharing one sink never disturb each other.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller

from tests.support.process import free_port

SLOW_DOMAIN = "slow.example"
SLOW_SECONDS = 0.1
HELD_DOMAIN = "held.example"
HELD_SECONDS = 1.0
REFUSED_DOMAIN = "refused.example"
BUSY_DOMAIN = "busy.example"


@dataclass(frozen=True)
class ReceivedMail:
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None and part.get_content_type() == "text/plain"
        content = part.get_content()
        assert isinstance(content, str)
        return content


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_EHLO(  # once per client connection
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self._sink.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(  # aiosmtpd's hook names
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.endswith("@" + REFUSED_DOMAIN):
            return "550 5.1.1 mailbox unavailable"
        if address.endswith("@" + BUSY_DOMAIN):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if any(rcpt.endswith("@" + SLOW_DOMAIN) for rcpt in envelope.rcpt_tos):
            await asyncio.sleep(SLOW_SECONDS)
        if any(rcpt.endswith("@" + HELD_DOMAIN) for rcpt in envelope.rcpt_tos):
            self._sink.holding.update(envelope.rcpt_tos)
            await asyncio.sleep(HELD_SECONDS)
        self._sink.add(ReceivedMail(list(envelope.rcpt_tos), bytes(envelope.content)))
        self._sink.holding.difference_update(envelope.rcpt_tos)
        return "250 OK"


class SmtpSink:
    """aiosmtpd in its own thread; `mails` is filled as messages are accepted."""

    def __init__(self, port: int | None = None) -> None:
        self._lock = threading.Lock()
        self._mails: list[ReceivedMail] = []
        self.holding: set[str] = set()  # recipients whose DATA was received but not yet accepted
        self.connections = 0
        self.port = port or free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def add(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._mails.append(mail)

    def to(self, address: str) -> list[ReceivedMail]:
        with self._lock:
            return [mail for mail in self._mails if address in mail.recipients]

    def all(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._mails)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


class SmsSink:
    """An HTTP gateway: answers the status named by the number's last three digits if they are
    4xx/5xx (`+4179000503` gets 503), 200 otherwise; records every request body."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        app = web.Application()
        app.router.add_post("/sms", self._receive)
        self._server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self._server.make_url("/sms"))

    def to(self, mobile: str) -> list[dict[str, Any]]:
        return [body for body in self.received if body.get("to") == mobile]

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        tail = str(body.get("to", ""))[-3:]
        status = int(tail) if tail.isdigit() and 400 <= int(tail) < 600 else 200
        return web.json_response({"status": status}, status=status)

    async def start(self) -> None:
        await self._server.start_server()

    async def close(self) -> None:
        await self._server.close()
