"""The catch-up phase: each pipeline stage alone on a backlog of resets that the API wrote.

1. Seed `users` catch-up users `c000000..` (distinct from the `u.....` users of the other
   phases), each with a credential created under the silent policy (`sendingMethod: None`, so
   the creation seals nothing) and then switched to the bench's Email policy with a PATCH.
2. Pre-roll: run the projector and then the publisher until each reaches the head (the seeding,
   and whatever the earlier phases left), and the delivery worker while its queue is not empty;
   each is stopped again. Now every follower stands exactly where the backlog will begin.
3. Backlog: with no pipeline process running, reset each catch-up user exactly once through
   the API, `concurrency` requests at a time. That is the API's rate in this run (resets / time
   from the first request sent to the last response), and the API's CPU per reset over it. The
   backlog is checked: exactly `users` events, all `TempStrongPasswordReset`, of `users`
   distinct credentials (all under the Email policy since the PATCH), so every envelope is one
   mail and none is superseded; downstream again: envelopes queued, mails to distinct
   recipients, the worker's `delivered` counter.
4. Stages, one at a time in pipeline order: the projector (its `credentials` tracking position,
   backlog start -> head), the publisher (its `publisher` position; then the delivery queue must
   hold one envelope per reset) and the delivery worker (mails accepted by the SMTP sink).

Per stage, polled every POLL_SECONDS: the window begins at the first poll that sees progress
(start-up, connecting and the first batch are outside it) and ends at the first poll that sees
the end; events in the window (rows of the event store between the two positions, or mails),
the process's CPU (utime + stime of all its threads, /proc) at both polls, hence events/s and
CPU ms per event. Every wait is bounded: no progress for STALL_SECONDS or `timeout` in all
makes the stage "stalled"/"timed out" and the phase goes on with what it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import clients
import infra
import observers
import profiling
from aiohttp import ClientError

SILENT_POLICY = "bench-silent"
POLL_SECONDS = 0.02
STALL_SECONDS = 30.0
EVENTS_TABLE = "tempstrong_events"
TRACKING_TABLE = "projection_tracking"
TRACKING = {"projector": "credentials", "publisher": "publisher"}
DELIVERY_QUEUE = "tempstrong.delivery"
RESET_EVENT = "TempStrongPasswordReset"
STAGES = ("projector", "publisher", "delivery")
MIN_USERS = 1000  # below that a follower's 500-event batches leave no window to measure
# The delivery worker's settings in this phase, beside the defaults. A retry here comes from the
# shared PostgreSQL refusing connections (the worker's pool is 2 x prefetch + 2), not from the
# pipeline: a short first backoff keeps it from stretching the window by the default 5 s.
DELIVERY_SETTINGS = {"TEMPSTRONG_DELIVERY_BACKOFF_SECONDS": "1"}


def user_name(index: int) -> str:
    return f"c{index:06d}"


class Processes(Protocol):
    """What run.py's Stack offers: start a child by name (with the pipeline's environment)."""

    def start_stage(
        self, stage: str, metrics_port: int, log_name: str, extra: dict[str, str]
    ) -> infra.Child: ...

    def stop(self, child: infra.Child) -> None: ...


@dataclass
class Setup:
    database_url: str
    vhost: infra.Vhost
    api_url: str
    token: str
    client: str
    mail_policy: str
    users: int
    concurrency: int
    timeout: float
    api_pids: Sequence[int]
    pipeline: Sequence[str]  # the stages whose processes exist
    missing: dict[str, str]  # why the others do not
    sink: observers.SmtpSink
    profile_dir: Path | None = None  # --catchup-profile: py-spy records each stage here


# --- the event store and the tracking table ----------------------------------------------------


async def head(db: asyncpg.Connection) -> int:
    return int(await db.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}"))


async def position(db: asyncpg.Connection, follower: str) -> int:
    """The follower's tracking position; 0 before it ever ran (no table or no row yet)."""
    if await db.fetchval("SELECT to_regclass($1)", TRACKING_TABLE) is None:
        return 0
    value = await db.fetchval(
        f"SELECT position FROM {TRACKING_TABLE} WHERE name = $1",
        follower,
    )
    return int(value or 0)


