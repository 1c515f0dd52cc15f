"""asyncio HTTP clients of the benchmark: seeding, the history-length probe, the steady-rate phase.

Every loop is bounded in count and time, and only talks to the API on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

BASE = "/nevisidm/api/core/v1"
REQUEST_TIMEOUT_SECONDS = 30.0


def user_name(index: int) -> str:
    return f"u{index:05d}"


def user_email(user: str) -> str:
    return f"{user}@bench.example"


def reset_path(client: str, user: str) -> str:
    return f"{BASE}/{client}/users/{user}/tempstrong-password/reset"


def summarize(samples_ms: Sequence[float]) -> dict[str, float | int]:
    """Count, median, p90, p99, max and mean of latencies in ms (nearest-rank percentiles)."""
    if not samples_ms:
        return {"count": 0}
    ordered = sorted(samples_ms)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]

    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered), 3),
        "p90_ms": round(rank(90), 3),
        "p99_ms": round(rank(99), 3),
        "max_ms": round(ordered[-1], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
    }


def api_session(base_url: str, token: str, connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        base_url=base_url,
        headers={"X-Token": token},
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
    )


async def call(
    session: aiohttp.ClientSession, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """One request; the status and the JSON body ({} when there is none)."""
    async with session.request(method, path, json=body) as response:
        data: dict[str, Any] = {}
        if response.content_type == "application/json":
            data = await response.json()
        return response.status, data


async def _post(
    session: aiohttp.ClientSession, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    return await call(session, "POST", path, body)


# --- seeding -----------------------------------------------------------------------------------


async def create_user_with_credential(
    session: aiohttp.ClientSession, client: str, user: str
) -> None:
    status, body = await _post(
        session, f"{BASE}/{client}/users", {"extId": user, "email": user_email(user)}
    )
    if status != 201:
        raise RuntimeError(f"create user {user}: HTTP {status} {body}")
    status, body = await _post(session, f"{BASE}/{client}/users/{user}/tempstrong-password", {})
    if status != 201:
        raise RuntimeError(f"create credential of {user}: HTTP {status} {body}")


async def seed_users(
    base_url: str, token: str, client: str, count: int, concurrency: int = 32
) -> float:
    """Creates users u00000.. with a credential each, `concurrency` at a time; returns seconds."""
    started = time.perf_counter()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(user_name(index))

    async with api_session(base_url, token, concurrency) as session:

        async def worker() -> None:
            while True:
                try:
                    user = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await create_user_with_credential(session, client, user)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


# --- history length ----------------------------------------------------------------------------


async def history_probe(
    base_url: str, token: str, client: str, *, long_events: int, samples: int
) -> dict[str, Any]:
    """Reset latency of a credential with `long_events` events vs a fresh one.

    Builds the long history with sequential resets over one connection, then times `samples`
    resets of each credential, interleaved (fresh, long, fresh, long, ...) so both see the same
    noise. Each timed reset adds an event: the long credential grows from `long_events` to
    `long_events + samples` events, the fresh one from 1 to `1 + samples`.
    """
    long_user, fresh_user = "history-long", "history-fresh"
    async with api_session(base_url, token, 1) as session:
        for user in (long_user, fresh_user):
            await create_user_with_credential(session, client, user)
        build_started = time.perf_counter()
        version = 1
        for _ in range(long_events - 1):
            status, body = await _post(session, reset_path(client, long_user))
            if status != 200:
                raise RuntimeError(f"history build reset: HTTP {status} {body}")
            version = int(body.get("version", version + 1))
        build_seconds = time.perf_counter() - build_started
        timings: dict[str, list[float]] = {fresh_user: [], long_user: []}
        versions: dict[str, list[int]] = {fresh_user: [], long_user: []}
        for _ in range(samples):
            for user in (fresh_user, long_user):
                started = time.perf_counter()
                status, body = await _post(session, reset_path(client, user))
                elapsed = (time.perf_counter() - started) * 1000
                if status != 200:
                    raise RuntimeError(f"history reset of {user}: HTTP {status} {body}")
                timings[user].append(elapsed)
                versions[user].append(int(body.get("version", 0)))
    return {
        "built_events": version,
        "build_seconds": round(build_seconds, 2),
        "build_resets_per_s": round((long_events - 1) / build_seconds, 1) if build_seconds else 0,
        "fresh": {
            "events_from_to": [versions[fresh_user][0], versions[fresh_user][-1]],
            **summarize(timings[fresh_user]),
        },
        "long": {
            "events_from_to": [versions[long_user][0], versions[long_user][-1]],
            **summarize(timings[long_user]),
        },
    }


# --- steady rate with pluggable observers ------------------------------------------------------


@dataclass
class ResetRecord:
    user: str
    sent_at: float  # time.perf_counter() when the request left
    acked_at: float = 0.0  # when the response arrived
    status: int = 0
    version: int = 0


class Observer(Protocol):
    """Watches what happens after a reset is acknowledged (read model, delivered message, ...)."""

    name: str

    async def start(self) -> None: ...

    def expect(self, record: ResetRecord) -> None:
        """Called once per acknowledged (2xx) reset, in acknowledgement order."""

    async def drain(self, limit_s: float) -> None:
        """Waits (bounded) until every expected outcome was observed."""

    async def stop(self) -> None: ...

    def result(self) -> dict[str, Any]: ...


@dataclass
class SteadyResult:
    rate: float
    duration_s: float
    records: list[ResetRecord] = field(default_factory=list)
    late_starts: int = 0

    def summary(self) -> dict[str, Any]:
        ok = [r for r in self.records if 200 <= r.status < 300]
        elapsed = max((r.acked_at for r in self.records), default=0.0) - min(
            (r.sent_at for r in self.records), default=0.0
        )
        return {
            "target_rate": self.rate,
            "duration_s": self.duration_s,
            "sent": len(self.records),
            "ok": len(ok),
            "errors": len(self.records) - len(ok),
            "achieved_rate": round(len(ok) / elapsed, 1) if elapsed > 0 else 0.0,
            "late_starts": self.late_starts,
            "reset_latency": summarize([(r.acked_at - r.sent_at) * 1000 for r in ok]),
        }


async def steady_rate(
    base_url: str,
    token: str,
    client: str,
    *,
    users: int,
    rate: float,
    duration: float,
    observers: Sequence[Observer],
    max_in_flight: int = 256,
) -> SteadyResult:
    """Open-loop load: reset i is scheduled at t0 + i/rate, to users in shuffled round-robin order
    (so a user is reset again only after `users / rate` seconds and supersession rarely hides a
    delivery). A request that cannot start on time because `max_in_flight` are pending counts as
    a late start."""
    total = max(1, int(rate * duration))
    order = [user_name(i) for i in range(users)]
    random.shuffle(order)
    result = SteadyResult(rate=rate, duration_s=duration)
    gate = asyncio.Semaphore(max_in_flight)
    tasks: list[asyncio.Task[None]] = []

    async with api_session(base_url, token, max_in_flight) as session:

        async def one(record: ResetRecord) -> None:
            try:
                status, body = await _post(session, reset_path(client, record.user))
                record.acked_at = time.perf_counter()
                record.status = status
                record.version = int(body.get("version", 0))
                if 200 <= status < 300:
                    for observer in observers:
                        observer.expect(record)
            except (aiohttp.ClientError, TimeoutError):
                record.acked_at = time.perf_counter()
            finally:
                gate.release()

        t0 = time.perf_counter()
        for i in range(total):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if gate.locked():
                result.late_starts += 1
            await gate.acquire()
            record = ResetRecord(user=order[i % users], sent_at=time.perf_counter())
            result.records.append(record)
            tasks.append(asyncio.create_task(one(record)))
        await asyncio.wait_for(asyncio.gather(*tasks), REQUEST_TIMEOUT_SECONDS + 5)
    return result
