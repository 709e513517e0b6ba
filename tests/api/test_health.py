"""GET /health reports each dependency."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from botarmy.settings import Settings
from botarmy.temporal import connect
from store import Store
from tests.api.conftest import api_client
from tests.conftest import running_worker


async def test_health_is_degraded_but_200_when_temporal_is_down(down_settings: Settings, bmad_dir: Path):
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["temporal"]["status"] == "down"
    assert body["checks"]["redis"]["status"] == "not_configured"


async def test_health_is_ok_with_database_temporal_redis_and_a_polling_worker(
    live_settings: Settings, bmad_dir: Path, sqlite_url: str, redis_url: str
):
    settings = live_settings.model_copy(update={"redis_url": redis_url})
    async with api_client(settings, [bmad_dir]) as (_, client):
        without_worker = (await client.get("/health")).json()
        assert without_worker["status"] == "degraded"
        assert without_worker["checks"]["worker"]["status"] == "down"
        assert settings.task_queue in without_worker["checks"]["worker"]["detail"]
        temporal = await connect(settings.temporal_address)
        async with running_worker(temporal, settings, Store(sqlite_url)):
            deadline = time.monotonic() + 20
            while (body := (await client.get("/health")).json())["status"] != "ok" and time.monotonic() < deadline:
                await asyncio.sleep(0.2)  # the worker's first poll reaches the server a moment after it starts
    assert body["status"] == "ok", body
    assert {name: c["status"] for name, c in body["checks"].items()} == {
        "database": "ok", "temporal": "ok", "worker": "ok", "redis": "ok"}
