"""`tempstrong delivery`: wires the worker, its channels and the AMQP consumer; serves /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import asyncpg

from service.config import ConfigError, Settings
from service.domain.policy import SendingMethod
from service.eventstore.pool import create_pool
from service.processes import serve_health
from service.sealing import Opener, SealingError

from .amqp import RECONNECT_CAP_SECONDS, AmqpConsumer
from .channels import Channel
from .channels.email import SmtpChannel, parse_smtp_url
from .channels.pdf import PdfSpoolChannel
from .channels.sms import HttpSmsChannel
from .dedup import DATABASE_ERRORS, PostgresDedup, ensure_schema
from .metrics import DeliveryMetrics
from .options import DeliveryOptions
from .supersession import PostgresSupersession
from .worker import DeliveryWorker

log = logging.getLogger("tempstrong.delivery")


def build_channels(settings: Settings) -> dict[SendingMethod, Channel]:
    channels: dict[SendingMethod, Channel] = {}
    if settings.smtp_url is not None:
        try:
            channels[SendingMethod.EMAIL] = SmtpChannel(parse_smtp_url(settings.smtp_url))
        except ValueError as exc:
            raise ConfigError(f"tempstrong delivery: {exc}") from None
    if settings.sms_url is not None:
        if not settings.sms_url.startswith(("http://", "https://")):
            raise ConfigError("tempstrong delivery: TEMPSTRONG_SMS_URL must be an http(s):// URL")
        channels[SendingMethod.SMS] = HttpSmsChannel(settings.sms_url)
    if settings.spool_dir is not None:
        channels[SendingMethod.PDF_STORE] = PdfSpoolChannel(Path(settings.spool_dir))
    if not channels:
        raise ConfigError(
            "tempstrong delivery: missing setting(s): at least one of TEMPSTRONG_SMTP_URL, "
            "TEMPSTRONG_SMS_URL, TEMPSTRONG_SPOOL_DIR"
        )
    return channels


def build_opener(settings: Settings) -> Opener:
    assert settings.delivery_private_keys is not None
    try:
        return Opener(settings.delivery_private_keys)
    except SealingError as exc:
        raise ConfigError(f"tempstrong delivery: {exc}") from None


async def run_delivery(
    settings: Settings, stop: asyncio.Event, options: DeliveryOptions | None = None
) -> None:
    """Runs until `stop` is set; raises ConfigError (naming the setting) before connecting."""
    settings.require("delivery", "database_url", "amqp_url", "delivery_private_keys")
    assert settings.database_url is not None and settings.amqp_url is not None
    options = options or DeliveryOptions.from_env()
    opener = build_opener(settings)
    channels = build_channels(settings)
    metrics = DeliveryMetrics()
    async with (
        _metrics_server(settings, metrics),
        _database(settings.database_url, stop, pool_size(options.prefetch)) as pool,
        _closing(channels),
    ):
        if pool is None:
            return
        await ensure_schema(pool)
        worker = DeliveryWorker(
            opener=opener,
            channels=channels,
            dedup=PostgresDedup(pool),
            supersession=PostgresSupersession(pool),
            metrics=metrics,
            max_attempts=settings.delivery_max_attempts,
            backoff=options.backoff,
        )
        consumer = AmqpConsumer(
            worker,
            metrics,
            amqp_url=settings.amqp_url,
            prefetch=options.prefetch,
            retry_delays=options.backoff.delays(settings.delivery_max_attempts),
        )
        await consumer.run(stop)


def pool_size(prefetch: int) -> int:
    """Each message in hand holds a connection for its dedup claim and needs one more briefly."""
    return 2 * prefetch + 2


@contextlib.asynccontextmanager
async def _database(
    url: str, stop: asyncio.Event, max_size: int
) -> AsyncIterator[asyncpg.Pool | None]:
    """A pool, once PostgreSQL answers (backoff capped at 5 s); None if stopped first."""
    pause = 0.2
    pool: asyncpg.Pool | None = None
    while pool is None and not stop.is_set():
        try:
            pool = await create_pool(url, min_size=1, max_size=max_size, timeout=5)
        except DATABASE_ERRORS as exc:
            log.warning("PostgreSQL not reachable, retrying", extra={"error": type(exc).__name__})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
            pause = min(pause * 2, RECONNECT_CAP_SECONDS)
    try:
        yield pool
    finally:
        if pool is not None:
            await pool.close()


@contextlib.asynccontextmanager
async def _closing(channels: Mapping[SendingMethod, Channel]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for channel in channels.values():
            await channel.close()


@contextlib.asynccontextmanager
async def _metrics_server(settings: Settings, metrics: DeliveryMetrics) -> AsyncIterator[None]:
    # on all interfaces, like the other processes: the kubelet probes the pod's address
    runner = await serve_health(metrics.registry, settings.metrics_port)
    try:
        yield
    finally:
        if runner is not None:
            await runner.cleanup()


def main_delivery(settings: Settings | None = None) -> int:
    """Runs the worker until SIGTERM or SIGINT; 2 if a setting is missing or wrong."""
    from service.logs import configure_logging

    configure_logging()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_delivery(settings or Settings.from_env(), stop)

    try:
        asyncio.run(run())
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0
