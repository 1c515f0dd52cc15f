"""JSON log lines carrying the request id of the request being served."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path, PurePath

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


@contextmanager
def request_id_in_scope(request_id: str | None) -> Iterator[None]:
    """Log lines and events stored inside carry this id (a request's, or a message's)."""
    token = request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)


_MAX_FRAMES = 12
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["requestId"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry.update(describe_exception(record.exc_info[1]))
        return json.dumps(entry, default=str)


def describe_exception(exc: BaseException | None) -> dict[str, object]:
    """The exception's type and the frames it went through, innermost last, never its message.

    Messages may quote what was being processed (a header, a body, a key); the type and the
    place it was raised are what an operator needs to find the cause.
    """
    if exc is None:
        return {}
    kind = type(exc)
    module = kind.__module__
    described: dict[str, object] = {
        "exception": kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
    }
    frames = traceback.extract_tb(exc.__traceback__)[-_MAX_FRAMES:]
    if frames:
        described["where"] = _frame(frames[-1])
        described["stack"] = [_frame(frame) for frame in frames]
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None:
        described["cause"] = describe_exception(cause).get("exception")
    return described


def _frame(frame: traceback.FrameSummary) -> str:
    return f"{_short_path(frame.filename)}:{frame.lineno} in {frame.name}"


def _short_path(filename: str) -> str:
    """`service/store_pg.py`, not the absolute path of the installation or the checkout."""
    path = PurePath(filename)
    for anchor in ("site-packages", "dist-packages"):
        if anchor in path.parts:
            return "/".join(path.parts[path.parts.index(anchor) + 1 :])
    with contextlib.suppress(ValueError):
        return path.relative_to(Path.cwd()).as_posix()
    return "/".join(path.parts[-3:])


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
