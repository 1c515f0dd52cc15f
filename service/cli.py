"""The `tempstrong` console script: parse the command line, dispatch to a composition root."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from .config import (
    API,
    DELIVERY,
    DEV,
    ERASE,
    IMPORT,
    MIGRATE,
    PROJECTOR,
    PUBLISHER,
    REBUILD,
    REPUBLISH,
    REWRAP,
    ConfigError,
    Settings,
    describe_variables,
)

_DEFAULT_KEYS_DIR = "var/keys"


def _event_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an event id (a UUID): {value!r}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a positive whole number, not {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tempstrong",
        description="Temporary Strong Password credentials (nevisIDM REST compatible).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    def process(name: str, summary: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=describe_variables(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    dev = process(DEV, "everything in one process on SQLite under ./var, for trying it out")
    dev.add_argument("--var-dir", default="var", help="where dev mode keeps its files")
    dev.add_argument("--host", help="overrides TEMPSTRONG_HTTP_HOST")
    dev.add_argument("--port", type=int, help="overrides TEMPSTRONG_HTTP_PORT")
    dev.add_argument("--fresh", action="store_true", help="start from an empty --var-dir")
    process(API, "the HTTP API")
    process(PROJECTOR, "follow the event store into the read model")
    process(PUBLISHER, "publish credential events and sealed envelopes to RabbitMQ")
    process(DELIVERY, "deliver sealed codes by Email, SMS or PDF letter")
    process(MIGRATE, "create the database schemas and declare the AMQP topology (idempotent)")
    rebuild = process(REBUILD, "replay a view from the start and swap it in")
    rebuild.add_argument("view", choices=["credentials"])
    republish = process(REPUBLISH, "publish an event the publisher parked, again")
    republish.add_argument("event_id", type=_event_id, help="the parked event's id (a UUID)")
    republish.add_argument(
        "--again",
        action="store_true",
        help="publish an event that was republished before once more (consumers get another "
        "copy; the delivery worker never mails twice)",
    )
    erase = process(
        ERASE,
        "erase a person's personal data now (a live user is deleted first, with their "
        "credential); a data-subject request",
    )
    erase.add_argument("--client", required=True, help="the user's clientExtId")
    erase.add_argument("--user", required=True, help="the user's extId")
    erase.add_argument("--actor", help="who asks (recorded in the UserErased event)")
    process(REWRAP, "re-wrap every person's data key with the keyring's first key")
    importer = process(IMPORT, "bring existing users (and credentials) in from JSON Lines")
    importer.add_argument("--client", required=True, help="the clientExtId the users belong to")
    importer.add_argument(
        "file",
        help="one user a line: a POST /{c}/users body, optionally with a tempStrongPassword "
        "object (extId, policyExtId, stateName, counters, hash); see docs/import.md",
    )
    importer.add_argument(
        "--stop-on-error", action="store_true", help="end at the first bad line (default: skip it)"
    )
    importer.add_argument(
        "--workers",
        type=_positive,
        help="processes preparing lines (parsing, sealing) while one writes; default: one a CPU",
    )

    token = sub.add_parser("token", help="sign a token with the local dev key")
    token.add_argument("--permissions", nargs="*", default=[])
    token.add_argument("--client", action="append", default=[], dest="clients")
    token.add_argument("--sub", default="dev-admin")
    token.add_argument("--self-admin", action="store_true", help="a SelfAdmin token for --sub")
    token.add_argument("--keys", default=_DEFAULT_KEYS_DIR)
    token.add_argument("--lifetime", type=int, default=3600, help="seconds")

    keys = sub.add_parser(
        "keys",
        help="make dev keys (JWKS + signing key, delivery key pair, hash key, personal-data "
        "keyring)",
        description="Makes dev keys in --out (keeps existing ones) and prints the "
        "TEMPSTRONG_* variables they go into.",
    )
    keys.add_argument("--out", default=_DEFAULT_KEYS_DIR)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command == "keys":
        from .roots import tools

        return tools.keys(Path(args.out))
    if command == "token":
        from .roots import tools

        return tools.token(
            args.keys,
            args.sub,
            args.clients,
            args.permissions,
            self_admin=args.self_admin,
            lifetime=args.lifetime,
        )
    settings = Settings.from_env()
    if command == DEV:
        from dataclasses import replace

        from .roots import dev

        settings = replace(
            settings,
            http_host=args.host or settings.http_host,
            http_port=args.port or settings.http_port,
        )
        return dev.main(args.var_dir, settings, fresh=args.fresh)
    if command == API:
        from .roots import api

        return api.main(settings)
    if command == PROJECTOR:
        from .roots import projector

        return projector.main(settings)
    if command == PUBLISHER:
        from .roots import publisher

        return publisher.main(settings)
    if command == DELIVERY:
        from .roots import delivery

        return delivery.main(settings)
    if command == MIGRATE:
        from .roots import migrate

        return migrate.main(settings)
    if command == REBUILD:
        from .roots import rebuild

        return rebuild.main(settings, args.view)
    if command == REPUBLISH:
        from .roots import republish

        return republish.main(settings, args.event_id, args.again)
    if command == ERASE:
        from .roots import erase

        return erase.main(settings, args.client, args.user, args.actor)
    if command == REWRAP:
        from .roots import rewrap

        return rewrap.main(settings)
    if command == IMPORT:
        from .roots import importer

        return importer.main(
            settings,
            args.client,
            args.file,
            stop_on_error=args.stop_on_error,
            workers=args.workers,
        )
    raise AssertionError(command)  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
