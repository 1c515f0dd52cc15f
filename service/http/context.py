"""What the handlers need, wired once by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import ParamSpec, Protocol, TypeVar

from aiohttp import web

from ..auth import TokenVerifier
from ..commands.service import Commands
from ..deadline import deadline_in
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
    commands: Commands
    verifier: TokenVerifier
    # None when the API may take traffic, else the reason (what /readyz says)
    not_ready: Callable[[], Awaitable[str | None]]
    credential_pages: CredentialPages | None = None
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
