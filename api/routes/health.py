"""Health: database, Temporal, Redis (when configured) and whether a worker polls the task queue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from fastapi import APIRouter

from api.deps import AppState, StateDep
from api.schemas import CheckResult, Health
from botarmy.temporal import has_pollers

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_S = 3.0


async def _check(probe: Callable[[], Awaitable[str | None]]) -> CheckResult:
    try:
        detail = await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except TimeoutError:
        return CheckResult(status="down", detail=f"no answer within {CHECK_TIMEOUT_S} s")
    except Exception as err:  # a health check reports every failure instead of raising it
        return CheckResult(status="down", detail=str(err) or type(err).__name__)
    return CheckResult(status="ok", detail=detail)


def _database(state: AppState) -> Callable[[], Awaitable[str | None]]:
    def ping() -> None:
        store = state.store
        if hasattr(store, "ping"):
            store.ping()
        else:
            store.list_runs(limit=1)

    async def probe() -> str | None:
        await asyncio.to_thread(ping)
        return None

    return probe


def _temporal(state: AppState) -> Callable[[], Awaitable[str | None]]:
    async def probe() -> str | None:
        client = await state.temporal()
        await client.service_client.check_health()
        return state.settings.temporal_address

    return probe


def _worker(state: AppState) -> Callable[[], Awaitable[str | None]]:
    async def probe() -> str | None:
        queue = state.settings.task_queue
        if not await has_pollers(await state.temporal(), queue):
            raise RuntimeError(f"no worker polls task queue {queue!r}")
        return f"task queue {queue!r}"

    return probe


def _redis(url: str) -> Callable[[], Awaitable[str | None]]:
    async def probe() -> str | None:
        client = aioredis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT_S)
        try:
            await client.ping()
        finally:
            await client.aclose()
        return None

    return probe


@router.get("/health", response_model=Health)
async def health(state: StateDep) -> Health:
    """Always 200: `ok` when every check passes, else `degraded` with what failed."""
    probes = {"database": _database(state), "temporal": _temporal(state), "worker": _worker(state)}
    if state.settings.redis_url:
        probes["redis"] = _redis(state.settings.redis_url)
    results = await asyncio.gather(*(_check(p) for p in probes.values()))
    checks = dict(zip(probes, results, strict=True))
    if not state.settings.redis_url:
        checks["redis"] = CheckResult(status="not_configured")
    degraded = any(c.status == "down" for c in checks.values())
    return Health(status="degraded" if degraded else "ok", checks=checks)
