"""The write side of the service layer, as the composition roots build it and the HTTP handlers
use it (the reads are in service/queries/)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ..domain.catalog import PolicyCatalog
from ..domain.password import PasswordHasher
from ..eventstore.port import AggregateStore
from ..privacy.personal_data import PersonalData
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
        personal: PersonalData,
        clock: Callable[[], datetime] = utc_now,
        erasure_delay: timedelta = timedelta(0),
    ) -> None:
        self.catalog = catalog
        aggregates = Aggregates(store, catalog)
        self.users = UserCommands(aggregates, personal, erasure_delay, clock)
        self.credentials = CredentialCommands(
            aggregates, hasher, OutOfBand(sealer), personal, clock
        )
