"""`tempstrong dev`: everything in one process, for trying it out (never for production).

The same parts as production, with other adapters: the library's event store on SQLite, the
credentials view on SQLite, an in-process queue instead of RabbitMQ, and files instead of mail
and SMS (`./var/outbox`) and of the print pickup (`./var/spool`). Each out-of-band message is
announced on the console with the file it went to.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import web

from projections.credentials.sqlite import SqliteCredentialsView
from projections.folding import CredentialCache
from projections.follower import Follower, FollowerMetrics
from projections.publisher.inprocess import InProcessTransport
from projections.publisher.sink import MemoryTracking, PublisherMetrics, PublisherSink

from ..commands.facade import utc_now
from ..config import DEV, ConfigError, Settings
from ..contracts.envelope import SealedDelivery
from ..contracts.paths import BASE_PATH
from ..delivery.backoff import Backoff
from ..delivery.channels import Channel
from ..delivery.channels.outbox import OutboxChannel
from ..delivery.channels.pdf import PdfSpoolChannel, letter_path
from ..delivery.data_keys import TableDataKeys
from ..delivery.dedup import MemoryDedup
from ..delivery.inprocess import InProcessDelivery
from ..delivery.inprocess_queue import InProcessQueue
from ..delivery.metrics import DeliveryMetrics
from ..delivery.supersession import RecorderSupersession
from ..delivery.worker import DeliveryWorker
from ..domain.policy import SendingMethod
from ..eventstore.application import EventStoreApp, sqlite_env
from ..eventstore.keys import SqliteKeyTable
from ..eventstore.notifications import RecorderNotifications
from ..eventstore.threaded import ThreadedStore
from ..http.app import create_app
from ..observability.logs import configure_logging
from ..privacy.erasure import Eraser
from ..privacy.keyring import Keyring
from ..security.devkeys import DEV_AUDIENCE, DEV_ISSUER, DevKeys, make_dev_keys
from ..security.permissions import ALL_CLIENTS, Permission
from ..security.sealing import Opener
from .parts import always_ready, build_api_context, build_keyring
from .policies import load_policy_file
from .running import log_stopped, run_until_signalled, serve_app

DEV_CLIENT = "client-123"
DEV_THREADS = 4
DEV_MAX_ATTEMPTS = 5
DEV_BACKOFF = Backoff(base=1.0, cap=30.0)
DEV_POLICIES = """\
# Dev-mode policies (format: docs/operations.md). Edit and restart `tempstrong dev` to try others.
clients:
  client-123:
    defaultPolicy: tsp-default
    policies: [tsp-letter, tsp-hidden, tsp-none]
policies:
  tsp-default:            # fragment0 in the response, fragment1 by Email (./var/outbox)
    type: TempStrongPasswordPolicy
    sendingMethod: Email
    plainValueExposedToCaller: true
  tsp-letter:             # fragment1 in a PDF letter (./var/spool)
    type: TempStrongPasswordPolicy
    sendingMethod: PDFstore
  tsp-hidden:             # no password in the response, the whole password by Email
    type: TempStrongPasswordPolicy
    sendingMethod: Email
    plainValueExposedToCaller: false
  tsp-none:               # no out-of-band channel: the response carries the whole password
    type: TempStrongPasswordPolicy
    sendingMethod: None
"""


def admin_claims() -> dict[str, object]:
    return {
        "sub": "dev-admin",
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "permissions": [p.value for p in Permission],
        "clients": [ALL_CLIENTS],
    }


def prepare(var_dir: Path, base: Settings) -> tuple[Settings, DevKeys]:
    var_dir.mkdir(parents=True, exist_ok=True)
    keys = make_dev_keys(var_dir / "keys")
    policy_file = var_dir / "policies.yaml"
    if not policy_file.exists():
        policy_file.write_text(DEV_POLICIES, encoding="utf-8")
    settings = Settings(
        jwks=str(keys.jwks_path),
        jwt_issuer=DEV_ISSUER,
        jwt_audience=DEV_AUDIENCE,
        policy_file=str(policy_file),
        hash_key=keys.hash_key.encode(),
        delivery_public_key=keys.delivery_public_key,
        delivery_private_key=keys.delivery_private_key,
        spool_dir=str(var_dir / "spool"),
        personal_data_keys=str(keys.personal_data_keys_path),
        erasure_delay=base.erasure_delay,
        http_host=base.http_host,
        http_port=base.http_port,
    )
    return settings, keys


class Announced(Channel):
    """A channel that says on the console where each message went (dev mode only)."""

    def __init__(
        self,
        inner: Channel,
        where: Callable[[SealedDelivery], Path],
        say: Callable[[str], None],
    ) -> None:
        self._inner = inner
        self._where = where
        self._say = say

    async def send(self, message: SealedDelivery) -> None:
        await self._inner.send(message)
        self._say(
            f"out-of-band {message.sending_method.value} for {message.user_ext_id} "
            f"(version {message.version}): {self._where(message)}"
        )

    async def close(self) -> None:
        await self._inner.close()


def dev_delivery(
    var_dir: Path,
    private_keys: str,
    keyring: Keyring,
    store: ThreadedStore,
    queue: InProcessQueue,
    say: Callable[[str], None] = lambda line: print(line, flush=True),
    *,
    metrics: DeliveryMetrics | None = None,
    max_attempts: int = DEV_MAX_ATTEMPTS,
    backoff: Backoff = DEV_BACKOFF,
) -> InProcessDelivery:
    """The delivery worker's core behind the in-process queue, sending into files."""
    outbox = OutboxChannel(var_dir / "outbox")
    spool = var_dir / "spool"
    announced_outbox = Announced(outbox, outbox.path_of, say)
    worker = DeliveryWorker(
        opener=Opener(private_keys),
        keyring=keyring,
        data_keys=TableDataKeys(store.keys),
        channels={
            SendingMethod.EMAIL: announced_outbox,
            SendingMethod.SMS: announced_outbox,
            SendingMethod.PDF_STORE: Announced(
                PdfSpoolChannel(spool), lambda m: letter_path(spool, m), say
            ),
        },
        dedup=MemoryDedup(),
        supersession=RecorderSupersession(store.app.recorder),
        metrics=metrics or DeliveryMetrics(),
        max_attempts=max_attempts,
        backoff=backoff,
    )
    return InProcessDelivery(worker, queue)


