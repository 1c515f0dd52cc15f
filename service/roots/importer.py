"""`tempstrong import --client C FILE`: brings existing users in from JSON Lines.

Each line is a user body as `POST /{c}/users` takes it, optionally with `"tempStrongPassword": {
"extId", "policyExtId", "stateName", "resetCount", "successfulLoginCount", "failedLoginCount",
"lastSuccessfulLoginDate", "lastFailedLoginDate", "hash"}` (all optional; `hash` the stored hash
with its scheme prefix, `{SSHA256}...` or `{HMAC-SHA256}...`, as a nevisIDM export carries it).
Lines are checked by the API's own rules; worker processes prepare them a batch at a time while
this process writes the batch before (service/commands/imports.py). A bad line is reported with
its number and skipped (or, with --stop-on-error, ends the run); exit 0 when every line is
imported or already there, 1 when a line was skipped.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..commands.facade import utc_now
from ..commands.imports import (
    ImportedCredential,
    ImportedUser,
    ImportPreparer,
    LineResult,
    Prepared,
    write_prepared,
)
from ..commands.outcomes import UserProfile
from ..config import IMPORT, ConfigError, Settings
from ..domain.credential import CarriedOver
from ..domain.password import PasswordHasher
from ..domain.states import CredentialState
from ..domain.validation import EXT_ID
from ..eventstore.application import event_mapper
from ..eventstore.postgres import PostgresStore
from ..http.errors import ApiError
from ..http.parsing import STATE_NAMES, USER_FIELDS, Field, checked_fields, strict_json
from .parts import build_keyring, require_reachable
from .policies import load_policy_file
from .progress import Progress

BATCH_LINES = 500
PARENT_CHECK_SECONDS = 0.5
AHEAD_PER_WORKER = 2  # batches prepared ahead of the writer, per worker process
CREDENTIAL = "tempStrongPassword"
TIMESTAMP = Field(str, max_length=64, check=lambda text: _timestamp(text) is not None)
CREDENTIAL_FIELDS = {
    "extId": Field(str, EXT_ID),
    "policyExtId": Field(str, EXT_ID),
    "stateName": Field(str, choices=STATE_NAMES),
    "resetCount": Field(int),
    "successfulLoginCount": Field(int),
    "failedLoginCount": Field(int),
    "lastSuccessfulLoginDate": TIMESTAMP,
    "lastFailedLoginDate": TIMESTAMP,
    "hash": Field(str, max_length=512),
}


class BadLine(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass
class ImportReport:
    imported: int = 0
    existed: int = 0
    skipped: int = 0
    stopped: bool = False
    seconds: float = 0.0


def parse_line(number: int, text: str) -> ImportedUser:
    """One line, checked as the API checks a body (BadLine with the reason, never the value)."""
    try:
        document = strict_json(text)
        if not isinstance(document, dict):
            raise BadLine(number, "not a JSON object")
        credential = document.pop(CREDENTIAL, None)
        user = checked_fields(document, USER_FIELDS)
        if credential is not None and not isinstance(credential, dict):
            raise BadLine(number, f"{CREDENTIAL} must be a JSON object")
        imported = (
            None
            if credential is None
            else _credential(checked_fields(credential, CREDENTIAL_FIELDS))
        )
    except ApiError as refused:
        raise BadLine(number, refused.message) from None
    profile = UserProfile(
        login_id=user.get("loginId"),
        email=user.get("email"),
        mobile=user.get("mobile"),
        language=user.get("language"),
    )
    return ImportedUser(number, user["extId"], profile, imported)


def _credential(fields: dict[str, Any]) -> ImportedCredential:
    state = fields.get("stateName")
    return ImportedCredential(
        ext_id=fields.get("extId"),
        policy_ext_id=fields.get("policyExtId"),
        state_name=CredentialState(state) if state else None,
        carried_over=CarriedOver(
            reset_count=fields.get("resetCount", 0),
            successful_login_count=fields.get("successfulLoginCount", 0),
            failed_login_count=fields.get("failedLoginCount", 0),
            last_successful_login=_timestamp(fields.get("lastSuccessfulLoginDate")),
            last_failed_login=_timestamp(fields.get("lastFailedLoginDate")),
        ),
        password_hash=fields.get("hash"),
    )


def _timestamp(text: str | None) -> datetime | None:
    """An ISO 8601 date and time with its offset (as GET shows them), else None."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8", errors="strict") as lines:
        for number, text in enumerate(lines, start=1):
            if text.strip():
                yield number, text


def _chunks(path: Path, size: int) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    for numbered in _lines(path):
        chunk.append(numbered)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- in each worker process ----------------------------------------------------------------------

