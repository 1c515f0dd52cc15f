"""The write side of the service layer, as the composition roots build it and the HTTP handlers
use it (the reads are in service/queries/)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ..domain.catalog import PolicyCatalog
from ..domain.password import PasswordHasher
from ..eventstore.port import AggregateStore
from ..security.sealing import Sealer
from .aggregates import Aggregates
from .credentials import CredentialCommands
from .out_of_band import OutOfBand
from .users import UserCommands


def utc_now() -> datetime:
    return datetime.now(UTC)


class Commands:
    def __init__(
        self,
        store: AggregateStore,
        catalog: PolicyCatalog,
        hasher: PasswordHasher,
        sealer: Sealer | None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.catalog = catalog
        aggregates = Aggregates(store, catalog)
        self.users = UserCommands(aggregates)
        self.credentials = CredentialCommands(aggregates, hasher, OutOfBand(sealer), clock)
