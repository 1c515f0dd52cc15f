"""deploy/healthcheck.py, the image's HEALTHCHECK: which port each process is asked on."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "healthcheck.py"


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tempstrong_healthcheck", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["/usr/local/bin/python3", "/usr/local/bin/tempstrong", "api"], "api"),
        (["/usr/local/bin/python3", "/usr/local/bin/tempstrong", "delivery"], "delivery"),
        (["/usr/local/bin/python3", "/usr/local/bin/tempstrong"], "api"),
        (["/sbin/docker-init", "--", "tempstrong", "projector"], "projector"),
        (["tempstrong", "migrate"], "migrate"),
        (["python3", "-m", "service.cli", "publisher"], "publisher"),
        ([], "api"),
    ],
)
def test_command_of_pid1(healthcheck: ModuleType, argv: list[str], command: str) -> None:
    assert healthcheck.command_of(argv) == command


def test_health_url_per_process(healthcheck: ModuleType) -> None:
    url = healthcheck.health_url
    assert url("api", {}) == "http://127.0.0.1:8080/healthz"
    assert url("api", {"TEMPSTRONG_HTTP_PORT": "18080"}) == "http://127.0.0.1:18080/healthz"
    assert url("api", {"TEMPSTRONG_METRICS_PORT": "9101"}) == "http://127.0.0.1:8080/healthz"
    for worker in ("projector", "publisher", "delivery"):
        assert url(worker, {"TEMPSTRONG_METRICS_PORT": "9102"}) == "http://127.0.0.1:9102/healthz"
        assert url(worker, {"TEMPSTRONG_HTTP_PORT": "8080"}) is None, "no port: nothing to ask"
    for one_shot in ("migrate", "keys", "token", "rebuild"):
        assert url(one_shot, {"TEMPSTRONG_HTTP_PORT": "8080"}) is None


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_main_is_healthy_only_when_healthz_answers_200(
    healthcheck: ModuleType, server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = str(server.server_address[1])
    monkeypatch.setattr(healthcheck, "pid1_argv", lambda: ["tempstrong", "delivery"])
    monkeypatch.setenv("TEMPSTRONG_METRICS_PORT", port)
    assert healthcheck.main() == 0
    monkeypatch.setattr(_Health, "status", 503)
    assert healthcheck.main() == 1
    server.shutdown()
    server.server_close()
    assert healthcheck.main() == 1, "nothing listening: unhealthy"
    monkeypatch.delenv("TEMPSTRONG_METRICS_PORT")
    assert healthcheck.main() == 0, "a worker without a metrics port serves nothing to ask"
