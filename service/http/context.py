"""What the handlers need, wired once by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from aiohttp import web

from ..commands.facade import Commands
from ..eventstore.deadline import deadline_in
from ..queries.facade import Queries
from ..security.tokens import TokenVerifier
from .metrics import ApiMetrics

REQUEST_DEADLINE_SECONDS = 10.0

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class ApiContext:
    commands: Commands
    queries: Queries
    verifier: TokenVerifier
    # None when the API may take traffic, else the reason (what /readyz says)
    not_ready: Callable[[], Awaitable[str | None]]
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    in_flight: set[str] = field(default_factory=set)
    deadline_seconds: float = REQUEST_DEADLINE_SECONDS

    async def run(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Runs a service call under the request deadline.

        Reads give up at the deadline (TimeoutError: 503); a save that has not started by then
        is dropped (DeadlineExceeded: 503); a save that started finishes, so a 503 never hides
        a commit.
        """
        with deadline_in(self.deadline_seconds):
            return await fn(*args, **kwargs)


CONTEXT = web.AppKey("tempstrong_context", ApiContext)


def context_of(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]