def dev_app(var_dir: Path, base: Settings) -> tuple[web.Application, DevKeys]:
    settings, keys = prepare(var_dir, base)
    assert settings.policy_file and settings.delivery_private_key
    catalog = load_policy_file(settings.policy_file, settings.hash_key)
    store = EventStoreApp(env=sqlite_env(str(var_dir / "tempstrong.sqlite")))
    keys_table = SqliteKeyTable(str(var_dir / "personal-data-keys.sqlite"))
    threaded_store = ThreadedStore(store, ThreadPoolExecutor(DEV_THREADS), keys_table)
    view = SqliteCredentialsView(str(var_dir / "views.sqlite"), store.mapper)
    context = build_api_context(
        settings, threaded_store, catalog, not_ready=always_ready, pages=view
    )
    app = create_app(context)
    registry = context.metrics.registry
    queue = InProcessQueue()
    delivery = dev_delivery(
        var_dir, settings.delivery_private_key, build_keyring(settings), threaded_store, queue
    )
    publisher = PublisherSink(
        # the in-process queue does not survive a restart: start after what is stored
        MemoryTracking(start=store.recorder.max_notification_id() or 0),
        store.mapper,
        CredentialCache(threaded_store.get_at),
        InProcessTransport(queue),
        PublisherMetrics(registry),
    )
    follower_metrics = FollowerMetrics(registry)
    followers = [
        Follower(RecorderNotifications(store.recorder), view, follower_metrics),
        Follower(RecorderNotifications(store.recorder), publisher, follower_metrics),
    ]

    async def background(_: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(f.run(stop)) for f in followers]
        tasks.append(asyncio.create_task(delivery.run(stop)))
        tasks.append(asyncio.create_task(Eraser(threaded_store, utc_now).run(stop)))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            view.close()
            await threaded_store.close()
            keys_table.close()

    app.cleanup_ctx.append(background)
    return app, keys


def banner(keys: DevKeys, listener: str, fresh: bool = False) -> str:
    token = keys.sign(admin_claims(), lifetime_seconds=12 * 3600)
    base = f"{listener}{BASE_PATH}/{DEV_CLIENT}"
    renewed = (
        "\n(--fresh: new keys, so a token from before no longer works: use this one)"
        if fresh
        else ""
    )
    return f"""
tempstrong dev: embedded SQLite under ./var, for trying it out, never for production.
Out-of-band messages go to files: mail and SMS to ./var/outbox, PDF letters to ./var/spool;
each one is announced below with its file. (Start afresh with `tempstrong dev --fresh`.)

Admin token (12 h):{renewed}
  export TOKEN={token}

Try it:
  B={base}
  curl -s -X POST $B/users -H "X-Token: $TOKEN" -H 'Content-Type: application/json' \\
       -d '{{"extId":"user-123","email":"user@example.com"}}'
  curl -s -X POST $B/users/user-123/tempstrong-password -H "X-Token: $TOKEN"
  curl -s -X POST $B/users/user-123/tempstrong-password/reset -H "X-Token: $TOKEN"
  # the reset's tempStrongPassword is fragment0; fragment1 is the `Code:` line of the mail file
  curl -s -X POST $B/users/user-123/tempstrong-password/verify -H "X-Token: $TOKEN" \\
       -H 'Content-Type: application/json' -d '{{"password":"<fragment0><fragment1>"}}'

Listening on {listener} (Ctrl-C to stop)
"""


LOCK_FILE = ".dev.lock"


def hold_directory(directory: Path) -> int:
    """An exclusive lock on `directory` for the life of this process (its file descriptor): a
    second `tempstrong dev` on the same directory, `--fresh` or not, refuses in one line (exit 2)
    and changes nothing."""
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(descriptor, 32).decode("ascii", "replace").strip() or "?"
        os.close(descriptor)
        raise ConfigError(
            f"tempstrong dev: {directory} is in use by a running `tempstrong dev` (pid {holder}):"
            " stop it first (nothing was changed)"
        ) from None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, f"{os.getpid()}\n".encode())
    return descriptor


def empty(directory: Path) -> None:
    """Everything in `directory` but the lock this process holds."""
    for entry in directory.iterdir():
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def main(var_dir: str, base: Settings, *, fresh: bool = False) -> int:
    directory = Path(var_dir)
    lock = hold_directory(directory)  # released when the process ends
    try:
        if fresh:
            empty(directory)
        configure_logging()
        app, keys = dev_app(directory, base)

        async def run(stop: asyncio.Event) -> None:
            await serve_app(
                app,
                base.http_host,
                base.http_port,
                stop,
                listening=lambda listener: print(banner(keys, listener, fresh), flush=True),
            )
            log_stopped(DEV)

        return run_until_signalled(run)
    finally:
        os.close(lock)
