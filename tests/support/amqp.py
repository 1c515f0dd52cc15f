"""A RabbitMQ vhost per test session (created and deleted with rabbitmqctl), and broker control."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

AMQP_HOST = "127.0.0.1:5672"


def rabbitmqctl(*args: str, timeout: float = 120) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=timeout)


def create_vhost() -> tuple[str, str]:
    vhost = f"tempstrong_test_{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    return vhost, f"amqp://guest:guest@{AMQP_HOST}/{vhost}"


def delete_vhost(vhost: str) -> None:
    rabbitmqctl("delete_vhost", vhost)


def stop_broker() -> None:
    rabbitmqctl("stop_app")


def start_broker() -> None:
    rabbitmqctl("start_app")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            rabbitmqctl("await_startup", timeout=30)
            return
        except subprocess.SubprocessError:
            time.sleep(1)


def queue_arguments(amqp_url: str) -> dict[str, dict[str, Any]]:
    """Each queue of the URL's vhost with the arguments it was declared with."""
    vhost = unquote(urlsplit(amqp_url).path.lstrip("/")) or "/"
    command = ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "arguments"]
    listed = subprocess.run(
        [*command, "--formatter", "json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return {
        queue["name"]: {name: value for name, _, value in queue["arguments"]}
        for queue in json.loads(listed)
    }