async def events_between(db: asyncpg.Connection, after: int, upto: int) -> int:
    return int(
        await db.fetchval(
            f"SELECT count(*) FROM {EVENTS_TABLE} "
            "WHERE notification_id > $1 AND notification_id <= $2",
            after,
            upto,
        )
    )


async def postgres_connections(db: asyncpg.Connection) -> dict[str, int]:
    """The shared server's connection limit and how many are in use (all databases)."""
    row = await db.fetchrow(
        "SELECT current_setting('max_connections')::int AS max, "
        "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS in_use"
    )
    return {"max": int(row["max"]), "in_use": int(row["in_use"])}


async def backlog_composition(db: asyncpg.Connection, after: int, upto: int) -> dict[str, int]:
    row = await db.fetchrow(
        f"SELECT count(*) AS events, "
        f"count(*) FILTER (WHERE topic LIKE '%.{RESET_EVENT}') AS resets, "
        "count(DISTINCT originator_id) AS credentials "
        f"FROM {EVENTS_TABLE} WHERE notification_id > $1 AND notification_id <= $2",
        after,
        upto,
    )
    return {k: int(row[k]) for k in ("events", "resets", "credentials")}


# --- RabbitMQ and /metrics ---------------------------------------------------------------------


def delivery_queues(vhost: infra.Vhost) -> dict[str, int]:
    """Messages in the delivery queue and its retry queues (not the dead-letter queue)."""
    return {
        name: count
        for name, count in vhost.queues().items()
        if name == DELIVERY_QUEUE or name.startswith(f"{DELIVERY_QUEUE}.retry.")
    }


async def queue_depth(amqp_url: str, name: str = DELIVERY_QUEUE) -> int:
    """Messages ready in a queue (a passive declare; unacknowledged ones are not counted)."""
    import aio_pika  # a dependency of the project

    connection = await aio_pika.connect(amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        result = queue.declaration_result
        return int(result.message_count or 0)


_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(port: int) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a process's /metrics page: (name, labels, value)."""
    url = f"http://{infra.LOOPBACK}:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        name, labels, value = match.groups()
        with contextlib.suppress(ValueError):
            samples.append((name, dict(_LABEL.findall(labels or "")), float(value)))
    return samples


def counters_by(
    samples: list[tuple[str, dict[str, str], float]], name: str, label: str
) -> dict[str, float]:
    """`name` summed per value of `label` (e.g. deliveries per outcome, over channels)."""
    out: dict[str, float] = {}
    for sample, labels, value in samples:
        if sample == name:
            key = labels.get(label, "")
            out[key] = out.get(key, 0.0) + value
    return out


# --- seeding and the backlog -------------------------------------------------------------------


async def seed_silent(setup: Setup, names: Sequence[str], concurrency: int = 32) -> float:
    """Creates each user with a credential under the silent policy, then PATCHes the credential
    to the Email policy (a PolicyChanged event: nothing leaves the service). Returns seconds."""
    base = clients.BASE
    pending = iter(names)
    started = time.perf_counter()
    async with clients.api_session(setup.api_url, setup.token, concurrency) as session:

        async def one(user: str) -> None:
            users = f"{base}/{setup.client}/users"
            steps: list[tuple[str, str, dict[str, Any], int]] = [
                ("POST", users, {"extId": user, "email": clients.user_email(user)}, 201),
                (
                    "POST",
                    f"{users}/{user}/tempstrong-password",
                    {"policyExtId": SILENT_POLICY},
                    201,
                ),
                (
                    "PATCH",
                    f"{users}/{user}/tempstrong-password",
                    {"version": 1, "policyExtId": setup.mail_policy},
                    200,
                ),
            ]
            for method, path, body, expected in steps:
                status, answer = await clients.call(session, method, path, body)
                if status != expected:
                    raise infra.BenchError(f"catch-up seeding {method} {path}: {status} {answer}")

        async def worker() -> None:
            for user in pending:
                await one(user)

        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(concurrency))), setup.timeout
        )
    return time.perf_counter() - started


