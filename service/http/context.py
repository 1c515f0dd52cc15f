"""What the handlers need, wired once by the composition root."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import ParamSpec, Protocol, TypeVar

from aiohttp import web

from ..application import CredentialService
from ..auth import TokenVerifier
from ..deadline import with_deadline
from ..domain.credential import TempStrongPassword
from ..metrics import ApiMetrics

REQUEST_DEADLINE_SECONDS = 10.0

P = ParamSpec("P")
T = TypeVar("T")


class CredentialPages(Protocol):
    """The read model behind the list endpoint (may lag the event store)."""

    async def page(
        self,
        client: str,
        state_name: str | None,
        after_user: str | None,
        limit: int,
        now: datetime,
    ) -> list[TempStrongPassword]: ...


@dataclass
class ApiContext:
    service: CredentialService
    verifier: TokenVerifier
    executor: ThreadPoolExecutor
    is_ready: Callable[[], Awaitable[bool]]
    credential_pages: CredentialPages | None = None
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    in_flight: set[str] = field(default_factory=set)
    deadline_seconds: float = REQUEST_DEADLINE_SECONDS

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Runs a synchronous service call on the bounded pool (the library is not asyncio).

        The library retries a lost database connection ten times inside each call; the deadline
        turns a long outage into a 503 (TimeoutError) instead of a hanging request.
        """
        loop = asyncio.get_running_loop()
        bounded = with_deadline(self.deadline_seconds, functools.partial(fn, *args, **kwargs))
        return await asyncio.wait_for(
            loop.run_in_executor(self.executor, contextvars.copy_context().run, bounded),
            self.deadline_seconds,
        )


CONTEXT = web.AppKey("tempstrong_context", ApiContext)


def context_of(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]
