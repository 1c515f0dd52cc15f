"""Bounded waiting for asynchronous effects."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable


async def eventually(check: Callable[[], object], timeout: float = 20.0) -> None:
    """Waits until `check()` (or what it returns, if awaitable) is truthy; fails the test after
    `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await _value(check()):
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


async def _value(result: object) -> object:
    return await result if inspect.isawaitable(result) else result
