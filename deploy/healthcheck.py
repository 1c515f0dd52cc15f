"""The image's HEALTHCHECK: GET /healthz of whichever tempstrong process the container runs.

`tempstrong api` (the default command) serves /healthz on TEMPSTRONG_HTTP_PORT (8080 in the
image). The workers (`projector`, `publisher`, `delivery`) serve it on TEMPSTRONG_METRICS_PORT
only when that is set; without it there is nothing to ask, so they count as healthy as long as
they run (the container stops when the process does). One-shot commands (`migrate`, `keys`,
`token`, ...) are healthy too. The command is read from PID 1's arguments, so the check also
holds under an init such as `docker run --init`. Standard library only: the image has no curl.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Mapping, Sequence

WORKERS = ("projector", "publisher", "delivery")
COMMANDS = ("api", "dev", *WORKERS, "migrate", "rebuild", "keys", "token")


def command_of(argv: Sequence[str]) -> str:
    """The tempstrong sub-command in a process's arguments; `api` (the image's CMD) if none."""
    for index, arg in enumerate(argv):
        if os.path.basename(arg) == "tempstrong":
            following = [a for a in argv[index + 1 :] if not a.startswith("-")]
            return following[0] if following else "api"
    return next((arg for arg in argv if arg in COMMANDS), "api")


def health_url(command: str, env: Mapping[str, str]) -> str | None:
    """Where `command` answers /healthz, or None when it serves nothing to ask."""
    if command == "api":
        port = env.get("TEMPSTRONG_HTTP_PORT", "").strip() or "8080"
    elif command in WORKERS:
        port = env.get("TEMPSTRONG_METRICS_PORT", "").strip()
        if not port:
            return None
    else:
        return None
    return f"http://127.0.0.1:{port}/healthz"


def pid1_argv() -> list[str]:
    try:
        with open("/proc/1/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def main() -> int:
    command = command_of(pid1_argv())
    url = health_url(command, os.environ)
    if url is None:
        print(f"tempstrong {command}: no health endpoint configured; the process runs")
        return 0
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 (fixed http URL)
            status = response.status
    except OSError as exc:
        print(f"tempstrong {command}: {url}: {exc}")
        return 1
    print(f"tempstrong {command}: {url}: {status}")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
