"""The API against real components: a SQLite (or PostgreSQL) store, the Temporal dev server, Redis, uvicorn."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from api.main import create_app
from botarmy.settings import Settings
from store import Store
from testkit.pg import temporary_schema
from tests.conftest import free_port

PROBLEM_JSON = "application/problem+json"



@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[str]:
    """A database URL for each backend: a SQLite file, and a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield sqlite_url
        return
    with temporary_schema("botarmy_api_") as (_, url):
        yield url


@pytest.fixture
def down_settings(settings: Settings) -> Settings:
    """Temporal at an address where nothing listens."""
    return settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})


def make_token(settings: Settings, *roles: str, user: str = "test-admin", expires_at: datetime | None = None) -> str:
    """A bearer token with `roles` (default admin) in the settings' database."""
    store = Store(settings.database_url)
    try:
        return store.identity.create_token(user, list(roles or ("admin",)), expires_at)[0]
    finally:
        store.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_headers(settings: Settings) -> dict[str, str]:
    return bearer(make_token(settings, "admin"))


@asynccontextmanager
async def api_client(
    settings: Settings, bmad_dirs: list[Path], *roles: str, user: str = "test-admin"
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan run, and an httpx client talking to it in-process, signed in with a token of
    `roles` (default admin; a single "" for no token)."""
    app = create_app(settings, bmad_dirs)
    async with app.router.lifespan_context(app):
        headers = {} if roles == ("",) else bearer(make_token(settings, *roles, user=user))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://botarmy.test", headers=headers) as client:
            yield app, client


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app behind a real uvicorn on a free port (streams need a real connection); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == status and body["title"] and "type" in body
    assert "Traceback" not in response.text
    return body


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free port, without persistence."""
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
