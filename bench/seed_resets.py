"""Seeding at database speed: Reset events for imported credentials, appended in batched saves.

    python bench/seed_resets.py --client bench --first 0 --count 10000 [--resets 3] [--workers N]

Takes the settings `tempstrong import` takes, from the TEMPSTRONG_* environment (DATABASE_URL,
POLICY_FILE, PERSONAL_DATA_KEYS, DELIVERY_PUBLIC_KEY, HASH_KEY). The users are
`clients.user_name(first) .. user_name(first + count - 1)`, each with a credential. Worker
processes (one a CPU by default) take BATCH users at a time: two queries load the users and then
their credentials (`PostgresStore.get_many_at`), each credential is reset `--resets` times in
memory by the reset command's own code (`CredentialCommands.reset_loaded`: a new password, its
hash, the out-of-band part sealed to the delivery key, the event with the next version), and the
batch's events go to the store in one save through its group-commit writer, as `tempstrong
import` writes a batch (`PostgresStore.append`). What HTTP would add (parsing, the token, one
transaction per reset) is left out: 3 million resets through the API would take an hour.

Progress as `tempstrong import` reports it (service/roots/progress.py: a JSON line a second on
standard error when it is not a terminal); at the end one JSON line on standard output:
{"credentials", "events", "seconds", "events_per_s"}.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from uuid import UUID

import clients

from service.commands.credentials import CredentialCommands
from service.commands.facade import utc_now
from service.config import Settings
from service.domain.credential import TempStrongPassword
from service.domain.user import User
from service.eventstore.application import event_mapper
from service.eventstore.port import NO_KEY_CHANGES
from service.eventstore.postgres import PostgresStore
from service.roots.parts import build_commands
from service.roots.policies import load_policy_file
from service.roots.progress import Progress

BATCH = 500
LATEST = 2**62  # "the latest version" for get_many_at
ACTOR = "bench seeding"

# -- in each worker process -----------------------------------------------------------------------

_loop: asyncio.AbstractEventLoop | None = None
_store: PostgresStore | None = None
_commands: CredentialCommands | None = None
_client = ""


def _start_worker(client: str, parent: int) -> None:
    global _loop, _store, _commands, _client
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    settings = Settings.from_env()
    assert settings.database_url and settings.policy_file
    catalog = load_policy_file(settings.policy_file, settings.hash_key)
    _loop = asyncio.new_event_loop()
    _store = PostgresStore(settings.database_url, event_mapper())
    _loop.run_until_complete(_store.open())
    _commands = build_commands(settings, _store, catalog).credentials
    _client = client
    atexit.register(_close)


def _end_with(parent: int) -> None:
    """A worker whose seeder was killed ends too (the pool's queue never tells it)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _close() -> None:
    if _loop is not None and _store is not None:
        _loop.run_until_complete(_store.close())


def reset_batch(first: int, count: int, resets: int) -> tuple[int, int]:
    """Resets the credentials of users first .. first + count - 1: (credentials, events)."""
    assert _loop is not None
    return _loop.run_until_complete(_reset_batch(first, count, resets))


async def _reset_batch(first: int, count: int, resets: int) -> tuple[int, int]:
    assert _store is not None and _commands is not None
    user_ids = [User.create_id(_client, clients.user_name(i)) for i in range(first, first + count)]
    users = await _store.get_many_at([(user_id, LATEST) for user_id in user_ids])
    credential_ids: dict[UUID, User] = {}
    for user in users.values():
        if isinstance(user, User) and not user.deleted and user.credential_id is not None:
            credential_ids[user.credential_id] = user
    loaded = await _store.get_many_at([(credential_id, LATEST) for credential_id in credential_ids])
    now = utc_now()
    changed: list[TempStrongPassword] = []
    for credential_id, user in credential_ids.items():
        credential = loaded.get(credential_id)
        if not isinstance(credential, TempStrongPassword) or credential.deleted:
            continue
        for _ in range(resets):
            _commands.reset_loaded(user, credential, actor=ACTOR, now=now)
        changed.append(credential)
    mapper = event_mapper()
    events = [mapper.to_stored_event(e) for c in changed for e in c.collect_events()]
    if events:
        await _store.append(events, NO_KEY_CHANGES)  # one save, one transaction
    return len(changed), len(events)


# -- the main process -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--client", required=True)
    p.add_argument("--first", type=int, default=0, help="index of the first user")
    p.add_argument("--count", type=int, required=True, help="users from --first on")
    p.add_argument("--resets", type=int, default=3, help="Reset events per credential")
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = p.parse_args(argv)
    batches = [
        (first, min(BATCH, args.first + args.count - first))
        for first in range(args.first, args.first + args.count, BATCH)
    ]
    progress = Progress("seed resets", "events", args.count * args.resets)
    started = time.perf_counter()
    credentials = events = 0
    pool = ProcessPoolExecutor(
        max(1, args.workers),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(args.client, os.getpid()),
    )
    try:
        firsts, counts = zip(*batches, strict=True) if batches else ((), ())
        for done_credentials, done_events in pool.map(
            reset_batch, firsts, counts, [args.resets] * len(batches)
        ):
            credentials += done_credentials
            events += done_events
            progress.advance(done_events)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        progress.close()
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "credentials": credentials,
                "events": events,
                "seconds": round(seconds, 3),
                "events_per_s": round(events / seconds, 1) if seconds > 0 else None,
            }
        ),
        flush=True,
    )
    return 0 if credentials == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
