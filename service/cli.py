"""The `tempstrong` console script: parse, wire, run."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from aiohttp import web

from .config import ConfigError, Settings

_DEFAULT_KEYS_DIR = "var/keys"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tempstrong", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="everything in one process on SQLite under ./var")
    dev.add_argument("--var-dir", default="var")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8080)

    sub.add_parser("api", help="the HTTP API (production; settings from TEMPSTRONG_*)")
    sub.add_parser("projector", help="follow the event store into the read model")
    sub.add_parser("publisher", help="publish credential events and envelopes to RabbitMQ")
    sub.add_parser("delivery", help="deliver sealed codes by Email, SMS or PDF letter")
    sub.add_parser("migrate", help="create the database schema and AMQP topology (idempotent)")
    rebuild = sub.add_parser("rebuild", help="replay a view from the start and swap it in")
    rebuild.add_argument("view", choices=["credentials"])
    republish = sub.add_parser("republish", help="publish a parked event again")
    republish.add_argument("event_id", type=_event_id, help="the parked event's id (a UUID)")

    token = sub.add_parser("token", help="sign a token with the local dev key")
    token.add_argument("--permissions", nargs="*", default=[])
    token.add_argument("--client", action="append", default=[], dest="clients")
    token.add_argument("--sub", default="dev-admin")
    token.add_argument("--self-admin", action="store_true", help="a SelfAdmin token for --sub")
    token.add_argument("--keys", default=_DEFAULT_KEYS_DIR)
    token.add_argument("--lifetime", type=int, default=3600, help="seconds")

    keys = sub.add_parser("keys", help="make a dev JWKS, signing key and delivery key pair")
    keys.add_argument("--out", default=_DEFAULT_KEYS_DIR)
    return parser


def _event_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an event id (a UUID): {value!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    from .logs import configure_logging

    if args.command == "dev":
        from .devmode import main_dev

        configure_logging()
        return main_dev(args.var_dir, args.host, args.port)
    if args.command == "api":
        return _run_api()
    if args.command in ("projector", "publisher"):
        return _run_follower_process(args.command)
    if args.command == "delivery":
        from .delivery.process import main_delivery

        return main_delivery()
    if args.command == "rebuild":
        return _rebuild(args.view)
    if args.command == "republish":
        from projections.runners import run_republish

        return run_republish(Settings.from_env(), args.event_id)
    if args.command == "migrate":
        return _migrate()
    if args.command == "token":
        return _token(args)
    if args.command == "keys":
        return _keys(Path(args.out))
    raise AssertionError(args.command)  # pragma: no cover


def _run_api() -> int:
    from .bootstrap import production_api_context
    from .http.app import create_app
    from .logs import configure_logging

    settings = Settings.from_env()
    ctx = production_api_context(settings)
    configure_logging()
    app = create_app(ctx)

    web.run_app(
        app,
        host=settings.http_host,
        port=settings.http_port,
        # several `tempstrong api` processes may share one port (one event loop, one core each)
        reuse_port=settings.http_reuse_port,
        print=None,
        shutdown_timeout=25,
    )
    return 0


def _run_follower_process(command: str) -> int:
    from projections.runners import run_projector, run_publisher

    from .logs import configure_logging
    from .processes import run_until_signalled

    settings = Settings.from_env()
    run = run_projector if command == "projector" else run_publisher
    settings.require(command, "database_url", *(("amqp_url",) if command == "publisher" else ()))
    configure_logging()
    return run_until_signalled(lambda stop: run(settings, stop))


def _rebuild(view: str) -> int:
    import asyncio

    from projections.runners import run_rebuild

    replayed = asyncio.run(run_rebuild(Settings.from_env(), view))
    print(f"tempstrong rebuild: {view} rebuilt from {replayed} events and swapped in")
    return 0


def _migrate() -> int:
    import asyncio

    from .eventstore.library import EventStoreApp, postgres_env

    settings = Settings.from_env()
    settings.require("migrate", "database_url")
    assert settings.database_url
    store = EventStoreApp(env=postgres_env(settings.database_url, create_table=True))
    store.close()
    asyncio.run(_migrate_read_side(settings.database_url))
    print("tempstrong migrate: event store and read model schemas are in place")
    if settings.amqp_url is not None:
        from .contracts.topology import declare_topology_at

        asyncio.run(declare_topology_at(settings.amqp_url))
        print("tempstrong migrate: AMQP topology is declared")
    return 0


async def _migrate_read_side(database_url: str) -> None:
    import asyncpg

    from projections.credentials.postgres import ensure_schema
    from projections.publisher.sink import ensure_schema as ensure_publisher_schema

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as connection:
            await ensure_schema(connection)
        await ensure_publisher_schema(pool)
    finally:
        await pool.close()


def _token(args: argparse.Namespace) -> int:
    from .devkeys import DEV_AUDIENCE, DEV_ISSUER, DevKeys
    from .permissions import SELF_ADMIN_ROLE

    keys = DevKeys(Path(args.keys))
    if not keys.jwks_path.exists():
        raise ConfigError(f"tempstrong token: no dev keys in {args.keys} (run tempstrong keys)")
    claims: dict[str, object] = {"sub": args.sub, "iss": DEV_ISSUER, "aud": DEV_AUDIENCE}
    if args.self_admin:
        if len(args.clients) != 1:
            raise ConfigError("tempstrong token: --self-admin needs exactly one --client")
        claims.update(roles=[SELF_ADMIN_ROLE], client=args.clients[0])
    else:
        claims.update(permissions=args.permissions, clients=args.clients)
    print(keys.sign(claims, lifetime_seconds=args.lifetime))
    return 0


def _keys(out: Path) -> int:
    from .devkeys import make_dev_keys

    keys = make_dev_keys(out)
    print(
        json.dumps(
            {
                "jwks": str(keys.jwks_path),
                "TEMPSTRONG_DELIVERY_PUBLIC_KEY": keys.delivery_public_key,
                "privateKeyFile": str(out / "delivery-private.key"),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
