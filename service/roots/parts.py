"""Parts that more than one process builds the same way (the API and dev mode)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg

from ..commands.facade import Commands, utc_now
from ..config import ConfigError, Settings
from ..domain.catalog import PolicyCatalog
from ..domain.password import PasswordHasher
from ..eventstore.keys import KEYS_TABLE
from ..eventstore.names import EVENTS_TABLE
from ..eventstore.port import AggregateStore
from ..http.context import ApiContext
from ..postgres.pool import check_reachable
from ..privacy.keyring import Keyring, KeyringError, load_keyring
from ..privacy.personal_data import PersonalData
from ..queries.facade import Queries
from ..queries.pages import CredentialPages
from ..security.jwks import JwksKeys
from ..security.sealing import Sealer, SealingError
from ..security.tokens import TokenVerifier

READINESS_TIMEOUT_SECONDS = 2.0
# None when ready, else why not (shown by /readyz)
Readiness = Callable[[], Awaitable[str | None]]


def require_reachable(process: str, settings: Settings) -> None:
    """For a one-shot command: a database that does not exist or cannot be reached is one line
    naming TEMPSTRONG_DATABASE_URL and why (exit 2), not a traceback or a wait for ever."""
    assert settings.database_url
    unreachable = asyncio.run(check_reachable(settings.database_url))
    if unreachable is not None:
        raise ConfigError(f"tempstrong {process}: TEMPSTRONG_DATABASE_URL: {unreachable}")


def build_keyring(settings: Settings) -> Keyring:
    """TEMPSTRONG_PERSONAL_DATA_KEYS, read at start: missing or unusable is one line, exit 2."""
    if settings.personal_data_keys is None:
        raise ConfigError("missing setting(s): TEMPSTRONG_PERSONAL_DATA_KEYS")
    try:
        return load_keyring(settings.personal_data_keys)
    except KeyringError as exc:
        raise ConfigError(str(exc)) from None


def build_commands(
    settings: Settings,
    store: AggregateStore,
    catalog: PolicyCatalog,
    clock: Callable[[], datetime] = utc_now,
    personal: PersonalData | None = None,
) -> Commands:
    sealer = None
    if settings.delivery_public_key is not None:
        try:
            sealer = Sealer(settings.delivery_public_key)
        except SealingError as exc:
            raise ConfigError(str(exc)) from None
    return Commands(
        store,
        catalog,
        PasswordHasher(settings.hash_key),
        sealer,
        personal or PersonalData(build_keyring(settings), store),
        clock,
        settings.erasure_delay,
    )


def build_api_context(
    settings: Settings,
    store: AggregateStore,
    catalog: PolicyCatalog,
    *,
    not_ready: Readiness,
    pages: CredentialPages | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> ApiContext:
    """What the API's handlers use: commands and queries on `store`, the token verifier."""
    personal = PersonalData(build_keyring(settings), store)
    return ApiContext(
        commands=build_commands(settings, store, catalog, clock, personal),
        queries=Queries(store, catalog, personal, pages, clock),
        verifier=build_verifier(settings),
        not_ready=not_ready,
    )


def build_verifier(settings: Settings) -> TokenVerifier:
    assert settings.jwks and settings.jwt_issuer and settings.jwt_audience
    try:
        keys = JwksKeys(settings.jwks)
        keys.load_file_now()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return TokenVerifier(keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience)


def postgres_readiness(database_url: str) -> Readiness:
    """Ready when PostgreSQL answers and holds the event store's schema."""

    async def not_ready() -> str | None:
        try:
            connection = await asyncpg.connect(database_url, timeout=READINESS_TIMEOUT_SECONDS)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return "The database is not reachable."
        try:
            # the keys table came with data keys: a schema without it is an older version's
            table = await asyncio.wait_for(
                connection.fetchval(
                    "SELECT to_regclass($1)::text || to_regclass($2)::text",
                    EVENTS_TABLE,
                    KEYS_TABLE,
                ),
                READINESS_TIMEOUT_SECONDS,
            )
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return "The database is not reachable."
        finally:
            connection.terminate()
        if table is None:
            return "The database has no tempstrong schema: run `tempstrong migrate`."
        return None

    return not_ready


async def always_ready() -> str | None:
    return None