async def write_backlog(setup: Setup, names: Sequence[str]) -> dict[str, Any]:
    """Resets each user once, `concurrency` at a time: the API's rate and CPU per reset."""
    pending = iter(names)
    statuses: Counter[int] = Counter()
    versions: Counter[int] = Counter()
    async with clients.api_session(setup.api_url, setup.token, setup.concurrency) as session:

        async def worker() -> None:
            for user in pending:
                status, body = await clients.call(
                    session, "POST", clients.reset_path(setup.client, user)
                )
                statuses[status] += 1
                versions[int(body.get("version", 0))] += 1

        profiled: dict[str, Any] = {}
        with _recorded(setup, setup.api_pids, "api", profiled):
            cpu_before = _cpu(setup.api_pids)
            own_before = time.process_time()
            started = time.perf_counter()
            await asyncio.wait_for(
                asyncio.gather(*(worker() for _ in range(setup.concurrency))), setup.timeout
            )
            seconds = time.perf_counter() - started
            cpu = _cpu(setup.api_pids) - cpu_before
            own = time.process_time() - own_before
    ok = statuses.get(200, 0)
    return {
        **profiled,
        "what": "each catch-up user reset once through the API; first request sent -> last "
        f"response, {setup.concurrency} at a time (asyncio client), no pipeline process running",
        "resets": len(names),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "versions": {str(k): v for k, v in sorted(versions.items())},
        "seconds": round(seconds, 3),
        "resets_per_s": round(ok / seconds, 1) if seconds > 0 else None,
        "cpu_ms_per_reset": round(1000 * cpu / ok, 3) if ok else None,
        "cpu_cores": round(cpu / seconds, 2) if seconds > 0 else None,
        "client_cpu_ms_per_reset": round(1000 * own / ok, 3) if ok else None,
    }


def _cpu(pids: Sequence[int]) -> float:
    return sum(infra.proc_cpu_seconds(pid) for pid in pids)


@contextlib.contextmanager
def _recorded(setup: Setup, pids: Sequence[int], name: str, into: dict[str, Any]) -> Iterator[None]:
    """With --catchup-profile: py-spy records `pids` (CPU samples) while the block runs, and the
    top frames and leaf categories go into `into["profile"]` (raw stacks in profile_dir)."""
    if setup.profile_dir is None:
        yield
        return
    spies = []
    for pid in pids:
        out = setup.profile_dir / f"catchup-{name}-{pid}.txt"
        spies.append((out, profiling.start_record(pid, int(setup.timeout) + 60, out, mode="cpu")))
    try:
        yield
    finally:
        profiles = []
        for out, spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(timeout=30)
            if out.exists():
                profiles.append(profiling.summarize_raw(out))
        into["profile"] = profiles[0] if len(profiles) == 1 else profiles


# --- watching one stage ------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    at: float  # perf_counter right after the progress reading
    value: int  # position or mail count
    cpu: float  # the stage process's CPU seconds at that moment


@dataclass
class Watch:
    status: str = "measured"
    reason: str = ""
    spawned: float = 0.0
    first: Mark | None = None  # the first poll that saw progress
    end: Mark | None = None  # the first poll that saw the end
    last: Mark | None = None  # the last poll (also when stalled)
    polls: int = 0


async def watch(
    child: infra.Child,
    read: Callable[[], Awaitable[int]],
    start: int,
    target: int,
    *,
    limit_s: float,
    poll_s: float = POLL_SECONDS,
    stall_s: float = STALL_SECONDS,
) -> Watch:
    """Polls `read` (and the child's CPU) until it reaches `target`; bounded by time."""
    out = Watch(spawned=time.perf_counter())
    deadline = out.spawned + limit_s
    last_change, previous = out.spawned, start
    while True:
        if child.process.poll() is not None:
            out.status, out.reason = "exited", f"exit code {child.process.returncode}"
            return out
        value = await read()
        mark = Mark(time.perf_counter(), value, infra.proc_cpu_seconds(child.pid))
        out.polls += 1
        out.last = mark
        if value != previous:
            last_change, previous = mark.at, value
        if out.first is None and value > start:
            out.first = mark
        if value >= target:
            out.end = mark
            return out
        if mark.at > deadline:
            out.status, out.reason = "timed out", f"not at the end after {limit_s:.0f} s"
            return out
        if mark.at - last_change > stall_s:
            out.status, out.reason = "stalled", f"no progress for {stall_s:.0f} s"
            return out
        await asyncio.sleep(poll_s)


