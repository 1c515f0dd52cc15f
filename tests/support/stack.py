"""The production processes on real servers: api, publisher and delivery worker on a fresh
database and RabbitMQ vhost, with a real SMTP server and a real SMS gateway."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.support.amqp import create_vhost, delete_vhost
from tests.support.database import create_database, drop_database, url_for
from tests.support.http import BASE
from tests.support.process import api_env, free_port, run, start, wait_http
from tests.support.sinks import SmsSink, SmtpSink

PERMISSIONS = [
    "AccessControl.UserCreate",
    "AccessControl.CredentialCreate",
    "AccessControl.CredentialView",
    "AccessControl.CredentialModify",
    "AccessControl.CredentialVerify",
]


@dataclass
class Stack:
    session: aiohttp.ClientSession
    base: str  # the client's API root: .../nevisidm/api/core/v1/acme
    smtp: SmtpSink
    sms: SmsSink
    amqp_url: str
    database_url: str = ""
    env: dict[str, str] = field(default_factory=dict)  # the processes' environment
    metrics_urls: dict[str, str] = field(default_factory=dict)  # process -> its /metrics


@asynccontextmanager
async def running_stack(
    workdir: Path,
    extra_env: dict[str, str] | None = None,
    *,
    projector: bool = False,
    logs: Path | None = None,
) -> AsyncIterator[Stack]:
    """Yields once the API is ready; at the end every process must stop with status 0.
    `projector`: the projector runs too; `logs`: each process logs to `<logs>/<name>.log`."""
    database = await create_database("tempstrong_e2e")
    vhost, amqp_url = await asyncio.to_thread(create_vhost)
    smtp = SmtpSink()
    smtp.start()
    sms = SmsSink()
    await sms.start()
    port = free_port()
    keys = workdir / "k"
    env = {
        **api_env(workdir, port),
        "TEMPSTRONG_DATABASE_URL": url_for(database),
        "TEMPSTRONG_AMQP_URL": amqp_url,
        "TEMPSTRONG_SMTP_URL": smtp.url,
        "TEMPSTRONG_SMS_URL": sms.url,
        "TEMPSTRONG_SPOOL_DIR": str(workdir / "spool"),
        **(extra_env or {}),
    }
    migrated = run(["migrate"], env, workdir)
    assert migrated.returncode == 0, migrated.stderr
    worker_env = {
        **env,
        "TEMPSTRONG_DELIVERY_PUBLIC_KEY": "",
        "TEMPSTRONG_DELIVERY_PRIVATE_KEY": (keys / "delivery-private.key").read_text().strip(),
    }
    names = ["api", "publisher", "delivery", *(["projector"] if projector else [])]
    ports = {name: str(free_port()) for name in names[1:]}
    metrics_urls = {"api": f"http://127.0.0.1:{port}/metrics"}
    metrics_urls |= {name: f"http://127.0.0.1:{p}/metrics" for name, p in ports.items()}
    processes = [
        start(
            [name],
            {
                **(worker_env if name == "delivery" else env),
                **({"TEMPSTRONG_METRICS_PORT": ports[name]} if name in ports else {}),
            },
            workdir,
            logs / f"{name}.log" if logs is not None else None,
        )
        for name in names
    ]
    token = run(
        ["token", "--keys", "k", "--client", "acme", "--permissions", *PERMISSIONS], {}, workdir
    ).stdout.strip()
    failed = False
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", processes[0])
        # every worker is up too: a test that reads a worker's /metrics never meets a process
        # still importing (on a loaded machine that takes seconds)
        for name, process in zip(names[1:], processes[1:], strict=True):
            wait_http(metrics_urls[name], process)
        async with aiohttp.ClientSession(headers={"X-Token": token}) as session:
            yield Stack(
                session,
                f"http://127.0.0.1:{port}{BASE}/acme",
                smtp,
                sms,
                amqp_url,
                url_for(database),
                env,
                metrics_urls,
            )
    except BaseException:
        failed = True
        raise
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        # waited for in a thread: the SMTP sink, the SMS gateway and any OTLP receiver run on this
        # event loop, and a process's last send or trace export must be answered while it stops
        codes = [await asyncio.to_thread(process.wait, 30) for process in processes]
        if failed:
            print(_logs(processes))  # shown with the failing test's output
        smtp.stop()
        await sms.close()
        await asyncio.to_thread(delete_vhost, vhost)
        await drop_database(database)
    assert codes == [0] * len(processes), _logs(processes)


def _logs(processes: list[subprocess.Popen[str]]) -> str:
    return "\n".join(
        f"--- {' '.join(map(str, p.args[-1:]))} exited {p.returncode}:\n"  # type: ignore[index]
        + (p.stderr.read()[-4000:] if p.stderr else "")
        for p in processes
    )


async def eventually(probe, timeout: float = 30):  # type: ignore[no-untyped-def]
    """The probe's first truthy value, polled every 0.1 s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if value := probe():
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("nothing arrived in time")
