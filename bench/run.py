"""Benchmark: the reset endpoint of `tempstrong api` against the floor, in one run, on one machine.

    .venv/bin/python bench/run.py [--users 2000] [--repeat 3] [-d 10] [-c 64] [--profile]
                                  [--catchup-users 10000]

Creates a throwaway PostgreSQL database (and, for the steady-rate phase, a RabbitMQ vhost), runs
`tempstrong migrate`, starts `tempstrong api` and the floor (bench/floor.py) on free loopback
ports, seeds users with a credential each, then:

1. steady rate (`--steady-rate`, 0 = off): an open-loop asyncio client resets at a fixed rate
   while the projector, publisher and delivery worker run; observers measure projection lag and
   reset -> delivered (SMTP sink) latency;
2. throughput: wrk against the service and the floor, alternating, `--repeat` times; medians;
3. a sweep over connections for the plot;
4. history length: reset latency of a credential with 1,000 events vs a fresh one;
5. the API's peak RSS; optionally (`--profile`) py-spy and pg_stat_activity under load.

Between 1 and 2, the catch-up phase (`--catchup-users`, 0 = off; bench/catchup.py): the API
writes a backlog of resets with no pipeline process running, then the projector, the publisher
and the delivery worker each run alone on it; their rates against the API's, CPU per event.

Writes bench/results/<UTC timestamp>.json, bench/results/latest.json and a PNG; prints a summary.
Everything is cleaned up (processes by pid, database, vhost, temp dir) even on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catchup
import clients
import cpu
import infra
import observers
import plot
import profiling
import wrkrun

CLIENT = "bench"
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ADMIN_PERMISSIONS = [
    "AccessControl.CredentialView",
    "AccessControl.CredentialModify",
    "AccessControl.UserCreate",
    "AccessControl.CredentialCreate",
]
MAIL_POLICY = "bench"
POLICY_YAML = f"""\
clients:
  {CLIENT}:
    defaultPolicy: {MAIL_POLICY}
    policies: [{catchup.SILENT_POLICY}]
policies:
  {MAIL_POLICY}:
    type: TempStrongPasswordPolicy
    sendingMethod: Email
    maxResetCount: 1000000
  {catchup.SILENT_POLICY}:  # the catch-up users' credentials are created under it: no mail
    type: TempStrongPasswordPolicy
    sendingMethod: None
    maxResetCount: 1000000