_preparer: ImportPreparer | None = None
_client = ""


def _start_worker(settings: Settings, client: str, parent: int) -> None:
    global _preparer, _client
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    # the import's pid, not getppid(): a worker still starting when the import was killed
    # would take its new parent for the import and wait for ever
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    assert settings.policy_file
    _preparer = ImportPreparer(
        load_policy_file(settings.policy_file, settings.hash_key),
        PasswordHasher(settings.hash_key),
        build_keyring(settings),
        event_mapper(),
        utc_now,
    )
    _client = client


def _end_with(parent: int) -> None:
    """A worker whose import was killed ends too (the pool's queue never tells it)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def prepare_chunk(chunk: list[tuple[int, str]]) -> list[Prepared]:
    assert _preparer is not None
    prepared: list[Prepared] = []
    for number, text in chunk:
        try:
            prepared.append(_preparer.prepare(_client, parse_line(number, text)))
        except BadLine as bad:
            prepared.append(LineResult(number, bad.reason))
    return prepared


# -- in the main process ---------------------------------------------------------------------------


async def run(
    settings: Settings,
    client: str,
    path: Path,
    *,
    stop_on_error: bool,
    progress: Progress,
    workers: int,
) -> ImportReport:
    """Workers prepare batches ahead (parsing, the domain, sealing, transcoding) while this
    process writes the one before: the database is never waiting for Python."""
    assert settings.database_url
    store = PostgresStore(settings.database_url, event_mapper())
    await store.open()
    report = ImportReport()
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(settings, client, os.getpid()),
    )
    try:
        chunks = _chunks(path, BATCH_LINES)
        ahead: deque[asyncio.Future[list[Prepared]]] = deque()

        def prepare_next() -> None:
            chunk = next(chunks, None)
            if chunk is not None:
                ahead.append(loop.run_in_executor(pool, prepare_chunk, chunk))

        for _ in range(workers * AHEAD_PER_WORKER):
            prepare_next()
        while ahead:
            batch = await ahead.popleft()
            prepare_next()
            results = await write_prepared(store, batch, stop_on_error=stop_on_error)
            if _tally(results, report, progress, stop_on_error):
                break
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        await store.close()
        report.seconds = time.monotonic() - started
    return report


def _tally(
    results: list[LineResult], report: ImportReport, progress: Progress, stop_on_error: bool
) -> bool:
    """Counts a batch's results; True when the run must stop."""
    for result in results:
        if result.failed:
            _report_bad(f"line {result.line}: {result.outcome}", report, progress)
            if stop_on_error:
                report.stopped = True
                return True
        elif result.outcome == "imported":
            report.imported += 1
            progress.advance(1, imported=1)
        else:
            report.existed += 1
            progress.advance(1, existed=1)
    return False


def _report_bad(message: str, report: ImportReport, progress: Progress) -> None:
    report.skipped += 1
    progress.advance(1, skipped=1)
    print(f"tempstrong import: {message}", file=sys.stderr, flush=True)


def _count_lines(path: Path) -> int:
    with path.open("rb") as raw:
        return sum(1 for line in raw if line.strip())


def main(
    settings: Settings, client: str, file: str, *, stop_on_error: bool, workers: int | None
) -> int:
    settings.require(IMPORT, "database_url", "personal_data_keys", "policy_file")
    assert settings.policy_file
    path = Path(file)
    if not path.is_file():
        raise ConfigError(f"tempstrong import: {file}: no such file")
    if client not in load_policy_file(settings.policy_file, settings.hash_key).clients:
        raise ConfigError(f"tempstrong import: client {client} is not in the policy file")
    build_keyring(settings)
    require_reachable(IMPORT, settings)
    workers = workers or len(os.sched_getaffinity(0))
    progress = Progress("import", "users", _count_lines(path))
    try:
        report = asyncio.run(
            run(
                settings,
                client,
                path,
                stop_on_error=stop_on_error,
                progress=progress,
                workers=workers,
            )
        )
    except UnicodeDecodeError:
        raise ConfigError(f"tempstrong import: {file}: not UTF-8 text") from None
    finally:
        progress.close()
    rate = (report.imported + report.existed) / max(report.seconds, 1e-9)
    print(
        f"tempstrong import: {report.imported} user(s) imported, {report.existed} already there, "
        f"{report.skipped} line(s) skipped, in {report.seconds:.1f} s ({rate:.0f} users/s)"
        + (" (stopped at the first bad line)" if report.stopped else "")
    )
    return 1 if report.skipped else 0
