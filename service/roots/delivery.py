"""`tempstrong delivery`: the worker, its channels, the AMQP consumer, /healthz and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Mapping
from pathlib import Path

from ..config import DELIVERY, ConfigError, Settings
from ..delivery.amqp import BATCH_LOOPS, AmqpConsumer
from ..delivery.backoff import Backoff
from ..delivery.channels import Channel
from ..delivery.channels.email import SmtpChannel, parse_smtp_url
from ..delivery.channels.pdf import PdfSpoolChannel
from ..delivery.channels.sms import HttpSmsChannel
from ..delivery.data_keys import PostgresDataKeys
from ..delivery.dedup import PostgresDedup, ensure_schema
from ..delivery.metrics import DeliveryMetrics
from ..delivery.supersession import PostgresSupersession
from ..delivery.worker import DeliveryWorker
from ..domain.policy import SendingMethod
from ..observability.logs import configure_logging
from ..postgres.pool import wait_for_pool
from ..security.sealing import Opener, SealingError
from .parts import build_keyring
from .running import log_started, log_stopped, run_until_signalled, serve_health, traced

REQUIRED = ("database_url", "amqp_url", "delivery_private_key", "personal_data_keys")
POOL_CLOSE_SECONDS = 5.0


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
    assert settings.delivery_private_key is not None
    try:
        return Opener(settings.delivery_private_key)
    except SealingError as exc:
        raise ConfigError(f"tempstrong delivery: {exc}") from None


def backoff_of(settings: Settings) -> Backoff:
    base = settings.delivery_backoff_seconds
    return Backoff(base=base, cap=max(base, settings.delivery_backoff_cap_seconds))


def pool_size() -> int:
    """Each batch loop runs one statement at a time; one more for the lease."""
    return BATCH_LOOPS + 2


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Runs until `stop` is set; raises ConfigError (naming the setting) before connecting."""
    settings.require(DELIVERY, *REQUIRED)
    assert settings.database_url is not None and settings.amqp_url is not None
    opener = build_opener(settings)
    keyring = build_keyring(settings)
    channels = build_channels(settings)
    backoff = backoff_of(settings)
    metrics = DeliveryMetrics()
    health = await serve_health(metrics.registry, settings.metrics_port)
    try:
        pool = await wait_for_pool(
            settings.database_url,
            stop,
            min_size=1,
            max_size=pool_size(),
        )
        if pool is None:
            return
        async with _closing(channels):
            try:
                await ensure_schema(pool)
                dedup = PostgresDedup(pool)
                worker = DeliveryWorker(
                    opener=opener,
                    keyring=keyring,
                    data_keys=PostgresDataKeys(pool),
                    channels=channels,
                    dedup=dedup,
                    supersession=PostgresSupersession(pool),
                    metrics=metrics,
                    max_attempts=settings.delivery_max_attempts,
                    backoff=backoff,
                )
                consumer = AmqpConsumer(
                    worker,
                    metrics,
                    amqp_url=settings.amqp_url,
                    prefetch=settings.delivery_prefetch,
                    retry_delays=backoff.delays(settings.delivery_max_attempts),
                )
                log_started(DELIVERY, settings, channels=sorted(m.value for m in channels))
                await _keeping_alive(dedup, consumer.run(stop))
            finally:
                try:
                    await asyncio.wait_for(pool.close(), POOL_CLOSE_SECONDS)
                except TimeoutError:
                    pool.terminate()
    finally:
        if health is not None:
            await health.cleanup()
        log_stopped(DELIVERY)


async def _keeping_alive(dedup: PostgresDedup, consuming: Awaitable[None]) -> None:
    """Consumes while the worker's claims are kept alive; once it has drained, lets go."""
    alive = asyncio.create_task(dedup.keep_alive())
    try:
        await consuming
    finally:
        alive.cancel()
        await asyncio.gather(alive, return_exceptions=True)
    await dedup.retire()


@contextlib.asynccontextmanager
async def _closing(channels: Mapping[SendingMethod, Channel]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for channel in channels.values():
            await channel.close()


def main(settings: Settings) -> int:
    """Runs the worker until SIGTERM or SIGINT; ConfigError (exit 2) if a setting is wrong."""
    settings.require(DELIVERY, *REQUIRED)
    build_opener(settings)
    build_keyring(settings)
    build_channels(settings)
    configure_logging()
    with traced(DELIVERY):
        return run_until_signalled(lambda stop: run(settings, stop))
