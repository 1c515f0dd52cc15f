"""TEMPSTRONG_* settings, validated at start with messages that name the variable.

`VARIABLES` is the one table of every setting: its variable, default, which processes read it
and what it means. `Settings.from_env` parses by it, `--help` of every subcommand lists from it,
and each process's start-up line reports from it (never a secret's value).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

import isodate

API = "api"
DEV = "dev"
PROJECTOR = "projector"
PUBLISHER = "publisher"
DELIVERY = "delivery"
MIGRATE = "migrate"
REBUILD = "rebuild"
REPUBLISH = "republish"
ERASE = "erase"
REWRAP = "rewrap"
IMPORT = "import"
# the processes that export traces when OTEL_* configure it (service/observability/tracing.py)
TRACED = (API, PUBLISHER, DELIVERY)
WITH_DATABASE = frozenset(
    {API, PROJECTOR, PUBLISHER, DELIVERY, MIGRATE, REBUILD, REPUBLISH, ERASE, REWRAP, IMPORT}
)


class ConfigError(Exception):
    """Start-up refused: the message names what is missing or wrong."""


@dataclass(frozen=True)
class Variable:
    field: str
    help: str
    processes: frozenset[str]
    default: str | None = None
    secret: bool = False
    parse: Callable[[str, str], Any] | None = None  # (variable name, raw text) -> value

    @property
    def name(self) -> str:
        return f"TEMPSTRONG_{self.field.upper()}"


def _port(name: str, raw: str) -> int:
    port = _positive_int(name, raw)
    if port > 65535:
        raise ConfigError(f"{name}: must be a port number 1..65535, got {raw!r}")
    return port


def _flag(name: str, raw: str) -> bool:
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name}: must be true or false, got {raw!r}")


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be an integer, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name}: must be at least 1, got {raw!r}")
    return value


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be a number, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name}: must be a positive number, got {raw!r}")
    return value


def _bytes(_: str, raw: str) -> bytes:
    return raw.encode()


def _duration(name: str, raw: str) -> timedelta:
    """An ISO 8601 duration of fixed length (`PT0S`, `PT12H`, `P90D`, `P2W`)."""
    try:
        value = isodate.parse_duration(raw)
    except (isodate.ISO8601Error, ValueError):
        raise ConfigError(f"{name}: not an ISO 8601 duration (e.g. P90D), got {raw!r}") from None
    if not isinstance(value, timedelta):
        raise ConfigError(
            f"{name}: months and years have no fixed length; give days (e.g. P90D), got {raw!r}"
        )
    if value < timedelta(0):
        raise ConfigError(f"{name}: must not be negative, got {raw!r}")
    return value


_API_DEV = frozenset({API, DEV})
_WORKERS = frozenset({PROJECTOR, PUBLISHER, DELIVERY})
VARIABLES: tuple[Variable, ...] = (
    Variable("database_url", "PostgreSQL, postgresql://user:pass@host:port/db", WITH_DATABASE),
    Variable(
        "amqp_url",
        "RabbitMQ, amqp://user:pass@host:port/vhost (migrate: declare the topology too)",
        frozenset({PUBLISHER, DELIVERY, REPUBLISH, MIGRATE}),
    ),
    Variable("jwks", "JWKS of the token signers: a file path or an https:// URL", frozenset({API})),
    Variable("jwt_issuer", "the tokens' required `iss`", frozenset({API})),
    Variable("jwt_audience", "the tokens' required `aud`", frozenset({API})),
    Variable(
        "policy_file",
        "the policies YAML: clients, their default and allowed policies",
        frozenset({API, IMPORT}),
    ),
    Variable(
        "delivery_public_key",
        "X25519 public key (base64) the out-of-band fragment is sealed to",
        frozenset({API}),
    ),
    Variable(
        "hash_key",
        "server secret of {HMAC-SHA256} hashes (needed by policies that use them)",
        frozenset({API, IMPORT}),
        secret=True,
        parse=_bytes,
    ),
    Variable(
        "personal_data_keys",
        'the personal-data keyring, a JSON file {"keys": [{"id", "key"}, ...]}: the first '
        "key wraps, every key unwraps (migrate: needed to convert data stored before it)",
        frozenset({API, DELIVERY, MIGRATE, REWRAP, IMPORT}),
    ),
    Variable(
        "erasure_delay",
        "ISO 8601 duration from a user's deletion to the erasure of their personal data "
        "(migrate: for users deleted before data keys existed)",
        frozenset({API, DEV, MIGRATE}),
        default="PT0S",
        parse=_duration,
    ),
    Variable("http_host", "the API's listening address", _API_DEV, default="127.0.0.1"),
    Variable("http_port", "the API's listening port", _API_DEV, default="8080", parse=_port),
    Variable(
        "http_reuse_port",
        "let several API processes share the port (SO_REUSEPORT)",
        frozenset({API}),
        default="false",
        parse=_flag,
    ),
    Variable(
        "metrics_port",
        "where /healthz and /metrics are served (unset: not served)",
        _WORKERS,
        parse=_port,
    ),
    Variable(
        "delivery_private_key",
        "X25519 private key(s), base64, comma-separated for rotation",
        frozenset({DELIVERY}),
        secret=True,
    ),
    Variable(
        "smtp_url",
        "smtp://host:port, smtp://user:pass@host:port?starttls=true or smtps://...",
        frozenset({DELIVERY}),
        secret=True,  # may hold a password
    ),
    Variable("sms_url", "the SMS gateway's http(s):// URL", frozenset({DELIVERY}), secret=True),
    Variable("spool_dir", "folder of the PDF letters (mode 0600)", frozenset({DELIVERY})),
    Variable(
        "delivery_max_attempts",
        "attempts before an envelope is dead-lettered",
        frozenset({DELIVERY}),
        default="5",
        parse=_positive_int,
    ),
    Variable(
        "delivery_prefetch",
        "envelopes received and not yet settled, at most",
        frozenset({DELIVERY}),
        default="128",
        parse=_positive_int,
    ),
    Variable(
        "delivery_backoff_seconds",
        "first retry delay after a channel failure (doubles each time)",
        frozenset({DELIVERY}),
        default="5",
        parse=_positive_float,
    ),
    Variable(
        "delivery_backoff_cap_seconds",
        "longest retry delay",
        frozenset({DELIVERY}),
        default="300",
        parse=_positive_float,
    ),
)
_BY_FIELD = {variable.field: variable for variable in VARIABLES}


def _default(field: str) -> Any:
    variable = _BY_FIELD[field]
    if variable.default is None:
        return None
    return variable.parse(variable.name, variable.default) if variable.parse else variable.default


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    amqp_url: str | None = None
    jwks: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    policy_file: str | None = None
    delivery_public_key: str | None = None
    hash_key: bytes | None = None
    personal_data_keys: str | None = None
    erasure_delay: timedelta = _default("erasure_delay")  # noqa: RUF009 - immutable
    http_host: str = _default("http_host")
    http_port: int = _default("http_port")
    http_reuse_port: bool = _default("http_reuse_port")
    metrics_port: int | None = None
    delivery_private_key: str | None = None
    smtp_url: str | None = None
    sms_url: str | None = None
    spool_dir: str | None = None
    delivery_max_attempts: int = _default("delivery_max_attempts")
    delivery_prefetch: int = _default("delivery_prefetch")
    delivery_backoff_seconds: float = _default("delivery_backoff_seconds")
    delivery_backoff_cap_seconds: float = _default("delivery_backoff_cap_seconds")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for variable in VARIABLES:
            raw = env.get(variable.name, "").strip()
            if raw:
                values[variable.field] = (
                    variable.parse(variable.name, raw) if variable.parse else raw
                )
        return cls(**values)

    def require(self, process: str, *required: str) -> None:
        missing = [_BY_FIELD[name].name for name in required if getattr(self, name) is None]
        if missing:
            raise ConfigError(f"tempstrong {process}: missing setting(s): {', '.join(missing)}")
        if "database_url" in required and not str(self.database_url).startswith(
            ("postgresql://", "postgres://")
        ):
            raise ConfigError(
                f"tempstrong {process}: TEMPSTRONG_DATABASE_URL must be a postgresql:// URL"
            )

    def summary(self, process: str) -> dict[str, object]:
        """The settings `process` reads, for its start-up line: secrets only as set or not,
        URLs without their password."""
        shown: dict[str, object] = {}
        for variable in variables_of(process):
            value = getattr(self, variable.field)
            if variable.secret:
                shown[variable.name] = "(set)" if value else "(unset)"
            elif isinstance(value, str) and "://" in value:
                shown[variable.name] = _without_password(value)
            else:
                shown[variable.name] = value
        return shown


def variables_of(process: str) -> list[Variable]:
    return [variable for variable in VARIABLES if process in variable.processes]


def describe_variables(process: str) -> str:
    """The `--help` epilog: every variable the process reads, with its default."""
    lines = ["environment variables:"]
    for variable in variables_of(process):
        default = f" [default: {variable.default}]" if variable.default is not None else ""
        lines.append(f"  {variable.name}\n      {variable.help}{default}")
    if process in TRACED:
        lines.append(
            "  OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME and the other standard OTEL_*\n"
            "      traces over OTLP/HTTP (docs/operations.md, Traces) [default: off]"
        )
    return "\n".join(lines)


def _without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


assert {f.name for f in fields(Settings)} == set(_BY_FIELD), "Settings and VARIABLES differ"
