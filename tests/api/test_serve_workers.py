"""`botarmy serve --workers N` (one SO_REUSEPORT socket per process) and the app's store threads."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from api.main import create_app
from botarmy.cli.serve_workers import listening_socket, reuse_port_supported
from botarmy.settings import Settings
from tests.api.conftest import admin_headers
from tests.conftest import ROOT, free_port, subprocess_env

pytestmark = pytest.mark.skipif(not reuse_port_supported(), reason="no SO_REUSEPORT on this platform")


def test_two_sockets_share_a_port() -> None:
    port = free_port()
    first, second = listening_socket("127.0.0.1", port), listening_socket("127.0.0.1", port)
    try:
        first.listen()
        second.listen()
    finally:
        first.close()
        second.close()


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


async def test_serve_with_two_workers_answers_and_stops_on_sigterm(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = subprocess_env(DATABASE_URL=sqlite_url, TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
                         BOTARMY_LOG_LEVEL="WARNING")
    log = tmp_path / "serve.log"
    headers = admin_headers(Settings(database_url=sqlite_url))
    proc = subprocess.Popen(
        [sys.executable, "-m", "botarmy.cli", "serve", "--port", str(port), "--workers", "2", "--no-access-log"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                async with httpx.AsyncClient(base_url=base, headers=headers) as client:
                    if (await client.get("/runs?limit=1")).status_code == 200:
                        break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.2)
        workers = [p for p in _children(proc.pid) if "multiprocessing.resource_tracker" not in
                   Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")]
        assert len(workers) == 2
        clients = [httpx.AsyncClient(base_url=base, headers=headers) for _ in range(20)]  # one connection each
        try:
            answers = await asyncio.gather(*(c.get("/runs?limit=1") for c in clients))
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
        assert {a.status_code for a in answers} == {200}
    finally:
        proc.terminate()
        assert proc.wait(30) == 0, log.read_text()
    assert not any(Path(f"/proc/{p}").exists() for p in workers)


async def test_store_calls_run_on_the_apps_own_threads(settings: Settings, tmp_path: Path) -> None:
    from tests.conftest import OWN_BMAD

    app = create_app(settings, [OWN_BMAD], store_threads=1)

    @app.get("/thread-name")
    async def thread_name() -> dict[str, str]:
        return {"name": await asyncio.to_thread(lambda: threading.current_thread().name)}

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://botarmy.test",
                                     headers=admin_headers(settings)) as client:
            names = {(await client.get("/thread-name")).json()["name"] for _ in range(5)}
    assert len(names) == 1 and names.pop().startswith("api-store")


async def test_the_loop_gets_its_own_executor_back_when_the_app_stops(settings: Settings) -> None:
    from tests.conftest import OWN_BMAD

    loop = asyncio.get_running_loop()
    before = getattr(loop, "_default_executor", None)
    app = create_app(settings, [OWN_BMAD], store_threads=1)
    async with app.router.lifespan_context(app):
        assert getattr(loop, "_default_executor", None) is not before
    assert getattr(loop, "_default_executor", None) is before
    # and to_thread still works on the loop's own threads
    name = await asyncio.to_thread(lambda: threading.current_thread().name)
    assert not name.startswith("api-store")
