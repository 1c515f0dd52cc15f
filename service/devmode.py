"""`tempstrong dev`: everything in one process on SQLite under ./var, with a printed admin token."""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import web

from projections.credentials.sqlite import SqliteCredentialsView
from projections.folding import CredentialCache
from projections.follower import Follower, FollowerMetrics
from projections.publisher.inprocess import InProcessTransport
from projections.publisher.sink import MemoryTracking, PublisherMetrics, PublisherSink
from service.eventstore.notifications import RecorderNotifications

from .bootstrap import build_service, build_verifier
from .config import Settings, load_policy_file
from .delivery.inprocess import build_dev_delivery
from .devkeys import DEV_AUDIENCE, DEV_ISSUER, DevKeys, make_dev_keys
from .eventstore.library import EventStoreApp, LibraryStore, sqlite_env
from .http.app import create_app
from .http.context import ApiContext
from .inprocess_queue import InProcessQueue
from .permissions import ALL_CLIENTS, Permission

DEV_CLIENT = "client-123"
DEV_POLICIES = """\
# Dev-mode policies (SPEC section 2). Edit and restart `tempstrong dev` to try others.
clients:
  client-123:
    defaultPolicy: tsp-default
    policies: [tsp-hidden, tsp-none]
policies:
  tsp-default:
    type: TempStrongPasswordPolicy
    sendingMethod: PDFstore
    plainValueExposedToCaller: true
  tsp-hidden:
    type: TempStrongPasswordPolicy
    sendingMethod: PDFstore
    plainValueExposedToCaller: false
  tsp-none:
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


def prepare(var_dir: Path) -> tuple[Settings, DevKeys]:
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
        delivery_private_keys=keys.delivery_private_key,
        spool_dir=str(var_dir / "spool"),
    )
    return settings, keys


def dev_app(var_dir: Path) -> tuple[web.Application, DevKeys]:
    settings, keys = prepare(var_dir)
    assert settings.policy_file
    catalog = load_policy_file(settings.policy_file, settings.hash_key)
    store = EventStoreApp(env=sqlite_env(str(var_dir / "tempstrong.sqlite")))

    async def always_ready() -> bool:
        return True

    view = SqliteCredentialsView(str(var_dir / "views.sqlite"), store.mapper)
    library_store = LibraryStore(store, ThreadPoolExecutor(4))
    ctx = ApiContext(
        service=build_service(settings, library_store, catalog),
        verifier=build_verifier(settings),
        is_ready=always_ready,
        credential_pages=view,
    )
    app = create_app(ctx)
    registry = ctx.metrics.registry
    assert settings.delivery_private_keys
    queue = InProcessQueue()
    delivery = build_dev_delivery(var_dir, settings.delivery_private_keys, store.recorder, queue)
    publisher = PublisherSink(
        # the in-process queue does not survive a restart: start after what is stored
        MemoryTracking(start=store.recorder.max_notification_id() or 0),
        store.mapper,
        CredentialCache(library_store.get_at),
        InProcessTransport(queue),
        PublisherMetrics(registry),
    )
    follower_metrics = FollowerMetrics(registry)
    followers = [
        Follower(RecorderNotifications(store.recorder), view, follower_metrics),
        Follower(RecorderNotifications(store.recorder), publisher, follower_metrics),
    ]
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start_followers(_: web.Application) -> None:
        tasks.extend(asyncio.create_task(f.run(stop)) for f in followers)
        tasks.append(asyncio.create_task(delivery.run(stop)))

    async def close(_: web.Application) -> None:
        stop.set()
        await asyncio.gather(*tasks)
        view.close()  # the store is closed by the app (after the followers stopped)

    app.on_startup.append(start_followers)
    app.on_shutdown.append(close)  # before the app's cleanup closes the store
    return app, keys


def banner(keys: DevKeys, host: str, port: int) -> str:
    token = keys.sign(admin_claims(), lifetime_seconds=12 * 3600)
    base = f"http://{host}:{port}/nevisidm/api/core/v1/{DEV_CLIENT}"
    return f"""
tempstrong dev — embedded SQLite under ./var, for trying it out, never for production.
Codes go out in-process: PDF letters to ./var/spool, mail and SMS to ./var/outbox.

Admin token (12 h):
  export TOKEN={token}

Try it:
  curl -s -X POST {base}/users -H "X-Token: $TOKEN" -H 'Content-Type: application/json' \\
       -d '{{"extId":"user-123","email":"user@example.com"}}'
  curl -s -X POST {base}/users/user-123/tempstrong-password -H "X-Token: $TOKEN"
  curl -s -X POST {base}/users/user-123/tempstrong-password/reset -H "X-Token: $TOKEN"
  curl -s {base}/tempstrong-passwords -H "X-Token: $TOKEN"

Listening on http://{host}:{port} (Ctrl-C to stop)
"""


def run_dev(var_dir: Path, host: str, port: int) -> None:
    app, keys = dev_app(var_dir)
    print(banner(keys, host, port), flush=True)
    web.run_app(app, host=host, port=port, print=None, shutdown_timeout=10)


def main_dev(var_dir: str, host: str, port: int) -> int:
    try:
        run_dev(Path(var_dir), host, port)
    except OSError as exc:
        print(f"tempstrong dev: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    except asyncio.CancelledError:  # pragma: no cover
        return 0
    return 0
