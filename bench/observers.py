"""Observers of the steady-rate phase: what happens after a reset was acknowledged.

- `ProjectionObserver`: polls the credentials read model until it shows each reset's version
  (projection lag = first poll that sees it - acknowledgement; resolution = the poll interval).
- `DeliveryObserver`: an SMTP sink (aiosmtpd) that the delivery worker sends to; reset ->
  delivered latency = mail accepted by the sink - reset request sent.
- `EventsObserver`: a queue bound to `tempstrong.events` (`#`), like a downstream consumer;
  reset -> CloudEvent received latency. It also gives the publisher's events somewhere to go.
- `NotMeasured`: the placeholder when a process or a dependency is missing; it says why.

To add another observer (e.g. an SMS sink or a RabbitMQ consumer of `tempstrong.events`),
implement `clients.Observer` and append it in run.py's `pipeline_observers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import defaultdict, deque
from typing import Any

import asyncpg
from clients import ResetRecord, summarize


class NotMeasured:
    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    async def start(self) -> None:
        return None

    def expect(self, record: ResetRecord) -> None:
        return None

    async def drain(self, limit_s: float) -> None:
        return None

    async def stop(self) -> None:
        return None

    def result(self) -> dict[str, Any]:
        return {"status": "not measured yet", "reason": self.reason}


class ProjectionObserver:
    name = "projection_lag"

    def __init__(
        self, database_url: str, client: str, table: str = "credentials", poll_s: float = 0.02
    ) -> None:
        self._url = database_url
        self._client = client
        self._table = table
        self.poll_s = poll_s
        self._pending: dict[str, deque[tuple[int, float]]] = defaultdict(deque)
        self._lags_ms: list[float] = []
        self._expected = 0
        self._connection: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def rows(self) -> int:
        connection = await asyncpg.connect(self._url, timeout=10)
        try:
            return int(
                await connection.fetchval(
                    f"SELECT count(*) FROM {self._table} WHERE client_ext_id = $1",
                    self._client,
                )
            )
        finally:
            await connection.close()

    async def start(self) -> None:
        self._connection = await asyncpg.connect(self._url, timeout=10)
        self._task = asyncio.create_task(self._poll_loop())

    def expect(self, record: ResetRecord) -> None:
        self._expected += 1
        self._pending[record.user].append((record.version, record.acked_at))

    async def _poll_loop(self) -> None:
        assert self._connection is not None
        query = f"SELECT user_ext_id, version FROM {self._table} WHERE client_ext_id = $1"
        while not self._stopping.is_set():
            polled_at = time.perf_counter()
            rows = await self._connection.fetch(query, self._client)
            for row in rows:
                waiting = self._pending.get(row["user_ext_id"])
                while waiting and waiting[0][0] <= row["version"]:
                    _, acked_at = waiting.popleft()
                    self._lags_ms.append(max(0.0, polled_at - acked_at) * 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.poll_s)

    def outstanding(self) -> int:
        return sum(len(q) for q in self._pending.values())

    async def drain(self, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while self.outstanding() and time.monotonic() < deadline:
            if self._task is not None and self._task.done():
                self._task.result()  # re-raise a polling failure
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, OSError, asyncpg.PostgresError):
                await asyncio.wait_for(self._task, 5)
        if self._connection is not None:
            await self._connection.close()

    def result(self) -> dict[str, Any]:
        return {
            "status": "measured",
            "what": "acknowledged reset -> its version visible in the credentials read model",
            "poll_interval_ms": self.poll_s * 1000,
            "expected": self._expected,
            "not_seen": self.outstanding(),
            **summarize(self._lags_ms),
        }


class SmtpSink:
    """aiosmtpd in its own thread on 127.0.0.1; records (perf_counter, recipients) per mail."""

    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller  # the `bench` extra

        self.port = port
        self.lock = threading.Lock()
        self.mails: list[tuple[float, list[str]]] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                with sink.lock:
                    sink.mails.append((time.perf_counter(), list(envelope.rcpt_tos)))
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._controller.stop()

    def count(self) -> int:
        with self.lock:
            return len(self.mails)


class DeliveryObserver:
    """Pairs, per user, the n-th reset of the phase with the n-th mail the sink accepted for that
    user's address (the steady client resets a user again only after `users / rate` s, so a
    newer reset rarely supersedes an undelivered one)."""

    name = "reset_to_delivered"

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink
        self._armed_at = 0  # index of the first mail that belongs to the phase
        self._sent: dict[str, list[float]] = defaultdict(list)
        self._expected = 0

    async def start(self) -> None:
        self._armed_at = self.sink.count()

    def expect(self, record: ResetRecord) -> None:
        self._expected += 1
        self._sent[record.user.lower()].append(record.sent_at)

    def _match(self) -> tuple[list[float], int, int]:
        with self.sink.lock:
            mails = self.sink.mails[self._armed_at :]
        received: dict[str, list[float]] = defaultdict(list)
        for received_at, recipients in mails:
            for address in recipients:
                received[address.split("@", 1)[0].lower()].append(received_at)
        latencies, missing = [], 0
        for user, sent in self._sent.items():
            arrivals = received.pop(user, [])
            latencies += [(r - s) * 1000 for s, r in zip(sent, arrivals, strict=False)]
            missing += max(0, len(sent) - len(arrivals))
        unmatched = sum(len(v) for v in received.values())
        return latencies, missing, unmatched

    def outstanding(self) -> int:
        return self._match()[1]

    async def drain(self, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while self.outstanding() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a thread
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        return None

    def result(self) -> dict[str, Any]:
        latencies, missing, unmatched = self._match()
        return {
            "status": "measured",
            "what": "reset request sent -> mail accepted by the SMTP sink "
            "(API -> event store -> publisher -> RabbitMQ -> delivery worker -> SMTP)",
            "expected": self._expected,
            "not_delivered": missing,
            "unmatched_mails": unmatched,
            **summarize(latencies),
        }


class EventsObserver:
    """A downstream consumer of `tempstrong.events` in the bench's vhost (declared before the
    publisher starts, so events are routable); matches `reset` CloudEvents by (user, version),
    also when the event arrives before the HTTP response."""

    name = "reset_to_published"

    def __init__(self, amqp_url: str, exchange: str = "tempstrong.events") -> None:
        self._url = amqp_url
        self._exchange = exchange
        self._connection: Any = None
        self._armed = False
        self._arrivals: dict[tuple[str, int], float] = {}
        self._sent: dict[tuple[str, int], float] = {}
        self.received = 0

    async def connect(self) -> None:
        import aio_pika  # a dependency of the project

        self._connection = await aio_pika.connect(self._url, timeout=10)
        channel = await self._connection.channel()
        exchange = await channel.get_exchange(self._exchange)
        queue = await channel.declare_queue(
            "bench.events", exclusive=True, arguments={"x-max-length": 1_000_000}
        )
        await queue.bind(exchange, routing_key="#")
        await queue.consume(self._on_message, no_ack=True)

    async def _on_message(self, message: Any) -> None:
        received_at = time.perf_counter()
        self.received += 1
        if not self._armed or not str(message.routing_key).endswith(".reset"):
            return
        try:
            data = json.loads(message.body)["data"]
            key = (str(data["userExtId"]), int(data["version"]))
        except (ValueError, KeyError, TypeError):
            return
        self._arrivals.setdefault(key, received_at)  # at-least-once: keep the first copy

    async def start(self) -> None:
        self._armed = True

    def expect(self, record: ResetRecord) -> None:
        self._sent[(record.user, record.version)] = record.sent_at

    def outstanding(self) -> int:
        return sum(1 for key in self._sent if key not in self._arrivals)

    async def drain(self, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while self.outstanding() and time.monotonic() < deadline:  # noqa: ASYNC110 - callbacks
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None

    def result(self) -> dict[str, Any]:
        latencies = [
            (self._arrivals[key] - sent) * 1000
            for key, sent in self._sent.items()
            if key in self._arrivals
        ]
        return {
            "status": "measured",
            "what": "reset request sent -> its CloudEvent received from tempstrong.events",
            "expected": len(self._sent),
            "not_received": self.outstanding(),
            **summarize(latencies),
        }
