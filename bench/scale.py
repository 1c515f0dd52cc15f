"""Scale benchmark: each cost of the service against the size of its store, in one run.

    .venv/bin/python bench/scale.py [--sizes 10000,100000,1000000]

From a fresh database the store grows cumulatively to each size in turn (`tempstrong import` of
the next users, each with a credential, then `--resets` Reset events per new credential appended
at database speed by bench/seed_resets.py), and at each size the same measurements run:

1. bytes on disk per credential (PostgreSQL's size functions after `VACUUM (ANALYZE)`): the
   event store, the read model, the data keys, tables and indexes apart;
2. import users/s of the chunk imported at that size (wall time of `tempstrong import`, and
   what the command itself reports);
3. `tempstrong rebuild credentials` (events/s, wall time): this also makes the read model whole;
4. `tempstrong api`: start-up (process start to /readyz 200); reset latency over one connection
   on users drawn uniformly from the whole store; reset throughput under wrk alternated with the
   floor (bench/floor.py, its table first filled to as many rows as the event store holds); the
   list endpoint's first page and a page 90% deep (continuation token); the API's RSS;
5. `tempstrong erase` of one person (wall time); `tempstrong rewrap` after a new first key in
   the personal-data keyring (keys/s);
6. projector and publisher each alone from position 0 over the whole store (events/s, in a
   window bounded by `--follow-window`; the publisher sends to a fresh RabbitMQ vhost).

Writes bench/results/scale-<UTC stamp>.{md,json,png} and prints the table. Everything started
is stopped by pid; the database and each vhost are dropped at the end, also on an error, Ctrl-C
or SIGTERM. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import os
import random
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catchup
import clients
import floor
import infra
import plot
import run as bench
import scaletable
import wrkrun
from scaletable import Metric

from projections.credentials.rows import VIEW_NAME
from service.contracts.paths import CREDENTIAL_LIST_PATH
from service.eventstore.keys import KEYS_TABLE
from service.eventstore.names import EVENTS_TABLE, SNAPSHOTS_TABLE
from service.http.parsing import encode_continuation

HERE = Path(__file__).resolve().parent
CLIENT = bench.CLIENT
DEFAULT_SIZES = "10000,100000,1000000"
GROUPS = {
    "event_store": (EVENTS_TABLE, SNAPSHOTS_TABLE),
    "read_model": (VIEW_NAME,),
    "data_keys": (KEYS_TABLE,),
}
FLOOR_TABLE = "floor"
FLOOR_FILL_BATCH = 1_000_000
WARMUP_REQUESTS = 20
DEEP_FRACTION = 0.9

METRICS = (
    Metric("credentials in the store", ("store", "credentials"), 0, plot=False),
    Metric("events per credential", ("store", "events_per_credential"), 2),
    Metric("bytes/credential, all tables", ("bytes", "per_credential", "total"), 0),
    Metric("… event store, table", ("bytes", "per_credential", "event_store_table"), 0),
    Metric("… event store, indexes", ("bytes", "per_credential", "event_store_indexes"), 0),
    Metric("… read model, table", ("bytes", "per_credential", "read_model_table"), 0),
    Metric("… read model, indexes", ("bytes", "per_credential", "read_model_indexes"), 0),
    Metric("… data keys, table", ("bytes", "per_credential", "data_keys_table"), 0),
    Metric("… data keys, indexes", ("bytes", "per_credential", "data_keys_indexes"), 0),
    Metric("… other tables", ("bytes", "per_credential", "other"), 0),
    Metric("bytes/event, event store (table + indexes)", ("bytes", "per_event"), 0),
    Metric("import users/s (wall)", ("import", "users_per_s"), 0),
    Metric("import users/s (the command's own)", ("import", "command_users_per_s"), 0),
    Metric("seeding resets, events/s (bench)", ("seed_resets", "events_per_s"), 0),
    Metric("reset p50 ms, 1 connection", ("reset_latency", "p50_ms"), 2),
    Metric("reset p99 ms, 1 connection", ("reset_latency", "p99_ms"), 2),
    Metric("reset resets/s, wrk", ("wrk", "service", "ok_rps"), 0),
    Metric("floor req/s, wrk", ("wrk", "floor", "ok_rps"), 0),
    Metric("reset ÷ floor", ("wrk", "ratio_rps"), 3),
    Metric("reset p99 ms, wrk", ("wrk", "service", "p99_ms"), 1),
    Metric("API CPU ms/reset, wrk", ("wrk", "service", "server_cpu_ms_per_request"), 2),
    Metric("list first page p99 ms", ("list", "first", "p99_ms"), 2),
    Metric("list page 90% deep p99 ms", ("list", "deep", "p99_ms"), 2),
    Metric("rebuild events/s (wall)", ("rebuild", "events_per_s"), 0),
    Metric("rebuild events/s (the command's own)", ("rebuild", "command_events_per_s"), 0),
    Metric("rebuild wall s", ("rebuild", "wall_s"), 1),
    Metric("projector from 0, events/s", ("projector", "events_per_s"), 0),
    Metric("publisher from 0, events/s", ("publisher", "events_per_s"), 0),
    Metric("erase one person, wall s", ("erase", "wall_s"), 2),
    Metric("rewrap keys/s (wall)", ("rewrap", "keys_per_s"), 0),
    Metric("rewrap keys/s (the command's own)", ("rewrap", "command_keys_per_s"), 0),
    Metric("API start-up s", ("api", "startup_s"), 2),
    Metric("API RSS MiB after the resets", ("api", "rss_mib"), 1),
    Metric("API peak RSS MiB", ("api", "peak_rss_mib"), 1),
    Metric("wall time of this size, s", ("wall_s",), 0),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--sizes",
        default=DEFAULT_SIZES,
        help=f"store sizes (credentials), ascending; the store grows to each ({DEFAULT_SIZES})",
    )
    p.add_argument("--resets", type=int, default=3, help="Reset events seeded per credential")
    p.add_argument("--latency-samples", type=int, default=2000, help="sequential timed resets")
    p.add_argument("--list-samples", type=int, default=200, help="timed requests per list page")
    p.add_argument("--repeat", type=int, default=2, help="wrk service/floor pairs (default 2)")
    bench.add_shared_options(p)
    p.add_argument(
        "--follow-window",
        type=float,
        default=60.0,
        help="seconds the projector and the publisher may run from position 0 (default 60)",
    )
    args = p.parse_args(argv)
    try:
        args.size_list = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError:
        p.error("--sizes: comma-separated whole numbers")
    sizes = args.size_list
    if not sizes or sizes[0] < 100 or any(b <= a for a, b in itertools.pairwise(sizes)):
        p.error("--sizes must be ascending, each at least 100")
    for name in ("resets", "latency_samples", "list_samples", "repeat", "connections"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


@dataclass
class Context:
    """What every size's measurements use."""

    args: argparse.Namespace
    stack: bench.Stack
    wrk: str
    tempstrong: list[str]
    env: dict[str, str]  # the services' environment (TEMPSTRONG_*)
    keys: Path
    token: str
    api_url: str

    @property
    def database_url(self) -> str:
        assert self.stack.database is not None
        return self.stack.database.url

    def timeout(self, units: int, slowest_per_s: float) -> float:
        """How long a one-shot command over `units` may run: a bound (about a tenth of the rate
        it reaches on a 2-core machine), not a goal."""
        return 300.0 + units / slowest_per_s