"""
JWT_ISSUER = "tempstrong-dev"  # what `tempstrong token` signs (service/security/devkeys.py)
JWT_AUDIENCE = "tempstrong"
COMMITS = "tempstrong_eventstore_commits"
SAVES = "tempstrong_eventstore_saves"
STALL_SECONDS = 20.0


def add_shared_options(p: argparse.ArgumentParser) -> None:
    """The options bench/run.py and bench/scale.py share: wrk, the floor, the database, logs."""
    p.add_argument("-d", "--duration", type=float, default=10.0, help="seconds per wrk run")
    p.add_argument("-c", "--connections", type=int, default=64, help="wrk connections")
    p.add_argument("-t", "--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of wrk warm-up per target")
    p.add_argument("--floor-pool", type=int, default=16, help="asyncpg pool size of the floor")
    p.add_argument(
        "--admin-database-url",
        default=os.environ.get(
            "BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="where to CREATE/DROP the bench database (env BENCH_ADMIN_DATABASE_URL)",
    )
    p.add_argument("--keep-logs", action="store_true", help="copy process logs to bench/results")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--users", type=int, default=2000, help="users seeded (default 2000)")
    p.add_argument("--repeat", type=int, default=3, help="service/floor pairs (default 3)")
    add_shared_options(p)
    p.add_argument(
        "--sweep",
        default="1,8,32,64,128",
        help="connection counts for the plot; empty = no sweep (default 1,8,32,64,128)",
    )
    p.add_argument("--sweep-duration", type=float, default=None, help="default: --duration")
    p.add_argument("--history-events", type=int, default=1000, help="events of the long credential")
    p.add_argument("--history-samples", type=int, default=200, help="timed resets per credential")
    p.add_argument(
        "--steady-rate",
        type=float,
        default=100.0,
        help="resets/s of the steady phase (API, projector, publisher, RabbitMQ, delivery "
        "worker and SMTP sink share the machine); 0 = off (default 100)",
    )
    p.add_argument("--steady-duration", type=float, default=15.0)
    p.add_argument("--drain-timeout", type=float, default=120.0)
    p.add_argument(
        "--catchup-users",
        type=int,
        default=10000,
        help="catch-up phase: users with one Email reset each in the backlog that each pipeline "
        f"stage then works off alone; 0 = off, else at least {catchup.MIN_USERS} (default 10000)",
    )
    p.add_argument(
        "--catchup-timeout",
        type=float,
        default=300.0,
        help="seconds each catch-up step (seeding, backlog, one stage) may take (default 300)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        help="API processes and floor processes, each group on one port (SO_REUSEPORT); default 1",
    )
    p.add_argument("--profile", action="store_true", help="py-spy + pg_stat_activity under load")
    p.add_argument(
        "--catchup-profile",
        action="store_true",
        help="py-spy records the API and each stage during the catch-up phase (needs root)",
    )
    p.add_argument("--profile-seconds", type=int, default=10)
    p.add_argument(
        "--api-switch-interval",
        type=float,
        default=None,
        help="experiment: run the API with sys.setswitchinterval(S) (CPython default 0.005)",
    )
    args = p.parse_args(argv)
    args.sweep_connections = [int(x) for x in args.sweep.split(",") if x.strip()]
    if args.sweep_duration is None:
        args.sweep_duration = args.duration
    for name in ("users", "repeat", "connections", "history_events", "history_samples"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if 0 < args.catchup_users < catchup.MIN_USERS or args.catchup_users < 0:
        p.error(f"--catchup-users must be 0 (off) or at least {catchup.MIN_USERS}")
    return args


@dataclass
class Stack:
    """What one run started; `close` undoes it in reverse order."""

    tmp: Path
    children: list[infra.Child] = field(default_factory=list)
    database: infra.Database | None = None
    vhost: infra.Vhost | None = None
    sink: observers.SmtpSink | None = None
    events: observers.EventsObserver | None = None
    pipeline: dict[str, list[str]] = field(default_factory=dict)  # stage -> command
    env: dict[str, str] = field(default_factory=dict)  # the services' environment

    def start(self, name: str, command: list[str], env: dict[str, str]) -> infra.Child:
        child = infra.Child(name, command, env, self.tmp)
        self.children.append(child)
        return child

    def stage_env(self, stage: str) -> dict[str, str]:
        env = dict(self.env)
        if stage == "delivery":
            assert self.sink is not None
            env["TEMPSTRONG_SMTP_URL"] = self.sink.url
            env["TEMPSTRONG_DELIVERY_PRIVATE_KEY"] = (
                (self.tmp / "keys" / "delivery-private.key").read_text().strip()
            )
        return env

    def start_stage(
        self, stage: str, metrics_port: int, log_name: str, extra: dict[str, str]
    ) -> infra.Child:
        """A pipeline process (catch-up phase), serving /metrics on `metrics_port`."""
        env = {**self.stage_env(stage), **extra, "TEMPSTRONG_METRICS_PORT": str(metrics_port)}
        return self.start(log_name, self.pipeline[stage], env)

    def stop(self, child: infra.Child) -> None:
        child.stop()
        self.children.remove(child)

    async def close(self) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop()
        self.children.clear()
        if self.events is not None:
            await self.events.stop()
        if self.sink is not None:
            self.sink.stop()
        if self.database is not None:
            try:
                await self.database.drop()
            except Exception as exc:
                print(f"warning: could not drop database {self.database.name}: {exc}")
        if self.vhost is not None:
            try:
                self.vhost.delete()
            except Exception as exc:
                print(f"warning: could not delete vhost {self.vhost.name}: {exc}")


def write_keys_and_policy(tmp: Path, tempstrong: list[str]) -> tuple[Path, Path]:
    """`tempstrong keys` into tmp/keys and the bench's policy file: (keys dir, policy file)."""
    keys = tmp / "keys"
    infra.run_checked([*tempstrong, "keys", "--out", str(keys)], dict(os.environ))
    policy = tmp / "policies.yaml"
    policy.write_text(POLICY_YAML, encoding="utf-8")
    return keys, policy


