"""A RabbitMQ vhost per test session (created and deleted with rabbitmqctl), and broker control."""

from __future__ import annotations

import subprocess
import time
import uuid

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