async def run(args: argparse.Namespace) -> dict[str, Any]:
    wrk = infra.ensure_wrk()
    tempstrong = infra.tempstrong_command()
    started = time.perf_counter()
    report = {**bench.new_report(args, "sizes"), "results": []}
    async with bench.stack_of(args, report, "tempstrong-scale-") as stack:
        keys, policy = bench.write_keys_and_policy(stack.tmp, tempstrong)
        stack.database = infra.Database(args.admin_database_url)
        await stack.database.create()
        report["machine"] = infra.machine_info(await stack.database.server_version())
        port = infra.free_port()
        env = bench.service_env(bench.api_settings(stack.database.url, keys, policy, port))
        infra.run_checked([*tempstrong, "migrate"], env)
        ctx = Context(
            args,
            stack,
            wrk,
            tempstrong,
            env,
            keys,
            bench.sign_token(tempstrong, keys, env),
            f"http://{infra.LOOPBACK}:{port}",
        )
        print(f"database {stack.database.name}; sizes {args.size_list}", flush=True)
        previous = 0
        for size in args.size_list:
            report["results"].append(await measure_size(ctx, previous, size))
            previous = size
    report["loadavg_at_end"] = list(os.getloadavg())
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


# --- one size ------------------------------------------------------------------------------------


@contextlib.contextmanager
def phase(result: dict[str, Any], name: str) -> Iterator[None]:
    """Times a phase into result["phase_seconds"] and says it started."""
    print(f"[{scaletable.size_label(result['size'])}] {name} ...", flush=True)
    started = time.perf_counter()
    try:
        yield
    finally:
        result.setdefault("phase_seconds", {})[name] = round(time.perf_counter() - started, 2)


