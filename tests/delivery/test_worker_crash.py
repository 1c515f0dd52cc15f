"""The worker as a real process: SIGKILLed mid-stream and restarted, then stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from service.security.devkeys import DevKeys
from service.security.sealing import Sealer
from tests.support.delivery_broker import broker_at
from tests.support.envelopes import issue, unique
from tests.support.process import ROOT
from tests.support.sinks import SLOW_DOMAIN, SmtpSink
from tests.support.waiting import eventually

MESSAGES = 30
KILL_AFTER = 10


@contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "delivery"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=sink,
            stderr=sink,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def test_sigkill_mid_stream_loses_nothing_and_duplicates_at_most_one(
    fresh_amqp_url: str,
    delivery_database: str,
    pool: object,
    delivery_keys: DevKeys,
    sealer: Sealer,
    smtp_sink: SmtpSink,
    tmp_path: Path,
) -> None:
    env = {
        "TEMPSTRONG_DATABASE_URL": delivery_database,
        "TEMPSTRONG_AMQP_URL": fresh_amqp_url,
        "TEMPSTRONG_DELIVERY_PRIVATE_KEY": delivery_keys.delivery_private_key,
        "TEMPSTRONG_PERSONAL_DATA_KEYS": str(delivery_keys.personal_data_keys_path),
        "TEMPSTRONG_SMTP_URL": smtp_sink.url,
        "TEMPSTRONG_DELIVERY_MAX_ATTEMPTS": "3",
        "TEMPSTRONG_DELIVERY_BACKOFF_SECONDS": "0.2",
        # One message in flight at a time: the crash window then holds at most one message.
        "TEMPSTRONG_DELIVERY_PREFETCH": "1",
    }
    run = unique("crash")
    issued = [
        issue(sealer, "Email", email=f"{run}-{n}@{SLOW_DOMAIN}", credential=f"{run}-{n}")
        for n in range(MESSAGES)
    ]
    addresses = [f"{run}-{n}@{SLOW_DOMAIN}" for n in range(MESSAGES)]

    def arrived() -> int:
        return sum(1 for address in addresses if smtp_sink.to(address))

    log = tmp_path / "worker.log"
    async with broker_at(fresh_amqp_url) as broker:
        for message in issued:
            await broker.publish(message)

    with worker_process(env, log) as first:
        await eventually(lambda: arrived() >= KILL_AFTER or first.poll() is not None, timeout=60)
        assert first.poll() is None, log.read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert arrived() < MESSAGES, "the kill came too late to test anything"

    with worker_process(env, log) as second:
        await eventually(lambda: arrived() == MESSAGES or second.poll() is not None, timeout=60)
        await asyncio.sleep(1.0)  # a late duplicate would show up now
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 30) == 0, log.read_text()

    received = [len(smtp_sink.to(address)) for address in addresses]
    assert all(count >= 1 for count in received), received
    assert sum(received) - MESSAGES <= 1, received
    logged = log.read_text()
    assert '"tempstrong delivery started"' in logged
    for message in issued:
        assert message.secret not in logged
