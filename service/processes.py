"""Shared plumbing of the long-running processes: signals, health and metrics endpoints."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


async def serve_health(
    registry: CollectorRegistry,
    port: int | None,
    host: str = "0.0.0.0",  # noqa: S104
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
    await web.TCPSite(runner, host, port).start()
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
