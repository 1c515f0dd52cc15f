"""The composition root: settings in, a wired API context out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg

from projections.credentials.postgres import PostgresCredentialsReader

from .application import CredentialService, utc_now
from .auth import JwksKeys, TokenVerifier
from .config import ConfigError, Settings, load_policy_file
from .domain.catalog import PolicyCatalog
from .domain.password import PasswordHasher
from .eventstore.library import event_mapper
from .eventstore.port import AggregateStore
from .eventstore.postgres import PostgresStore
from .http.context import ApiContext
from .sealing import Sealer, SealingError

API_SETTINGS = (
    "database_url",
    "jwks",
    "jwt_issuer",
    "jwt_audience",
    "policy_file",
    "delivery_public_key",
)
READINESS_TIMEOUT_SECONDS = 2.0


def build_service(
    settings: Settings,
    store: AggregateStore,
    catalog: PolicyCatalog,
    clock: Callable[[], datetime] = utc_now,
) -> CredentialService:
    sealer = None
    if settings.delivery_public_key is not None:
        try:
            sealer = Sealer(settings.delivery_public_key)
        except SealingError as exc:
            raise ConfigError(str(exc)) from None
    return CredentialService(store, catalog, PasswordHasher(settings.hash_key), sealer, clock)


def build_verifier(settings: Settings) -> TokenVerifier:
    assert settings.jwks and settings.jwt_issuer and settings.jwt_audience
    try:
        keys = JwksKeys(settings.jwks)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return TokenVerifier(keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience)


def postgres_readiness(database_url: str) -> Callable[[], Awaitable[bool]]:
    async def is_ready() -> bool:
        try:
            connection = await asyncpg.connect(database_url, timeout=READINESS_TIMEOUT_SECONDS)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        try:
            await asyncio.wait_for(connection.fetchval("SELECT 1"), READINESS_TIMEOUT_SECONDS)
            return True
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        finally:
            connection.terminate()

    return is_ready


def production_api_context(settings: Settings) -> ApiContext:
    """`tempstrong api`: refuses to start without the production settings."""
    settings.require("api", *API_SETTINGS)
    assert settings.database_url and settings.policy_file
    catalog = load_policy_file(settings.policy_file, settings.hash_key)
    mapper = event_mapper()
    return ApiContext(
        service=build_service(settings, PostgresStore(settings.database_url, mapper), catalog),
        verifier=build_verifier(settings),
        is_ready=postgres_readiness(settings.database_url),
        credential_pages=PostgresCredentialsReader(settings.database_url, mapper),
    )
