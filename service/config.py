"""TEMPSTRONG_* settings and the policy file, validated at start with messages that name the key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .domain.catalog import ClientPolicies, PolicyCatalog
from .domain.policy import (
    POLICY_TYPE,
    HashAlgorithm,
    PolicyError,
    TempStrongPasswordPolicy,
    parse_policy,
)
from .domain.validation import CLIENT_EXT_ID

MIN_HASH_KEY_BYTES = 16


class ConfigError(Exception):
    """Start-up refused: the message names what is missing or wrong."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    amqp_url: str | None = None
    jwks: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    policy_file: str | None = None
    hash_key: bytes | None = None
    delivery_public_key: str | None = None
    delivery_private_keys: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    http_reuse_port: bool = False
    metrics_port: int | None = None
    smtp_url: str | None = None
    sms_url: str | None = None
    spool_dir: str | None = None
    delivery_max_attempts: int = 5

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(f"TEMPSTRONG_{name}", "").strip()
            return value or None

        hash_key = get("HASH_KEY")
        return cls(
            database_url=get("DATABASE_URL"),
            amqp_url=get("AMQP_URL"),
            jwks=get("JWKS"),
            jwt_issuer=get("JWT_ISSUER"),
            jwt_audience=get("JWT_AUDIENCE"),
            policy_file=get("POLICY_FILE"),
            hash_key=hash_key.encode() if hash_key else None,
            delivery_public_key=get("DELIVERY_PUBLIC_KEY"),
            delivery_private_keys=get("DELIVERY_PRIVATE_KEY"),
            http_host=get("HTTP_HOST") or "127.0.0.1",
            http_port=_port("TEMPSTRONG_HTTP_PORT", get("HTTP_PORT") or "8080"),
            http_reuse_port=_flag("TEMPSTRONG_HTTP_REUSE_PORT", get("HTTP_REUSE_PORT")),
            metrics_port=_optional_port("TEMPSTRONG_METRICS_PORT", get("METRICS_PORT")),
            smtp_url=get("SMTP_URL"),
            sms_url=get("SMS_URL"),
            spool_dir=get("SPOOL_DIR"),
            delivery_max_attempts=_positive_int(
                "TEMPSTRONG_DELIVERY_MAX_ATTEMPTS", get("DELIVERY_MAX_ATTEMPTS") or "5"
            ),
        )

    def require(self, process: str, *fields: str) -> None:
        missing = [f"TEMPSTRONG_{name.upper()}" for name in fields if getattr(self, name) is None]
        if missing:
            raise ConfigError(f"tempstrong {process}: missing setting(s): {', '.join(missing)}")
        if "database_url" in fields and not str(self.database_url).startswith(
            ("postgresql://", "postgres://")
        ):
            raise ConfigError(
                f"tempstrong {process}: TEMPSTRONG_DATABASE_URL must be a postgresql:// URL"
            )


def _port(name: str, raw: str) -> int:
    port = _positive_int(name, raw)
    if port > 65535:
        raise ConfigError(f"{name}: must be a port number 1..65535, got {raw!r}")
    return port


def _flag(name: str, raw: str | None) -> bool:
    if raw is None or raw.lower() in ("0", "false", "no", "off"):
        return False
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name}: must be true or false, got {raw!r}")


def _optional_port(name: str, raw: str | None) -> int | None:
    return _port(name, raw) if raw is not None else None


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be an integer, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name}: must be at least 1, got {raw!r}")
    return value


def load_policy_file(path: str | Path, hash_key: bytes | None = None) -> PolicyCatalog:
    """Parses and validates the policy file; every problem names the file and the key."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"policy file {path}: cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"policy file {path}: not valid YAML: {exc}") from None
    try:
        return parse_policy_document(document, hash_key)
    except PolicyError as exc:
        raise ConfigError(f"policy file {path}: key {exc.key}: {exc.problem}") from None


def parse_policy_document(document: Any, hash_key: bytes | None) -> PolicyCatalog:
    if not isinstance(document, dict):
        raise PolicyError("(top level)", "must be a mapping with 'clients' and 'policies'")
    unknown = set(document) - {"clients", "policies"}
    if unknown:
        raise PolicyError(sorted(unknown)[0], "unknown top-level key")
    policies: dict[str, TempStrongPasswordPolicy] = {}
    other_types: set[str] = set()
    raw_policies = document.get("policies") or {}
    if not isinstance(raw_policies, dict):
        raise PolicyError("policies", "must be a mapping of policy names")
    for name, body in raw_policies.items():
        key = f"policies.{name}"
        if not isinstance(body, dict):
            raise PolicyError(key, "must be a mapping of parameters")
        if body.get("type") != POLICY_TYPE:
            if not isinstance(body.get("type"), str):
                raise PolicyError(f"{key}.type", "is required")
            other_types.add(str(name))
            continue
        try:
            policies[str(name)] = parse_policy(str(name), body)
        except PolicyError as exc:
            raise PolicyError(f"{key}.{exc.key}", exc.problem) from None
        if policies[str(name)].hash_algorithm is HashAlgorithm.HMAC_SHA256:
            _check_hash_key(f"{key}.hashAlgorithm", hash_key)
    raw_clients = document.get("clients")
    if not isinstance(raw_clients, dict) or not raw_clients:
        raise PolicyError("clients", "must be a non-empty mapping of clientExtIds")
    clients = {
        client: _client_policies(client, body or {}, policies)
        for client, body in raw_clients.items()
    }
    return PolicyCatalog(clients, policies)


def _client_policies(
    client: object, body: object, policies: dict[str, TempStrongPasswordPolicy]
) -> ClientPolicies:
    key = f"clients.{client}"
    if not isinstance(client, str) or not CLIENT_EXT_ID.fullmatch(client):
        raise PolicyError(key, "clientExtId must match [A-Za-z0-9_-]{1,64}")
    if not isinstance(body, dict) or set(body) - {"defaultPolicy", "policies"}:
        raise PolicyError(key, "may only hold defaultPolicy and policies")
    default = body.get("defaultPolicy")
    if default is not None and default not in policies:
        raise PolicyError(
            f"{key}.defaultPolicy", f"names {default!r}, which is not a {POLICY_TYPE}"
        )
    others = body.get("policies") or []
    if not isinstance(others, list) or not all(isinstance(name, str) for name in others):
        raise PolicyError(f"{key}.policies", "must be a list of policy names")
    for name in others:
        if name not in policies:
            raise PolicyError(f"{key}.policies", f"names {name!r}, which is not a {POLICY_TYPE}")
    return ClientPolicies(default=default, others=frozenset(others))


def _check_hash_key(key: str, hash_key: bytes | None) -> None:
    if hash_key is None or len(hash_key) < MIN_HASH_KEY_BYTES:
        raise PolicyError(
            key,
            f"HMAC-SHA256 needs TEMPSTRONG_HASH_KEY of at least {MIN_HASH_KEY_BYTES} bytes",
        )
