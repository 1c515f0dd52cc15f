"""The read side of the service layer, as the composition roots build it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..commands.aggregates import Aggregates
from ..domain.catalog import PolicyCatalog
from ..eventstore.port import AggregateStore
from ..privacy.personal_data import PersonalData
from .credentials import CredentialQueries
from .pages import CredentialPages
from .users import UserQueries


class Queries:
    def __init__(
        self,
        store: AggregateStore,
        catalog: PolicyCatalog,
        personal: PersonalData,
        pages: CredentialPages | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.clock = clock
        aggregates = Aggregates(store, catalog)
        self.users = UserQueries(aggregates, personal)
        self.credentials = CredentialQueries(aggregates, personal, pages)

    def now(self) -> datetime:
        return self.clock()