def erase_target(size: int) -> str:
    """The person erased at `size`: imported with the chunk, outside the u... users that the
    resets draw from (so no reset meets an erased person)."""
    return f"x{size:07d}"


async def measure_size(ctx: Context, previous: int, size: int) -> dict[str, Any]:
    result: dict[str, Any] = {"size": size, "loadavg_at_start": list(os.getloadavg())}
    started = time.perf_counter()
    with phase(result, "import"):
        result["import"] = import_chunk(ctx, previous, size)
    with phase(result, "seed resets"):
        result["seed_resets"] = seed_resets(ctx, previous, size)
    with phase(result, "rebuild"):
        result["rebuild"] = rebuild(ctx, size)
    with phase(result, "bytes"):
        result["store"], result["bytes"] = await store_sizes(ctx.database_url)
    with phase(result, "api"):
        await api_phase(ctx, size, result)
    with phase(result, "erase"):
        result["erase"] = erase_one(ctx, size)
    with phase(result, "rewrap"):
        result["rewrap"] = rewrap(ctx, size)
    with phase(result, "projector"):
        result["projector"] = await follow_from_zero(ctx, size, "projector", ctx.env)
    with phase(result, "publisher"):
        result["publisher"] = await publisher_from_zero(ctx, size)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(
        f"[{scaletable.size_label(size)}] done in {result['wall_s']:.0f} s: "
        + json.dumps(result["phase_seconds"]),
        flush=True,
    )
    return result


# --- import, seeding, rebuild, erase, rewrap: one-shot commands -----------------------------------


def import_line(user: str, index: int) -> str:
    """One line of docs/import.md's format: a user with an email and a credential carried over
    from another system (its counters, last login and stored {SSHA256} hash)."""
    digest = hashlib.sha256(user.encode()).digest() + index.to_bytes(8, "big")  # digest + salt
    credential = {
        "stateName": "active",
        "resetCount": 2,
        "successfulLoginCount": 9,
        "failedLoginCount": 0,
        "lastSuccessfulLoginDate": "2026-11-30T08:00:00+00:00",
        "hash": "{SSHA256}" + base64.b64encode(digest).decode(),
    }
    return json.dumps(
        {
            "extId": user,
            "loginId": f"{user}.login",
            "email": clients.user_email(user),
            "language": "de",
            "tempStrongPassword": credential,
        }
    )


