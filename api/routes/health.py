"""Health: database, Temporal, Redis (when configured), whether a worker polls the task queue, the model providers
(the worker's health snapshot) and recent anomalies; GET /health/providers gives the providers' stats."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import AppState, StateDep
from api.schemas import CheckResult, Health
from botarmy.temporal import has_pollers
from providers.health import HealthStats, read_snapshot

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_S = 3.0


async def _check(probe: Callable[[], Awaitable[str | None]]) -> CheckResult:
    try:
        detail = await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except TimeoutError:
        return CheckResult(status="down", detail=f"no answer within {CHECK_TIMEOUT_S} s")
    except Exception as err:  # noqa: BLE001 - a health check reports every failure instead of raising it
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


class ProviderStats(BaseModel):
    provider: str
    calls: int
    success_rate: float | None
    avg_latency_s: float | None
    max_latency_s: float | None
    healthy: bool = Field(description="false while the provider cools down after too many failures")
    cooldown_left_s: float


class ProvidersHealth(BaseModel):
    snapshot: str = Field(description="the file the worker writes (BOTARMY_PROVIDER_HEALTH_FILE)")
    written_at: str | None = Field(description="when the worker last wrote it; null if it never did")
    age_s: float | None
    providers: list[ProviderStats]


def _snapshot(path: Path) -> tuple[float | None, dict[str, HealthStats]]:
    """(written_at, stats) with each provider's cool-down counted down to now: an old snapshot cannot keep a
    provider unhealthy after its cool-down is over."""
    try:
        written_at = float(json.loads(path.read_text()).get("written_at"))
    except (OSError, ValueError, TypeError):
        return None, {}
    age = max(0.0, time.time() - written_at)
    stats = {}
    for name, st in read_snapshot(path).items():
        left = max(0.0, st.cooldown_left_s - age)
        stats[name] = HealthStats(**{**asdict(st), "cooldown_left_s": left, "healthy": st.healthy or left == 0})
    return written_at, stats


async def _provider_problems(state: AppState) -> CheckResult:
    _, stats = await asyncio.to_thread(_snapshot, state.settings.provider_health_file)
    down = [s for s in stats.values() if not s.healthy]
    if not down:
        return CheckResult(status="ok", detail=f"{len(stats)} provider(s) in the worker's snapshot")
    detail = "; ".join(f"{s.provider} unhealthy: {s.success_rate or 0:.0%} of its last {s.calls} calls succeeded, "
                       f"cooling down {s.cooldown_left_s:.0f}s" for s in down)
    return CheckResult(status="down", detail=detail)


async def _anomalies(state: AppState) -> CheckResult:
    window = timedelta(minutes=state.settings.anomaly_window_min)
    since = datetime.now(UTC) - window
    try:
        recent = await asyncio.to_thread(state.store.recent_events, "anomaly.detected", since, 5)
    except Exception as err:  # noqa: BLE001 - a health check reports every failure instead of raising it
        return CheckResult(status="down", detail=f"cannot read anomalies: {err}")
    if not recent:
        return CheckResult(status="ok", detail=f"none in the last {window.total_seconds() / 60:g} min")
    reasons = []
    for run_id, ev in recent:
        d = ev.data
        if d.get("kind") == "step_usage":
            reasons.append(f"run {run_id} step {d.get('step')}: {d.get('metric')} {d.get('value')} is "
                           f"{d.get('ratio')}x the median {d.get('median')} for {d.get('agent')} on "
                           f"{d.get('provider')}:{d.get('model')}")
        else:
            reasons.append(f"run {run_id} step {d.get('step')}: provider {d.get('provider')} unhealthy")
    return CheckResult(status="down", detail="; ".join(reasons))


@router.get("/health/providers", response_model=ProvidersHealth)
async def providers_health(state: StateDep) -> ProvidersHealth:
    """Each provider's recent success rate, latency and cool-down, from the worker's snapshot file."""
    path = state.settings.provider_health_file
    written_at, stats = await asyncio.to_thread(_snapshot, path)
    return ProvidersHealth(
        snapshot=str(path),
        written_at=datetime.fromtimestamp(written_at, UTC).isoformat() if written_at is not None else None,
        age_s=round(max(0.0, time.time() - written_at), 3) if written_at is not None else None,
        providers=[ProviderStats(**asdict(s)) for s in stats.values()],
    )


@router.get("/health", response_model=Health)
async def health(state: StateDep) -> Health:
    """Always 200: `ok` when every check passes, else `degraded` with what failed (an unhealthy provider, or an
    anomaly in the last `anomaly_window_min` minutes, included)."""
    probes = {"database": _database(state), "temporal": _temporal(state), "worker": _worker(state)}
    if state.settings.redis_url:
        probes["redis"] = _redis(state.settings.redis_url)
    results = await asyncio.gather(*(_check(p) for p in probes.values()))
    checks = dict(zip(probes, results, strict=True))
    if not state.settings.redis_url:
        checks["redis"] = CheckResult(status="not_configured")
    # listed only when they are a problem: the reason the status is degraded
    for name, check in (("providers", await _provider_problems(state)), ("anomalies", await _anomalies(state))):
        if check.status == "down":
            checks[name] = check
    degraded = any(c.status == "down" for c in checks.values())
    return Health(status="degraded" if degraded else "ok", checks=checks)


# Probes for a load balancer or an orchestrator: no sign-in needed (api/main.py includes `public` as public).
public = APIRouter(tags=["health"])


class Probe(BaseModel):
    status: str
    detail: str | None = None


@public.get("/health/live", response_model=Probe)
async def live() -> Probe:
    """The process answers."""
    return Probe(status="ok")


@public.get("/health/ready", response_model=Probe, responses={503: {"model": Probe}})
async def ready(state: StateDep) -> JSONResponse:
    """Ready to serve: the database answers (Temporal is connected on first need). 503 when it does not."""
    check = await _check(_database(state))
    body = Probe(status="ok" if check.status == "ok" else "unavailable", detail=check.detail)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if check.status == "ok" else 503)