def stage_result(w: Watch, events: int | None, unit: str, expected: int) -> dict[str, Any]:
    """Rate and CPU per event over the window [first progress, end]."""
    out: dict[str, Any] = {"status": w.status, "unit": unit, "expected": expected}
    if w.reason:
        out["reason"] = w.reason
    if w.first is not None:
        out["startup_s"] = round(w.first.at - w.spawned, 3)
    if w.last is not None:
        out["reached"] = w.last.value
        out["cpu_s_since_spawn"] = round(w.last.cpu, 3)
    out["polls"] = w.polls
    if w.status != "measured" or w.first is None or w.end is None:
        return out
    window = w.end.at - w.first.at
    cpu = w.end.cpu - w.first.cpu
    out["window_s"] = round(window, 3)
    out["events_in_window"] = events
    out["total_s"] = round(w.end.at - w.spawned, 3)
    if not events or window <= 0:
        out["status"] = "too fast to measure"
        out["reason"] = "the first poll that saw progress already saw the end: more users"
        return out
    out["events_per_s"] = round(events / window, 1)
    out["cpu_ms_per_event"] = round(1000 * cpu / events, 3)
    out["cpu_cores"] = round(cpu / window, 2)
    return out


# --- the phase ---------------------------------------------------------------------------------


async def run_phase(setup: Setup, processes: Processes) -> dict[str, Any]:
    started = time.perf_counter()
    report: dict[str, Any] = {
        "users": setup.users,
        "concurrency": setup.concurrency,
        "poll_interval_ms": POLL_SECONDS * 1000,
        "stall_s": STALL_SECONDS,
        "timeout_s": setup.timeout,
        "loadavg_at_start": list(os.getloadavg()),
    }
    missing = {s: setup.missing.get(s, "missing") for s in STAGES if s not in setup.pipeline}
    if missing:
        report["status"] = "not measured"
        report["reason"] = "; ".join(f"{k}: {v}" for k, v in missing.items())
        return report
    try:
        await _measure(setup, processes, report)
    except (infra.BenchError, TimeoutError, OSError, asyncpg.PostgresError, ClientError) as exc:
        # the other phases go on; the processes of this one were stopped on the way out
        report["status"], report["reason"] = "failed", f"{type(exc).__name__}: {exc}"[-3000:]
    if report.get("status") == "measured":
        report["summary"] = summarize(report)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["loadavg_at_end"] = list(os.getloadavg())
    return report


async def _measure(setup: Setup, processes: Processes, report: dict[str, Any]) -> None:
    names = [user_name(i) for i in range(setup.users)]
    print(f"catch-up: seeding {setup.users} users (silent policy, then Email) ...", flush=True)
    seconds = await seed_silent(setup, names)
    report["seed"] = {"seconds": round(seconds, 2), "users_per_s": round(len(names) / seconds, 1)}
    db = await asyncpg.connect(setup.database_url, timeout=10)
    try:
        report["pre_roll"] = await _pre_roll(setup, processes, db)
        start = await head(db)
        print(f"catch-up: backlog of {setup.users} resets, API alone ...", flush=True)
        report["api"] = await write_backlog(setup, names)
        end = await head(db)
        backlog = await backlog_composition(db, start, end)
        backlog.update(after_notification_id=start, upto_notification_id=end)
        report["backlog"] = backlog
        wanted = {"events": setup.users, "resets": setup.users, "credentials": setup.users}
        if any(backlog[k] != v for k, v in wanted.items()) or report["api"]["ok"] != setup.users:
            report["status"] = "failed"
            report["reason"] = f"the backlog is not {setup.users} resets of distinct credentials"
            return
        stages: dict[str, Any] = {}
        for name in ("projector", "publisher"):
            stages[name] = await _follower_stage(setup, processes, db, name, start, end)
        stages["delivery"] = await _delivery_stage(setup, processes, db)
        report["stages"] = stages
    finally:
        await db.close()
    report["status"] = "measured"


