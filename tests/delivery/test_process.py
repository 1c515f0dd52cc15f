"""Start-up checks of `tempstrong delivery` and a clean stop with a message in flight."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import replace

import pytest

from service.config import ConfigError, Settings
from service.contracts.topology import DELIVERY_QUEUE
from service.roots.delivery import run as run_delivery
from service.security.devkeys import DevKeys
from service.security.sealing import Sealer
from tests.support.amqp import rabbitmqctl
from tests.support.delivery_broker import broker_at
from tests.support.envelopes import issue, unique
from tests.support.process import ROOT
from tests.support.sinks import HELD_DOMAIN, SmtpSink
from tests.support.waiting import eventually


def test_the_process_names_missing_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "delivery"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    for name in (
        "TEMPSTRONG_DATABASE_URL",
        "TEMPSTRONG_AMQP_URL",
        "TEMPSTRONG_DELIVERY_PRIVATE_KEY",
    ):
        assert name in result.stderr


BASE = Settings(
    database_url="postgresql://postgres@127.0.0.1:1/none",
    amqp_url="amqp://guest:guest@127.0.0.1:1/",
    delivery_private_key="not-base64!",
    smtp_url="smtp://127.0.0.1:25",
)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"delivery_private_key": "not-base64!"}, "TEMPSTRONG_DELIVERY_PRIVATE_KEY"),
        ({"smtp_url": None}, "TEMPSTRONG_SMTP_URL"),
        ({"smtp_url": "mailto:x"}, "TEMPSTRONG_SMTP_URL"),
        ({"sms_url": "ftp://x"}, "TEMPSTRONG_SMS_URL"),
        ({"database_url": "mysql://x"}, "TEMPSTRONG_DATABASE_URL"),
        ({"personal_data_keys": None}, "TEMPSTRONG_PERSONAL_DATA_KEYS"),
        ({"personal_data_keys": "/nonexistent/keys.json"}, "TEMPSTRONG_PERSONAL_DATA_KEYS"),
    ],
)
async def test_bad_settings_are_refused_before_connecting(
    delivery_keys: DevKeys, changes: dict[str, object], named: str
) -> None:
    fields = {
        **vars(BASE),
        "delivery_private_key": delivery_keys.delivery_private_key,
        "personal_data_keys": str(delivery_keys.personal_data_keys_path),
    }
    settings = Settings(**{**fields, **changes})
    with pytest.raises(ConfigError, match=named):
        await asyncio.wait_for(run_delivery(settings, asyncio.Event()), timeout=5)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TEMPSTRONG_DELIVERY_BACKOFF_SECONDS", "soon"), ("TEMPSTRONG_DELIVERY_PREFETCH", "1.5")],
)
def test_bad_options_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})
    assert Settings.from_env({}).delivery_prefetch >= 1


async def test_stop_lets_the_message_in_flight_finish(
    fresh_amqp_url: str,
    delivery_database: str,
    pool: object,
    delivery_keys: DevKeys,
    sealer: Sealer,
    smtp_sink: SmtpSink,
) -> None:
    settings = Settings(
        database_url=delivery_database,
        amqp_url=fresh_amqp_url,
        delivery_private_key=delivery_keys.delivery_private_key,
        personal_data_keys=str(delivery_keys.personal_data_keys_path),
        smtp_url=smtp_sink.url,
    )
    address = f"{unique('inflight')}@{HELD_DOMAIN}"
    issued = issue(sealer, "Email", email=address)
    stop = asyncio.Event()
    async with broker_at(fresh_amqp_url) as broker:
        task = asyncio.create_task(run_delivery(_fast(settings, prefetch=4), stop))
        await broker.publish(issued)
        # The sink holds a held.example message 1 s before accepting: stop while it is held.
        await eventually(lambda: address in smtp_sink.holding or task.done(), timeout=20)
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        assert len(smtp_sink.to(address)) == 1
        assert await broker.queue_depth(DELIVERY_QUEUE) == 0


async def test_the_worker_reconnects_after_the_broker_drops_it(
    fresh_amqp_url: str,
    delivery_database: str,
    pool: object,
    delivery_keys: DevKeys,
    sealer: Sealer,
    smtp_sink: SmtpSink,
) -> None:
    settings = Settings(
        database_url=delivery_database,
        amqp_url=fresh_amqp_url,
        delivery_private_key=delivery_keys.delivery_private_key,
        personal_data_keys=str(delivery_keys.personal_data_keys_path),
        smtp_url=smtp_sink.url,
    )
    vhost = fresh_amqp_url.rsplit("/", 1)[1]
    first_to, second_to = (f"{unique(name)}@example.com" for name in ("first", "second"))
    stop = asyncio.Event()
    task = asyncio.create_task(run_delivery(_fast(settings, prefetch=4), stop))
    try:
        async with broker_at(fresh_amqp_url) as broker:
            await broker.publish(issue(sealer, "Email", email=first_to))
            await eventually(lambda: smtp_sink.to(first_to), timeout=20)
        await asyncio.to_thread(
            rabbitmqctl, "close_all_connections", "--vhost", vhost, "delivery test"
        )
        async with broker_at(fresh_amqp_url) as broker:
            await broker.publish(issue(sealer, "Email", email=second_to))
            await eventually(lambda: smtp_sink.to(second_to), timeout=30)
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def _fast(settings: Settings, prefetch: int) -> Settings:
    return replace(
        settings,
        delivery_prefetch=prefetch,
        delivery_backoff_seconds=0.2,
        delivery_backoff_cap_seconds=1.0,
    )