def final_progress(stderr: str) -> dict[str, Any]:
    """The last `{"progress": "done", ...}` line of a long command (service/roots/progress.py)."""
    for line in reversed(stderr.splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                document = json.loads(line)
                if isinstance(document, dict) and document.get("progress") == "done":
                    return document
    return {}


def per_second(count: float, seconds: float) -> float | None:
    return round(count / seconds, 1) if seconds > 0 else None


def import_chunk(ctx: Context, previous: int, size: int) -> dict[str, Any]:
    """Users previous .. size - 1 (and the one erased at this size) through `tempstrong import`."""
    path = ctx.stack.tmp / f"import-{size}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for index in range(previous, size):
            out.write(import_line(clients.user_name(index), index) + "\n")
        out.write(import_line(erase_target(size), size) + "\n")
    users = size - previous + 1
    try:
        done = infra.run_timed(
            [*ctx.tempstrong, "import", "--client", CLIENT, str(path)],
            ctx.env,
            ctx.timeout(users, 200),
        )
    finally:
        path.unlink(missing_ok=True)
    said = re.search(r"(\d+) user\(s\) imported.* in ([\d.]+) s \((\d+) users/s\)", done.stdout)
    if said is None or int(said.group(1)) != users:
        raise infra.BenchError(f"tempstrong import did not import {users} users: {done.stdout}")
    return {
        "users": users,
        "wall_s": round(done.seconds, 2),
        "users_per_s": per_second(users, done.seconds),
        "command_seconds": float(said.group(2)),
        "command_users_per_s": float(said.group(3)),
        "command_progress": final_progress(done.stderr),
        "stdout": done.stdout.strip(),
    }


def seed_resets(ctx: Context, previous: int, size: int) -> dict[str, Any]:
    count = size - previous
    command = [sys.executable, str(HERE / "seed_resets.py"), "--client", CLIENT]
    command += ["--first", str(previous), "--count", str(count), "--resets", str(ctx.args.resets)]
    done = infra.run_timed(command, ctx.env, ctx.timeout(count * ctx.args.resets, 300))
    said = json.loads(done.stdout.strip().splitlines()[-1])
    return {**said, "wall_s": round(done.seconds, 2), "per_credential": ctx.args.resets}


def rebuild(ctx: Context, size: int) -> dict[str, Any]:
    at_most = size * (3 + ctx.args.resets) * 2  # events, with the API's resets of earlier sizes
    done = infra.run_timed(
        [*ctx.tempstrong, "rebuild", VIEW_NAME], ctx.env, ctx.timeout(at_most, 1500)
    )
    said = re.search(r"rebuilt from (\d+) events", done.stdout)
    events = int(said.group(1)) if said else 0
    progress = final_progress(done.stderr)
    return {
        "events": events,
        "wall_s": round(done.seconds, 2),
        "events_per_s": per_second(events, done.seconds),
        "command_events_per_s": progress.get("rate_per_second"),
        "command_progress": progress,
    }


def erase_one(ctx: Context, size: int) -> dict[str, Any]:
    user = erase_target(size)
    done = infra.run_timed(
        [*ctx.tempstrong, "erase", "--client", CLIENT, "--user", user], ctx.env, 120
    )
    return {"user": user, "wall_s": round(done.seconds, 3), "stdout": done.stdout.strip()}


def rewrap(ctx: Context, size: int) -> dict[str, Any]:
    """A new key first in the keyring (the old ones after it), then `tempstrong rewrap`."""
    ring_path = ctx.keys / "personal-data-keys.json"
    ring = json.loads(ring_path.read_text(encoding="utf-8"))
    new_key = {"id": f"scale-{size}", "key": base64.b64encode(os.urandom(32)).decode()}
    ring["keys"].insert(0, new_key)
    ring_path.write_text(json.dumps(ring, indent=2), encoding="utf-8")
    done = infra.run_timed([*ctx.tempstrong, "rewrap"], ctx.env, ctx.timeout(size, 2500))
    said = re.search(r"(\d+) data key\(s\) re-wrapped", done.stdout)
    keys = int(said.group(1)) if said else 0
    progress = final_progress(done.stderr)
    return {
        "keys": keys,
        "wall_s": round(done.seconds, 2),
        "keys_per_s": per_second(keys, done.seconds),
        "command_keys_per_s": progress.get("rate_per_second"),
        "keyring_keys": len(ring["keys"]),
        "stdout": done.stdout.strip(),
    }


# --- sizes on disk ------------------------------------------------------------------------------


async def store_sizes(database_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """After VACUUM (ANALYZE) of the database: each table's size (pg_table_size: heap, TOAST,
    free-space and visibility maps), its indexes (pg_indexes_size), per live credential (the
    read model's rows)."""
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        started = time.perf_counter()
        await connection.execute("VACUUM (ANALYZE)")
        vacuum_s = time.perf_counter() - started
        credentials = int(await connection.fetchval(f"SELECT count(*) FROM {VIEW_NAME}"))
        events = int(await connection.fetchval(f"SELECT count(*) FROM {EVENTS_TABLE}"))
        rows = await connection.fetch(
            "SELECT c.relname AS name, pg_table_size(c.oid) AS table_bytes, "
            "pg_relation_size(c.oid) AS main_fork_bytes, pg_indexes_size(c.oid) AS index_bytes, "
            "pg_total_relation_size(c.oid) AS total_bytes, c.reltuples::bigint AS rows "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public' AND c.relname <> $1 "
            "ORDER BY c.relname",
            FLOOR_TABLE,
        )
    finally:
        await connection.close()
    tables = {r["name"]: {k: int(v) for k, v in r.items() if k != "name"} for r in rows}
    store = {
        "credentials": credentials,
        "events": events,
        "events_per_credential": round(events / credentials, 3) if credentials else None,
    }
    event_store = sum(
        tables[name]["total_bytes"] for name in GROUPS["event_store"] if name in tables
    )
    return store, {
        "vacuum_analyze_s": round(vacuum_s, 2),
        "tables": tables,
        "per_credential": bytes_per_credential(tables, credentials),
        "per_event": round(event_store / events, 1) if events else None,
    }


def bytes_per_credential(tables: dict[str, dict[str, int]], credentials: int) -> dict[str, float]:
    if not credentials:
        return {}
    out: dict[str, float] = {}
    grouped: set[str] = set()
    for group, names in GROUPS.items():
        present = [tables[name] for name in names if name in tables]
        grouped.update(names)
        out[f"{group}_table"] = sum(t["table_bytes"] for t in present) / credentials
        out[f"{group}_indexes"] = sum(t["index_bytes"] for t in present) / credentials
    out["other"] = (
        sum(t["total_bytes"] for name, t in tables.items() if name not in grouped) / credentials
    )
    out["total"] = sum(t["total_bytes"] for t in tables.values()) / credentials
    return {k: round(v, 1) for k, v in out.items()}


# --- the API ------------------------------------------------------------------------------------


async def api_phase(ctx: Context, size: int, result: dict[str, Any]) -> None:
    started = time.perf_counter()
    api = ctx.stack.start(f"api-{size}", [*ctx.tempstrong, "api"], ctx.env)
    try:
        await api.wait_http_ready(f"{ctx.api_url}/readyz")
        result["api"] = {
            "startup_s": round(time.perf_counter() - started, 3),
            "startup_resolution_s": 0.1,  # infra.Child.wait_http_ready polls every 0.1 s
        }
        result["reset_latency"] = await reset_latency(ctx, size)
        result["wrk"] = await reset_throughput(ctx, size, api)
        memory = infra.proc_status(api.pid)
        result["api"].update(
            rss_mib=round(memory.get("VmRSS", 0) / 1024, 1),
            peak_rss_mib=round(memory.get("VmHWM", 0) / 1024, 1),
            threads=memory.get("Threads"),
        )
        result["list"] = await list_pages(ctx, size)
        api.check_alive()
    finally:
        ctx.stack.stop(api)


async def timed_gets_or_posts(
    session: aiohttp.ClientSession, method: str, paths: Sequence[str]
) -> tuple[list[float], Counter[int]]:
    """Each request in turn over the session's one connection: latencies (ms, 2xx only) from
    sending to the whole body read, and the statuses."""
    samples: list[float] = []
    statuses: Counter[int] = Counter()
    for path in paths:
        started = time.perf_counter()
        async with session.request(method, path) as response:
            await response.read()
            elapsed = (time.perf_counter() - started) * 1000
            statuses[response.status] += 1
            if 200 <= response.status < 300:
                samples.append(elapsed)
    return samples, statuses


def series(samples: list[float], statuses: Counter[int]) -> dict[str, Any]:
    return {**clients.summarize(samples), "statuses": {str(k): v for k, v in statuses.items()}}


async def reset_latency(ctx: Context, size: int) -> dict[str, Any]:
    """Sequential resets over one connection, users uniform over the whole store (after
    WARMUP_REQUESTS untimed ones: the API's pool connects)."""
    draw = random.Random(size)
    count = WARMUP_REQUESTS + ctx.args.latency_samples
    paths = [
        clients.reset_path(CLIENT, clients.user_name(draw.randrange(size))) for _ in range(count)
    ]
    async with clients.api_session(ctx.api_url, ctx.token, 1) as session:
        await timed_gets_or_posts(session, "POST", paths[:WARMUP_REQUESTS])
        samples, statuses = await timed_gets_or_posts(session, "POST", paths[WARMUP_REQUESTS:])
    return {"users_drawn_from": size, **series(samples, statuses)}


async def reset_throughput(ctx: Context, size: int, api: infra.Child) -> dict[str, Any]:
    """wrk on resets of random users over the whole store, alternated with the floor."""
    floor_rows = await fill_floor(ctx.database_url)
    port = infra.free_port()
    floor_url = f"http://{infra.LOOPBACK}:{port}"
    command = [sys.executable, str(HERE / "floor.py"), "--database-url", ctx.database_url]
    command += ["--port", str(port), "--pool-size", str(ctx.args.floor_pool)]
    floor_child = ctx.stack.start(f"floor-{size}", command, ctx.env)
    try:
        await floor_child.wait_http_ready(f"{floor_url}/readyz")
        scripts = ctx.stack.tmp
        targets = {
            "service": (
                ctx.api_url,
                wrkrun.write_script(
                    scripts / "service.lua",
                    users=size,
                    path_template=clients.reset_path(CLIENT, "{user}"),
                    token=ctx.token,
                ),
                api,
            ),
            "floor": (
                floor_url,
                wrkrun.write_script(
                    scripts / "floor.lua", users=size, path_template="/floor/{user}", token=""
                ),
                floor_child,
            ),
        }

        def drive(target: str, duration: float) -> dict[str, Any]:
            url, script, child = targets[target]
            child.check_alive()
            cpu = infra.proc_cpu_seconds(child.pid)
            out = wrkrun.run_wrk(
                ctx.wrk,
                target=target,
                url=url,
                script=script,
                connections=ctx.args.connections,
                duration=duration,
                threads=ctx.args.threads,
            ).as_dict()
            cpu = infra.proc_cpu_seconds(child.pid) - cpu
            requests = int(out["requests"])  # type: ignore[call-overload]
            out["server_cpu_ms_per_request"] = round(1000 * cpu / requests, 3) if requests else None
            return out

        if ctx.args.warmup > 0:
            for target in targets:
                await asyncio.to_thread(drive, target, ctx.args.warmup)
        runs: dict[str, list[dict[str, Any]]] = {"service": [], "floor": []}
        for index in range(ctx.args.repeat):
            for target in ("service", "floor") if index % 2 == 0 else ("floor", "service"):
                runs[target].append(await asyncio.to_thread(drive, target, ctx.args.duration))
                last = runs[target][-1]
                print(
                    f"  wrk {target:7}: {last['ok_rps']:8.1f} req/s  p99 {last['p99_ms']:7.2f} ms"
                    f"  non-2xx {last['non_2xx']}",
                    flush=True,
                )
    finally:
        ctx.stack.stop(floor_child)
    return {**bench.wrk_summary(runs), "runs": runs, "floor_rows_before": floor_rows}


async def fill_floor(database_url: str) -> int:
    """The floor's table, filled up to as many rows as the event store holds (its primary key
    is a bigserial: rows append at the index's right edge, unlike the event store's
    (originator_id, originator_version)). Returns its row count."""
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        await connection.execute(floor.DDL)
        have = int(await connection.fetchval(f"SELECT count(*) FROM {FLOOR_TABLE}"))
        want = int(await connection.fetchval(f"SELECT count(*) FROM {EVENTS_TABLE}"))
        while have < want:
            batch = min(FLOOR_FILL_BATCH, want - have)
            await connection.execute(
                f"INSERT INTO {FLOOR_TABLE} (user_id, payload) "
                "SELECT 'u' || g, $1::jsonb FROM generate_series(1, $2) AS g",
                floor.PAYLOAD,
                batch,
            )
            have += batch
        await connection.execute(f"VACUUM (ANALYZE) {FLOOR_TABLE}")
        return have
    finally:
        await connection.close()


async def list_pages(ctx: Context, size: int) -> dict[str, Any]:
    """The list endpoint's first page and the page after the user 90% through the sort order
    (its continuation token), `--list-samples` sequential requests each."""
    path = CREDENTIAL_LIST_PATH.format(clientExtId=CLIENT)
    ordered = sorted(clients.user_name(i) for i in range(size))  # the view sorts by userExtId
    after = ordered[int(DEEP_FRACTION * size)]
    pages = {"first": path, "deep": f"{path}?continuationToken={encode_continuation(after)}"}
    out: dict[str, Any] = {"deep_after": after, "limit": "the default (100)"}
    async with clients.api_session(ctx.api_url, ctx.token, 1) as session:
        for name, page in pages.items():
            status, body = await clients.call(session, "GET", page)
            if status != 200 or not body.get("items"):
                raise infra.BenchError(f"list {name} page: HTTP {status}, {str(body)[:300]}")
            await timed_gets_or_posts(session, "GET", [page] * WARMUP_REQUESTS)
            samples, statuses = await timed_gets_or_posts(
                session, "GET", [page] * ctx.args.list_samples
            )
            out[name] = {"items": len(body["items"]), **series(samples, statuses)}
    return out


# --- projector and publisher from position 0 -----------------------------------------------------


async def follow_from_zero(
    ctx: Context, size: int, stage: str, env: dict[str, str]
) -> dict[str, Any]:
    """The stage alone from position 0 over the whole store (the projector into an emptied
    view), polled as bench/catchup.py polls it, until the head or `--follow-window` seconds
    after its start; events/s over [first progress, last poll]."""
    follower = catchup.TRACKING[stage]
    db = await asyncpg.connect(ctx.database_url, timeout=10)
    try:
        if stage == "projector":
            await db.execute(f"TRUNCATE {VIEW_NAME}")
        await db.execute(
            f"UPDATE {catchup.TRACKING_TABLE} SET position = 0 WHERE name = $1",
            follower,
        )
        head = await catchup.head(db)
        child = ctx.stack.start(f"{stage}-{size}", [*ctx.tempstrong, stage], env)
        try:
            watched = await catchup.watch(
                child,
                lambda: catchup.position(db, follower),
                0,
                head,
                limit_s=ctx.args.follow_window,
                poll_s=0.05,
            )
        finally:
            ctx.stack.stop(child)
        reached_head = watched.end is not None
        if watched.status == "timed out" and watched.first is not None:
            # bounded: the window closes at the last poll (not at the head)
            watched = dataclasses.replace(watched, status="measured", end=watched.last)
        events = None
        if watched.first is not None and watched.end is not None:
            events = await catchup.events_between(db, watched.first.value, watched.end.value)
        total = await catchup.events_between(db, 0, head)
    finally:
        await db.close()
    result = catchup.stage_result(watched, events, "events", total)
    result.update(head=head, reached_head=reached_head, window_limit_s=ctx.args.follow_window)
    return result


async def publisher_from_zero(ctx: Context, size: int) -> dict[str, Any]:
    """The publisher from 0 into a fresh vhost (deleted afterwards with what it holds)."""
    vhost = infra.Vhost()
    try:
        vhost.create()
    except infra.BenchError as exc:
        return {"status": "not measured", "reason": str(exc)}
    ctx.stack.vhost = vhost  # deleted by the stack's close should anything fail here
    try:
        env = {**ctx.env, "TEMPSTRONG_AMQP_URL": vhost.url}
        return await follow_from_zero(ctx, size, "publisher", env)
    finally:
        vhost.delete()
        ctx.stack.vhost = None


# --- output -------------------------------------------------------------------------------------


def finite(value: Any) -> Any:
    """NaN and infinities (a median of nothing) as null: the JSON stays JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def notes(report: dict[str, Any]) -> list[str]:
    cfg = report["config"]
    lines = [
        f"Store grown cumulatively: `tempstrong import` of each chunk (a credential each), then "
        f"{cfg['resets']} Reset events per new credential at database speed "
        "(bench/seed_resets.py); the API's own resets of earlier sizes stay in the store.",
        "Bytes: after `VACUUM (ANALYZE)` of the database (no space returned to the OS); table = "
        "pg_table_size (heap + TOAST + free-space and visibility maps), indexes = "
        "pg_indexes_size, ÷ live credentials (rows of the read model, rebuilt just before); "
        "measured before the API's resets of that size.",
        f"Reset, 1 connection: {cfg['latency_samples']} sequential resets, users uniform over "
        f"the whole store. wrk: -t{cfg['threads']} -c{cfg['connections']} -d{cfg['duration']:g}s,"
        f" {cfg['repeat']} service/floor pairs alternating, medians; random users over the whole "
        "store; the floor's table first filled to the event store's row count.",
        f"List: {cfg['list_samples']} sequential GETs of the first page and of the page after "
        "the user 90% through the sort order (continuation token), default page size.",
        "Erase, rebuild, rewrap, import: wall time of the command (process start to exit); "
        '"the command\'s own" is the rate it reports itself (from after its start-up).',
        "Goals (issue 22): import >= 5,000 users/s; reset ÷ floor at the largest size within "
        "1.2x of the smallest; rebuild >= 20,000 events/s.",
    ]
    for result in report["results"]:
        for stage in ("projector", "publisher"):
            stage_result = result.get(stage, {})
            if stage_result.get("reached_head") is False:
                lines.append(
                    f"{stage} at {scaletable.size_label(result['size'])}: window bounded at "
                    f"{stage_result.get('window_limit_s')} s, stopped at notification "
                    f"{stage_result.get('reached')} of {stage_result.get('head')} "
                    f"({stage_result.get('status')})."
                )
    return lines


def write_results(report: dict[str, Any]) -> tuple[Path, Path, Path | None, str]:
    sizes = [r["size"] for r in report["results"]]
    table = scaletable.markdown_table(sizes, report["results"], METRICS)
    report["table"] = {
        metric.label: {"values": values, "factor": growth}
        for metric, values, growth in scaletable.rows(report["results"], METRICS)
    }
    report["notes"] = notes(report)
    stamp = bench.stamp_of(report)
    base = bench.RESULTS / f"scale-{stamp}"
    machine = report["machine"]
    title = (
        f"tempstrong scale, {machine['nproc']} CPUs ({machine['cpu_model']}), "
        f"{machine['memory_mib']} MiB, started {report['started_at']}"
    )
    png = plot.plot_scale(
        sizes,
        [
            (m.label, [scaletable.number(v) for v in values])
            for m, values, _ in scaletable.rows(report["results"], METRICS)
            if m.plot
        ],
        base.with_suffix(".png"),
        title,
    )
    report["plot"] = str(png) if png else None
    markdown = "\n\n".join(
        [f"# {title}", table, "\n".join(f"- {line}" for line in report["notes"])]
    )
    md_path, json_path = base.with_suffix(".md"), base.with_suffix(".json")
    md_path.write_text(markdown + "\n", encoding="utf-8")
    json_path.write_text(json.dumps(finite(report), indent=2, default=str), encoding="utf-8")
    return md_path, json_path, png, table


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench.RESULTS.mkdir(parents=True, exist_ok=True)
    # Ctrl-C too raises KeyboardInterrupt at once, wherever the main thread is (asyncio's own
    # handler only cancels the task at its next await, and the one-shot commands run
    # synchronously): a running command is killed, then the finally blocks stop the rest.
    report = bench.run_cleanly("scale", run(args), (signal.SIGINT, signal.SIGTERM))
    if isinstance(report, int):
        return report
    md_path, json_path, png, table = write_results(report)
    print()
    print(table)
    for line in report["notes"]:
        print(f"- {line}")
    walls = ", ".join(
        f"{scaletable.size_label(r['size'])} {r['wall_s']:.0f} s" for r in report["results"]
    )
    print(f"wall time per size: {walls}; whole run {report['seconds']:.0f} s")
    print(f"results: {md_path}\n         {json_path}" + (f"\n         {png}" if png else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