def add_wrk_reference(phase: dict[str, Any], wrk_resets_per_s: float, users: int) -> None:
    """For context: each stage against the throughput phase's reset rate of the same run (wrk,
    `--users` users reset again and again, so mostly cached) beside the catch-up API rate (N
    distinct credentials, each loaded once)."""
    if phase.get("status") != "measured" or not wrk_resets_per_s:
        return
    rows = phase["summary"]["stages"]
    phase["summary"]["wrk_reference"] = {
        "resets_per_s": wrk_resets_per_s,
        "users": users,
        "ratio_to_wrk": {
            name: round(row["events_per_s"] / wrk_resets_per_s, 3) if row["events_per_s"] else None
            for name, row in rows.items()
        },
    }


async def _pre_roll(setup: Setup, processes: Processes, db: asyncpg.Connection) -> dict[str, Any]:
    """Each follower to the head, then the delivery queue empty; each process stopped again."""
    out: dict[str, Any] = {}
    for name, follower in TRACKING.items():
        target, at = await head(db), await position(db, follower)
        entry: dict[str, Any] = {"from": at, "to": target}
        if at < target:
            child = processes.start_stage(name, infra.free_port(), f"catchup-pre-roll-{name}", {})

            async def read(follower: str = follower) -> int:
                return await position(db, follower)

            try:
                w = await watch(child, read, at, target, limit_s=setup.timeout, poll_s=0.2)
            finally:
                processes.stop(child)
            entry.update(status=w.status, seconds=round(time.perf_counter() - w.spawned, 2))
            if w.status != "measured":
                raise infra.BenchError(f"catch-up pre-roll: {name} {w.status} ({w.reason})")
        out[name] = entry
    queued = sum(delivery_queues(setup.vhost).values())
    out["delivery"] = {"queued": queued}
    if queued:
        mails_before = setup.sink.count()
        child = processes.start_stage(
            "delivery", infra.free_port(), "catchup-pre-roll-delivery", DELIVERY_SETTINGS
        )
        started = time.perf_counter()
        try:
            await _until_queue_empty(setup, child)
        finally:
            processes.stop(child)
        out["delivery"].update(
            seconds=round(time.perf_counter() - started, 2),
            mails=setup.sink.count() - mails_before,
            left=delivery_queues(setup.vhost),
        )
    return out


async def _until_queue_empty(setup: Setup, child: infra.Child) -> None:
    """Bounded: nothing ready, the sink accepted nothing new for 1 s, and no message left in the
    delivery queue or a retry queue (a retried envelope comes back after its backoff)."""
    deadline = time.monotonic() + setup.timeout
    quiet_since, mails = time.monotonic(), -1
    while time.monotonic() < deadline:
        child.check_alive()
        count = setup.sink.count()
        if count != mails:
            quiet_since, mails = time.monotonic(), count
        if await queue_depth(setup.vhost.url) == 0 and time.monotonic() - quiet_since > 1.0:
            if not any(delivery_queues(setup.vhost).values()):
                return
            await asyncio.sleep(1.0)
        await asyncio.sleep(0.2)
    raise infra.BenchError("catch-up pre-roll: the delivery queues did not drain")


async def _follower_stage(
    setup: Setup,
    processes: Processes,
    db: asyncpg.Connection,
    name: str,
    start: int,
    end: int,
) -> dict[str, Any]:
    follower = TRACKING[name]
    at = await position(db, follower)
    if at != start:
        return {"status": "not measured", "reason": f"{follower} at {at}, backlog after {start}"}
    port = infra.free_port()
    connections = await postgres_connections(db)
    child = processes.start_stage(name, port, f"catchup-{name}", {})
    print(f"catch-up: {name} alone on the backlog ...", flush=True)
    profiled: dict[str, Any] = {}
    try:
        with _recorded(setup, [child.pid], name, profiled):
            w = await watch(
                child, lambda: position(db, follower), start, end, limit_s=setup.timeout
            )
        metrics = _scrape_quietly(port)
    finally:
        processes.stop(child)
    events = None
    if w.first is not None and w.end is not None:
        events = await events_between(db, w.first.value, w.end.value)
    result = stage_result(w, events, "events", setup.users)
    result.update(profiled)
    result["tracking"] = follower
    result["postgres_connections_at_start"] = connections
    applied = counters_by(metrics, "tempstrong_follower_events_total", "follower")
    result["metrics"] = {"follower_events_total": applied.get(follower)}
    if name == "publisher":
        result["metrics"]["published_total"] = counters_by(
            metrics, "tempstrong_published_total", "kind"
        )
        result["envelopes_queued"] = delivery_queues(setup.vhost)
    return result


