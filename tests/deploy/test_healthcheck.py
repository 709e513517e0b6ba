"""deploy/healthcheck.py, the containers' HEALTHCHECK: against a real Temporal dev server and a real HTTP server."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

import pytest

from botarmy.settings import Settings
from botarmy.temporal import connect
from tests.conftest import ROOT, free_port, running_worker


def load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_healthcheck", ROOT / "deploy" / "healthcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = load_healthcheck()


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_api_check_passes_when_health_answers_200(health_server):
    assert healthcheck.main(["healthcheck.py", "api", f"{health_server}/health"]) == 0


def test_api_check_fails_when_health_errors_or_nothing_listens(health_server):
    assert healthcheck.main(["healthcheck.py", "api", f"{health_server}/broken"]) == 1
    assert healthcheck.main(["healthcheck.py", "api", f"http://127.0.0.1:{free_port()}/health"]) == 1


def test_unknown_check_is_a_usage_error():
    assert healthcheck.main(["healthcheck.py", "database"]) == 2


async def test_worker_check_sees_only_a_worker_polling_from_this_host(dev_server, store, sqlite_url):
    settings = Settings(database_url=sqlite_url, temporal_address=dev_server, task_queue=f"hc-{uuid.uuid4().hex[:8]}")
    idle = settings.model_copy(update={"task_queue": f"hc-idle-{uuid.uuid4().hex[:8]}"})
    client = await connect(dev_server)
    async with running_worker(client, settings, store):
        for _ in range(100):
            if await healthcheck.worker_is_polling(settings):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the worker never showed up as a poller of its task queue")
        assert not await healthcheck.worker_is_polling(idle)
