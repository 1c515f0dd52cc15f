"""How a process runs: signals, its health and metrics endpoint, its start and stop lines."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ..config import ConfigError, Settings
from ..observability import tracing

log = logging.getLogger("tempstrong")
SHUTDOWN_SECONDS = 25.0


def tempstrong_version() -> str:
    try:
        return version("tempstrong")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout without installing
        return "unknown"


@contextmanager
def traced(process: str, *, api: bool = False) -> Iterator[None]:
    """Traces the block's work if OTEL_* configure it (observability/tracing.py); flushes at the
    end."""
    stop = tracing.start_tracing(process, tempstrong_version(), api=api)
    try:
        yield
    finally:
        if stop is not None:
            stop()


def log_started(process: str, settings: Settings, **details: object) -> None:
    """One line: version, listener, the settings the process uses (never a secret)."""
    log.info(
        f"tempstrong {process} started",
        extra={
            "command": process,
            "version": tempstrong_version(),
            **details,
            "settings": settings.summary(process),
        },
    )


def log_stopped(process: str, **details: object) -> None:
    log.info(f"tempstrong {process} stopped", extra={"command": process, **details})


async def serve_health(
    registry: CollectorRegistry,
    port: int | None,
    host: str = "0.0.0.0",  # noqa: S104 - the kubelet probes the pod's address
) -> web.AppRunner | None:
    """Serves /healthz and /metrics on `port`; nothing when the port is unset."""
    if port is None:
        return None

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", healthz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(
            f"TEMPSTRONG_METRICS_PORT: cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
    return runner


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Runs `main(stop)`; SIGTERM or SIGINT sets `stop` so it can finish cleanly."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await main(stop)

    asyncio.run(runner())
    return 0


async def serve_app(
    app: web.Application,
    host: str,
    port: int,
    stop: asyncio.Event,
    *,
    reuse_port: bool = False,
    listening: Callable[[str], None] = lambda listener: None,
) -> None:
    """Serves `app` until `stop`; in-flight requests finish (up to 25 s).

    A port that is taken is a ConfigError naming the setting (exit 2), not a traceback.
    `listening` is called with the listener's URL once the port is bound.
    """
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(
                f"TEMPSTRONG_HTTP_PORT: cannot listen on {host}:{port}: {exc.strerror}"
            ) from None
        listening(f"http://{host}:{port}")
        await stop.wait()
    finally:
        await runner.cleanup()