async def _delivery_stage(
    setup: Setup, processes: Processes, db: asyncpg.Connection
) -> dict[str, Any]:
    sink = setup.sink
    queued = delivery_queues(setup.vhost)
    connections = await postgres_connections(db)
    before = sink.count()
    port = infra.free_port()

    async def mails() -> int:
        return sink.count()

    child = processes.start_stage("delivery", port, "catchup-delivery", DELIVERY_SETTINGS)
    print("catch-up: delivery worker alone on the backlog ...", flush=True)
    own = time.process_time()
    profiled: dict[str, Any] = {}
    try:
        with _recorded(setup, [child.pid], "delivery", profiled):
            w = await watch(child, mails, before, before + setup.users, limit_s=setup.timeout)
        own = time.process_time() - own
        metrics = _scrape_quietly(port)
    finally:
        processes.stop(child)
    events = w.end.value - w.first.value if w.first is not None and w.end is not None else None
    result = stage_result(w, events, "mails accepted by the SMTP sink", setup.users)
    result.update(profiled)
    result["queued_at_start"] = queued
    result["settings"] = DELIVERY_SETTINGS
    result["postgres_connections_at_start"] = connections
    # the SMTP sink runs in the bench process: its CPU (with the poller's) is not the worker's
    result["bench_cpu_ms_per_mail"] = round(1000 * own / setup.users, 3)
    with sink.lock:
        recipients = [r for _, rcpts in sink.mails[before:] for r in rcpts]
    result["distinct_recipients"] = len({r.lower() for r in recipients if r.startswith("c")})
    result["metrics"] = {
        "deliveries_total": counters_by(metrics, "tempstrong_deliveries_total", "outcome")
    }
    result["left_in_queues"] = delivery_queues(setup.vhost)
    return result


def _scrape_quietly(port: int) -> list[tuple[str, dict[str, str], float]]:
    with contextlib.suppress(OSError, ValueError):
        return scrape(port)
    return []


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """Each stage's rate against the API's, and the CPU per reset across the whole pipeline."""
    api = report["api"]
    api_rate = api.get("resets_per_s")
    rows: dict[str, Any] = {
        "api": {
            "events_per_s": api_rate,
            "cpu_ms_per_event": api.get("cpu_ms_per_reset"),
            "ratio_to_api": 1.0,
        }
    }
    for name, stage in report["stages"].items():
        rate = stage.get("events_per_s")
        status = stage["status"]
        retried = stage.get("metrics", {}).get("deliveries_total", {}).get("retried")
        if retried:  # a retried envelope waits out its backoff inside the window
            status = f"{status}; {retried:.0f} retried"
        rows[name] = {
            "status": status,
            "events_per_s": rate,
            "cpu_ms_per_event": stage.get("cpu_ms_per_event"),
            "ratio_to_api": round(rate / api_rate, 3) if rate and api_rate else None,
        }
    cpu = [row["cpu_ms_per_event"] for row in rows.values()]
    ratios = [row["ratio_to_api"] for name, row in rows.items() if name != "api"]
    complete = all(v is not None for v in cpu)
    return {
        "stages": rows,
        "pipeline_cpu_ms_per_reset": round(sum(cpu), 3) if complete else None,
        "slowest_ratio_to_api": min(ratios) if all(r is not None for r in ratios) else None,
        "goal": "each stage >= 1.0 x the API's rate; API + projector + publisher + delivery "
        "CPU <= 3 ms per reset",
    }