def api_settings(database_url: str, keys: Path, policy: Path, port: int) -> dict[str, str]:
    """The services' settings (without the TEMPSTRONG_ prefix) for the dev keys in `keys`."""
    return {
        "DATABASE_URL": database_url,
        "JWKS": str(keys / "jwks.json"),
        "JWT_ISSUER": JWT_ISSUER,
        "JWT_AUDIENCE": JWT_AUDIENCE,
        "POLICY_FILE": str(policy),
        "DELIVERY_PUBLIC_KEY": (keys / "delivery-public.key").read_text().strip(),
        "HASH_KEY": (keys / "hash.key").read_text().strip(),
        "PERSONAL_DATA_KEYS": str(keys / "personal-data-keys.json"),
        "HTTP_HOST": infra.LOOPBACK,
        "HTTP_PORT": str(port),
    }


def sign_token(tempstrong: list[str], keys: Path, env: dict[str, str]) -> str:
    """An admin token of the bench's client for a day, signed with the dev key."""
    command = [*tempstrong, "token", "--keys", str(keys), "--client", CLIENT, "--lifetime"]
    return infra.run_checked([*command, "86400", "--permissions", *ADMIN_PERMISSIONS], env).strip()


def service_env(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPSTRONG_")}
    env.update({f"TEMPSTRONG_{k}": v for k, v in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pipeline_commands(tempstrong: list[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The commands of projector, publisher and delivery worker that exist, and why others don't."""
    subcommands = {n for n in ("projector", "publisher", "delivery") if _exists(tempstrong, n)}
    found: dict[str, list[str]] = {}
    missing: dict[str, str] = {}
    for name in ("projector", "publisher"):
        if name in subcommands:
            found[name] = [*tempstrong, name]
        else:
            missing[name] = f"`tempstrong {name}` does not exist yet"
    if "delivery" in subcommands:
        found["delivery"] = [*tempstrong, "delivery"]
    else:
        missing["delivery"] = "`tempstrong delivery` does not exist yet"
    return found, missing


def _exists(tempstrong: list[str], command: str) -> bool:
    """`tempstrong COMMAND --help` exits 0 for a command that exists (argparse: 2 otherwise)."""
    done = subprocess.run([*tempstrong, command, "--help"], capture_output=True, timeout=60)
    return done.returncode == 0


def median_of(results: list[dict[str, Any]], key: str) -> float:
    values = [float(r[key]) for r in results if r.get(key) is not None]
    return round(float(statistics.median(values)), 3) if values else float("nan")


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    wrk = infra.ensure_wrk()
    tempstrong = infra.tempstrong_command()
    report = new_report(args, "sweep")
    async with stack_of(args, report, "tempstrong-bench-") as stack:
        await _run_in(stack, args, wrk, tempstrong, report)
    return report


def new_report(args: argparse.Namespace, *leave_out: str) -> dict[str, Any]:
    """A run's report as it starts: when, and the options (but the admin URL and `leave_out`)."""
    left = {"admin_database_url", *leave_out}
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {k: v for k, v in vars(args).items() if k not in left},
    }


@contextlib.asynccontextmanager
async def stack_of(
    args: argparse.Namespace, report: dict[str, Any], prefix: str
) -> AsyncIterator[Stack]:
    """A Stack in a temporary directory; closed (processes stopped, database dropped) on the way
    out, whatever happened, after copying the logs with --keep-logs."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp_name:
        stack = Stack(Path(tmp_name))
        try:
            yield stack
        finally:
            if args.keep_logs:
                keep_logs(stack, stamp_of(report))
            await stack.close()


def keep_logs(stack: Stack, stamp: str) -> None:
    folder = RESULTS / f"{stamp}-logs"
    folder.mkdir(parents=True, exist_ok=True)
    for log in stack.tmp.glob("*.log"):
        (folder / log.name).write_bytes(log.read_bytes()[-2_000_000:])


async def _run_in(
    stack: Stack, args: argparse.Namespace, wrk: str, tempstrong: list[str], report: dict[str, Any]
) -> None:
    keys, policy = write_keys_and_policy(stack.tmp, tempstrong)

    stack.database = infra.Database(args.admin_database_url)
    await stack.database.create()
    report["machine"] = infra.machine_info(await stack.database.server_version())
    print(
        f"database {stack.database.name}; machine: {report['machine']['cpu_model']}, "
        f"{report['machine']['nproc']} CPUs",
        flush=True,
    )

    api_port, floor_port = infra.free_port(), infra.free_port()
    settings = api_settings(stack.database.url, keys, policy, api_port)

    # The pipeline of the steady-rate and catch-up phases: which processes exist, and a private
    # vhost + SMTP sink for them.
    pipeline: dict[str, list[str]] = {}
    missing: dict[str, str] = {"all": "steady and catch-up phases off"}
    if args.steady_rate > 0 or args.catchup_users > 0:
        pipeline, missing = pipeline_commands(tempstrong)
        if {"publisher", "delivery"} <= set(pipeline):
            try:
                stack.vhost = infra.Vhost()
                stack.vhost.create()
                settings["AMQP_URL"] = stack.vhost.url
                stack.sink = observers.SmtpSink(infra.free_port())
                stack.sink.start()
            except (infra.BenchError, ImportError, OSError) as exc:
                stack.vhost = None if stack.vhost and not stack.vhost.created else stack.vhost
                for name in ("publisher", "delivery"):
                    missing[name] = f"cannot run: {exc}"
                    pipeline.pop(name, None)
    env = service_env(settings)
    stack.pipeline, stack.env = pipeline, env
    infra.run_checked([*tempstrong, "migrate"], env)
    if "AMQP_URL" in settings:
        # A downstream consumer of tempstrong.events, bound before the publisher starts.
        stack.events = observers.EventsObserver(settings["AMQP_URL"])
        await stack.events.connect()

    token = sign_token(tempstrong, keys, env)

    api_command = [*tempstrong, "api"]
    if args.api_switch_interval is not None:
        api_command = [
            sys.executable,
            "-c",
            f"import sys; sys.setswitchinterval({float(args.api_switch_interval)!r}); "
            "from service.cli import main; sys.exit(main(['api']))",
        ]
    # --processes N: N API processes and N floor processes, each group sharing its port
    shared = args.processes > 1
    api_env = {**env, "TEMPSTRONG_HTTP_REUSE_PORT": "true"} if shared else env
    floor_command = [
        sys.executable,
        str(HERE / "floor.py"),
        "--database-url",
        stack.database.url,
        "--port",
        str(floor_port),
        "--pool-size",
        str(args.floor_pool),
        *(["--reuse-port"] if shared else []),
    ]
    apis = [
        stack.start("api" if i == 0 else f"api-{i + 1}", api_command, api_env)
        for i in range(args.processes)
    ]
    api = apis[0]
    api_url, floor_url = (
        f"http://{infra.LOOPBACK}:{api_port}",
        f"http://{infra.LOOPBACK}:{floor_port}",
    )
    await asyncio.gather(*(child.wait_http_ready(f"{api_url}/readyz") for child in apis))
    if shared:
        await asyncio.sleep(2)  # every process of a group listening, not just the first

    # The pipeline starts before seeding so that it drains the creation events meanwhile.
    pipeline_children = _start_pipeline(stack, pipeline) if args.steady_rate > 0 else []
    print(f"seeding {args.users} users with a credential each ...", flush=True)
    seconds = await clients.seed_users(api_url, token, CLIENT, args.users)
    report["seed"] = {
        "users": args.users,
        "seconds": round(seconds, 2),
        "per_s": round(args.users / seconds, 1),
    }
    print(f"  seeded in {seconds:.1f} s ({args.users / seconds:.0f} users/s)", flush=True)

    report["steady"] = await _steady_phase(
        stack, args, api_url, token, pipeline, missing, pipeline_children, apis
    )
    for child in pipeline_children:
        stack.stop(child)  # the throughput runs measure the API alone

    report["catchup"] = await _catchup_phase(stack, args, api_url, token, apis, missing)

    # The floor starts only now: its idle pool would hold --floor-pool PostgreSQL connections
    # while the pipeline phases run (the delivery worker alone takes 2 x prefetch + 2).
    floors = [
        stack.start("floor" if i == 0 else f"floor-{i + 1}", floor_command, env)
        for i in range(args.processes)
    ]
    await asyncio.gather(*(child.wait_http_ready(f"{floor_url}/readyz") for child in floors))
    if shared:
        await asyncio.sleep(2)

    scripts = stack.tmp
    service_script = wrkrun.write_script(
        scripts / "service.lua",
        users=args.users,
        path_template=clients.reset_path(CLIENT, "{user}"),
        token=token,
    )
    floor_script = wrkrun.write_script(
        scripts / "floor.lua", users=args.users, path_template="/floor/{user}", token=""
    )
    targets = {
        "service": (api_url, service_script, apis),
        "floor": (floor_url, floor_script, floors),
    }

    def drive(target: str, connections: int, duration: float) -> dict[str, Any]:
        url, script, children = targets[target]
        for child in children:
            child.check_alive()
        cpu_before = sum(infra.proc_cpu_seconds(child.pid) for child in children)
        commits_before = _commit_counts(target)
        result = wrkrun.run_wrk(
            wrk,
            target=target,
            url=url,
            script=script,
            connections=connections,
            duration=duration,
            threads=args.threads,
        )
        cpu_seconds = sum(infra.proc_cpu_seconds(child.pid) for child in children) - cpu_before
        out = result.as_dict()
        # CPU of the server process only (not PostgreSQL, not wrk): ms per request, and cores used.
        out["server_cpu_ms_per_request"] = (
            round(1000 * cpu_seconds / result.requests, 3) if result.requests else None
        )
        out["server_cpu_cores"] = (
            round(cpu_seconds / result.duration_s, 2) if result.duration_s else None
        )
        if commits_before is not None:
            # how many resets shared one event-store transaction (the group commit)
            after = _commit_counts(target) or {}
            commits = after.get(COMMITS, 0.0) - commits_before[COMMITS]
            saves = after.get(SAVES, 0.0) - commits_before[SAVES]
            out["saves_per_commit"] = round(saves / commits, 1) if commits else None
        return out

    def _commit_counts(target: str) -> dict[str, float] | None:
        if target != "service":
            return None
        return infra.scrape_counters(f"{api_url}/metrics", (COMMITS, SAVES))

    if args.warmup > 0:
        for target in targets:
            await asyncio.to_thread(drive, target, args.connections, args.warmup)

    runs: dict[str, list[dict[str, Any]]] = {"service": [], "floor": []}
    for index in range(args.repeat):
        for target in ("service", "floor") if index % 2 == 0 else ("floor", "service"):
            result = await asyncio.to_thread(drive, target, args.connections, args.duration)
            runs[target].append(result)
            print(
                f"  run {index + 1}/{args.repeat} {target:7}: {result['rps']:8.1f} req/s  "
                f"p50 {result['p50_ms']:7.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
                f"non-2xx {result['non_2xx']}  socket errors {result['socket_errors']}",
                flush=True,
            )
    report["runs"] = runs
    report["summary"] = wrk_summary(runs)
    service_rps = report["summary"]["service"]["ok_rps"]
    catchup.add_wrk_reference(report["catchup"], service_rps, args.users)
    report["api_memory_after_main_runs_kib"] = infra.proc_status(api.pid)

    sweep: list[dict[str, Any]] = []
    for connections in args.sweep_connections:
        for target in ("service", "floor"):
            result = await asyncio.to_thread(drive, target, connections, args.sweep_duration)
            sweep.append(result)
            print(
                f"  sweep c={connections:<4} {target:7}: {result['rps']:8.1f} req/s  "
                f"p99 {result['p99_ms']:7.2f} ms",
                flush=True,
            )
    report["sweep"] = sweep

    print(f"history: building a credential with {args.history_events} events ...", flush=True)
    report["history"] = await clients.history_probe(
        api_url, token, CLIENT, long_events=args.history_events, samples=args.history_samples
    )
    report["api_memory_kib"] = infra.proc_status(api.pid)

    if args.profile:
        report["profile"] = await _profile(stack, args, api, drive, stamp_of(report))
    api.check_alive()
    report["loadavg_at_end"] = list(os.getloadavg())


def _start_pipeline(stack: Stack, pipeline: dict[str, list[str]]) -> list[infra.Child]:
    return [stack.start(name, command, stack.stage_env(name)) for name, command in pipeline.items()]


async def _catchup_phase(
    stack: Stack,
    args: argparse.Namespace,
    api_url: str,
    token: str,
    apis: list[infra.Child],
    missing: dict[str, str],
) -> dict[str, Any]:
    if args.catchup_users <= 0:
        return {"status": "off", "reason": "--catchup-users 0"}
    if stack.database is None or stack.vhost is None or stack.sink is None:
        reason = "; ".join(missing.values()) or "no RabbitMQ vhost or SMTP sink"
        return {"status": "not measured", "reason": reason}
    setup = catchup.Setup(
        database_url=stack.database.url,
        vhost=stack.vhost,
        api_url=api_url,
        token=token,
        client=CLIENT,
        mail_policy=MAIL_POLICY,
        users=args.catchup_users,
        concurrency=args.connections,
        timeout=args.catchup_timeout,
        api_pids=[child.pid for child in apis],
        pipeline=list(stack.pipeline),
        missing=missing,
        sink=stack.sink,
        profile_dir=RESULTS if args.catchup_profile else None,
    )
    if args.catchup_profile:
        RESULTS.mkdir(parents=True, exist_ok=True)
    return await catchup.run_phase(setup, stack)


def pipeline_observers(
    stack: Stack, pipeline: dict[str, list[str]], missing: dict[str, str]
) -> list[clients.Observer]:
    """One observer per measured outcome; a NotMeasured placeholder says why one is missing."""
    assert stack.database is not None
    found: list[clients.Observer] = []
    if "projector" in pipeline:
        found.append(observers.ProjectionObserver(stack.database.url, CLIENT))
    else:
        reason = missing.get("projector") or missing.get("all", "projector missing")
        found.append(observers.NotMeasured("projection_lag", reason))
    reason = "; ".join(v for k, v in missing.items() if k in ("publisher", "delivery", "all"))
    if stack.events is not None and "publisher" in pipeline:
        found.append(stack.events)
    else:
        found.append(observers.NotMeasured("reset_to_published", reason or "not wired"))
    if stack.sink is not None and {"publisher", "delivery"} <= set(pipeline):
        found.append(observers.DeliveryObserver(stack.sink))
    else:
        found.append(observers.NotMeasured("reset_to_delivered", reason or "not wired"))
    return found


async def _steady_phase(
    stack: Stack,
    args: argparse.Namespace,
    api_url: str,
    token: str,
    pipeline: dict[str, list[str]],
    missing: dict[str, str],
    children: list[infra.Child],
    apis: list[infra.Child],
) -> dict[str, Any]:
    if args.steady_rate <= 0:  # the pipeline may exist for the catch-up phase: not measured here
        pipeline, missing = {}, {"all": "steady phase off (--steady-rate 0)"}
    watchers = pipeline_observers(stack, pipeline, missing)
    report: dict[str, Any] = {
        "processes": {k: " ".join(v[-3:]) for k, v in pipeline.items()},
        "missing": missing,
    }
    if args.steady_rate <= 0:
        report["observers"] = {w.name: w.result() for w in watchers}
        return report
    # Let the pipeline catch up with the seeding (creation events, creation mails) first; give up
    # after --drain-timeout, or once nothing has moved for STALL_SECONDS (a stuck pipeline).
    drained_at = last_progress = time.monotonic()
    deadline = drained_at + args.drain_timeout
    projection = next((w for w in watchers if isinstance(w, observers.ProjectionObserver)), None)
    progress: tuple[int, int] = (-1, -1)
    while time.monotonic() < deadline and time.monotonic() - last_progress < STALL_SECONDS:
        for child in children:
            child.check_alive()
        rows = await projection.rows() if projection is not None else args.users
        mails = stack.sink.count() if stack.sink is not None else args.users
        if (rows, mails) != progress:
            progress, last_progress = (rows, mails), time.monotonic()
        if rows >= args.users and mails >= args.users:
            break
        await asyncio.sleep(0.5)
    report["pre_drain_seconds"] = round(time.monotonic() - drained_at, 1)
    report["pre_drain_progress"] = {"projected_rows": progress[0], "mails": progress[1]}
    print(
        f"steady phase: {args.steady_rate:.0f} resets/s for {args.steady_duration:.0f} s "
        f"(pipeline drained the seeding in {report['pre_drain_seconds']} s)",
        flush=True,
    )
    for watcher in watchers:
        await watcher.start()
    account = cpu.CpuAccount({"api": [c.pid for c in apis], **{c.name: [c.pid] for c in children}})
    account.start()
    try:
        result = await clients.steady_rate(
            api_url,
            token,
            CLIENT,
            users=args.users,
            rate=args.steady_rate,
            duration=args.steady_duration,
            observers=watchers,
        )
        deadline = time.monotonic() + args.drain_timeout
        for watcher in watchers:
            await watcher.drain(max(0.0, deadline - time.monotonic()))
    finally:
        for watcher in watchers:
            await watcher.stop()
    report.update(result.summary())
    report["cpu"] = account.result(report.get("ok", 0))
    report["observers"] = {w.name: w.result() for w in watchers}
    return report


def wrk_summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for target, results in runs.items():
        summary[target] = {
            "rps": median_of(results, "rps"),
            "ok_rps": median_of(results, "ok_rps"),
            "p50_ms": median_of(results, "p50_ms"),
            "p99_ms": median_of(results, "p99_ms"),
            "server_cpu_ms_per_request": median_of(results, "server_cpu_ms_per_request"),
            "server_cpu_cores": median_of(results, "server_cpu_cores"),
            "saves_per_commit": median_of(results, "saves_per_commit"),
            "non_2xx_total": sum(r["non_2xx"] for r in results),
            "socket_errors_total": sum(r["socket_errors"] for r in results),
        }
    service, floor = summary["service"], summary["floor"]
    summary["ratio_rps"] = ratio(service["ok_rps"], floor["ok_rps"])
    summary["ratio_rps_per_pair"] = [
        ratio(s["ok_rps"], f["ok_rps"]) for s, f in zip(runs["service"], runs["floor"], strict=True)
    ]
    summary["ratio_p99"] = ratio(service["p99_ms"], floor["p99_ms"])
    return summary


async def _profile(
    stack: Stack, args: argparse.Namespace, api: infra.Child, drive: Any, stamp: str
) -> dict[str, Any]:
    reason = profiling.profile_available()
    if reason:
        return {"status": "not measured", "reason": reason}
    assert stack.database is not None
    out: dict[str, Any] = {}
    seconds = args.profile_seconds
    for kind in ("cpu", "gil", "idle"):
        raw = RESULTS / f"{stamp}-profile-{kind}.txt"
        spy = profiling.start_record(api.pid, seconds, raw, mode=kind)
        tasks = [asyncio.to_thread(drive, "service", args.connections, seconds + 2)]
        if kind == "cpu":
            db = stack.database
            tasks.append(profiling.sample_db_waits(db.url, db.name, seconds))
        results = await asyncio.gather(*tasks)
        error = await profiling.wait_process(spy, 30)
        entry: dict[str, Any] = {"raw": str(raw), "wrk": results[0]}
        if len(results) > 1:
            out["db_waits"] = results[1]
        if error or not raw.exists():
            entry["error"] = error or "no output"
        else:
            entry.update(profiling.summarize_raw(raw))
        out[kind] = entry
        print(f"  profile {kind}: {raw}", flush=True)
    return out


def print_report(report: dict[str, Any], json_path: Path, png_path: Path | None) -> None:
    s = report["summary"]
    sv, fl = s["service"], s["floor"]
    cfg = report["config"]
    print()
    print(
        f"== tempstrong reset vs floor: wrk -t{cfg['threads']} -c{cfg['connections']} "
        f"-d{cfg['duration']:g}s, median of {cfg['repeat']}, "
        f"{cfg.get('processes', 1)} process(es) each =="
    )
    print(
        f"service (reset): {sv['ok_rps']:8.1f} resets/s  p50 {sv['p50_ms']:7.2f} ms  "
        f"p99 {sv['p99_ms']:7.2f} ms  non-2xx {sv['non_2xx_total']}"
    )
    print(
        f"floor (INSERT):  {fl['ok_rps']:8.1f} req/s     p50 {fl['p50_ms']:7.2f} ms  "
        f"p99 {fl['p99_ms']:7.2f} ms  non-2xx {fl['non_2xx_total']}"
    )
    print(
        f"server CPU per request: service {sv['server_cpu_ms_per_request']} ms "
        f"({sv['server_cpu_cores']} cores busy), floor {fl['server_cpu_ms_per_request']} ms "
        f"({fl['server_cpu_cores']} cores busy); resets per event-store commit "
        f"{sv.get('saves_per_commit')}"
    )
    print(
        f"ratio service/floor: throughput {s['ratio_rps']:.3f} (per pair "
        f"{s['ratio_rps_per_pair']}), p99 {s['ratio_p99']:.2f}x"
    )
    h = report["history"]
    print(
        f"history: fresh {h['fresh']['events_from_to']} events: p50 {h['fresh']['p50_ms']} ms "
        f"p99 {h['fresh']['p99_ms']} ms | long {h['long']['events_from_to']} events: "
        f"p50 {h['long']['p50_ms']} ms p99 {h['long']['p99_ms']} ms"
    )
    mem = report.get("api_memory_kib", {})
    print(
        f"API memory: peak RSS (VmHWM) {mem.get('VmHWM', 0) / 1024:.1f} MiB, "
        f"RSS now {mem.get('VmRSS', 0) / 1024:.1f} MiB, threads {mem.get('Threads')}"
    )
    steady = report["steady"]
    if "sent" in steady:
        lat = steady["reset_latency"]
        print(
            f"steady {steady['target_rate']:.0f}/s: achieved {steady['achieved_rate']}/s, "
            f"reset p50 {lat.get('p50_ms')} ms p99 {lat.get('p99_ms')} ms, "
            f"late starts {steady['late_starts']}"
        )
    for name, result in steady.get("observers", {}).items():
        if result.get("status") == "measured":
            print(
                f"  {name}: p50 {result.get('p50_ms')} ms  p99 {result.get('p99_ms')} ms  "
                f"max {result.get('max_ms')} ms  (n={result.get('count', 0)}, "
                f"expected {result['expected']})"
            )
        else:
            print(f"  {name}: NOT MEASURED YET ({result.get('reason')})")
    if "cpu" in steady:
        account = steady["cpu"]
        parts = ", ".join(f"{k} {v}" for k, v in account["cpu_ms_per_reset"].items())
        print(
            f"  CPU ms per reset: {parts}; machine {account['machine_cpu_ms_per_reset']} "
            f"({account['machine_busy_cores']} of {account['cores']} cores busy)"
        )
    for line in catchup.report_lines(report.get("catchup", {})):
        print(line)
    print(f"results: {json_path}")
    if png_path:
        print(f"plot:    {png_path}")


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stamp_of(report: dict[str, Any]) -> str:
    """ "2026-11-27T00:36:08+00:00" -> "20261127T003608Z" (file names of one run's results)."""
    return str(report["started_at"]).replace(":", "").replace("-", "").replace("+0000", "Z")


def run_cleanly(
    name: str,
    coroutine: Coroutine[Any, Any, dict[str, Any]],
    signals: Sequence[signal.Signals] = (signal.SIGTERM,),
) -> dict[str, Any] | int:
    """Runs a benchmark's coroutine: its report, or the exit status after a BenchError (1) or an
    interruption (130), said on standard error. `signals` raise KeyboardInterrupt, so the finally
    blocks clean up (processes stopped, database dropped) on SIGTERM too."""
    for signum in signals:
        signal.signal(signum, interrupted)
    try:
        return asyncio.run(coroutine)
    except infra.BenchError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted; processes stopped, database dropped", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = run_cleanly("bench", run(args))
    if isinstance(report, int):
        return report
    stamp = stamp_of(report)
    json_path = RESULTS / f"{stamp}.json"
    machine, config = report["machine"], report["config"]
    title = (
        f"tempstrong reset vs floor ({machine['nproc']} CPUs, {machine['cpu_model']}), "
        f"wrk {config['sweep_duration']:g} s per point"
    )
    png_path = (
        plot.plot_sweep(report["sweep"], RESULTS / f"{stamp}.png", title)
        if report.get("sweep")
        else None
    )
    report["plot"] = str(png_path) if png_path else None
    text = json.dumps(report, indent=2, default=str)
    json_path.write_text(text, encoding="utf-8")
    (RESULTS / "latest.json").write_text(text, encoding="utf-8")
    print_report(report, json_path, png_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