def median_summary(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Medians over several runs' `summary` (for quoting three bench runs)."""
    out: dict[str, Any] = {}
    for stage in ("api", *STAGES):
        rows = [r["summary"]["stages"].get(stage, {}) for r in reports if "summary" in r]
        out[stage] = {
            key: _median([row.get(key) for row in rows])
            for key in ("events_per_s", "cpu_ms_per_event", "ratio_to_api")
        }
    out["pipeline_cpu_ms_per_reset"] = _median(
        [r["summary"].get("pipeline_cpu_ms_per_reset") for r in reports if "summary" in r]
    )
    return out


def _median(values: Sequence[float | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


# --- the printed summary -----------------------------------------------------------------------


def _fmt(value: Any, spec: str) -> str:
    if isinstance(value, int | float):
        return format(value, spec)
    width = re.match(r"\d*", spec)
    return "-".rjust(int(width.group() or 0) if width else 0)


def report_lines(phase: dict[str, Any]) -> list[str]:
    """The catch-up table of the printed summary."""
    if phase.get("status") != "measured":
        return [f"catch-up: {phase.get('status', 'off')} ({phase.get('reason', '')})"]
    summary, stages = phase["summary"], phase["stages"]
    load = phase.get("loadavg_at_start", [0.0])[0]
    lines = [
        f"catch-up: {phase['users']} distinct users, one Email reset each; the API wrote the "
        f"backlog alone ({phase['concurrency']} at a time), then each stage worked it off alone "
        f"(load average {load:.2f} at the start)",
        f"  {'stage':<10} {'events/s':>9} {'CPU ms/event':>13} {'÷ API rate':>11} "
        f"{'start-up s':>11}  status",
    ]
    for name, row in summary["stages"].items():
        stage = stages.get(name, {})
        lines.append(
            f"  {name:<10} {_fmt(row['events_per_s'], '9.1f')} "
            f"{_fmt(row['cpu_ms_per_event'], '13.3f')} {_fmt(row['ratio_to_api'], '11.3f')} "
            f"{_fmt(stage.get('startup_s'), '11.2f')}  {row.get('status', 'measured')}"
        )
    delivery = stages.get("delivery", {})
    counters = delivery.get("metrics", {}).get("deliveries_total", {})
    outcomes = ", ".join(f"{k} {v:.0f}" for k, v in counters.items())
    lines.append(
        f"  delivery counts mails accepted by the SMTP sink ({delivery.get('distinct_recipients')} "
        f"distinct recipients; the worker's outcomes: {outcomes})"
    )
    cpu = [summary["stages"][s]["cpu_ms_per_event"] for s in ("api", *STAGES)]
    lines.append(
        "  CPU per reset, API + projector + publisher + delivery: "
        + " + ".join(_fmt(v, ".3f") for v in cpu)
        + f" = {_fmt(summary['pipeline_cpu_ms_per_reset'], '.3f')} ms (goal <= 3 ms); "
        f"slowest stage {_fmt(summary['slowest_ratio_to_api'], '.3f')} x the API's rate "
        "(goal >= 1.0)"
    )
    reference = summary.get("wrk_reference")
    if reference:
        lines.append(
            f"  for context, against the throughput phase's {reference['resets_per_s']:.0f} "
            f"resets/s (wrk over {reference['users']} recurring users), ratios "
            + ", ".join(f"{k} {_fmt(v, '.3f')}" for k, v in reference["ratio_to_wrk"].items())
        )
    lines.append(f"  catch-up phase took {phase.get('seconds')} s")
    return lines


def main(argv: Sequence[str]) -> int:
    """`python bench/catchup.py RESULT.json ...`: the catch-up medians of several bench runs."""
    reports = []
    for name in argv:
        phase = json.loads(Path(name).read_text(encoding="utf-8")).get("catchup", {})
        if phase.get("status") == "measured":
            reports.append(phase)
        else:
            print(f"{name}: catch-up {phase.get('status', 'absent')}")
    if not reports:
        return 1
    loads = [round(r.get("loadavg_at_start", [0.0])[0], 2) for r in reports]
    print(json.dumps({"runs": len(reports), "loadavg_1min_at_start": loads}, indent=None))
    print(json.dumps(median_summary(reports), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
