"""API latency under load: the real API server in its own process, N concurrent clients on GET endpoints."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from statistics import median, quantiles
from typing import Any

import httpx

from store import Store

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_api(database_url: str, address: str, task_queue: str, port: int, log: Path,
               workers: int = 1) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTARMY_")}
    env.update(DATABASE_URL=database_url, TEMPORAL_ADDRESS=address, BOTARMY_TASK_QUEUE=task_queue,
               BOTARMY_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "botarmy.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--no-access-log"],
        cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )


async def _wait_ready(base: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/runs?limit=1")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the API at {base} did not answer in {timeout_s:.0f} s")


def _paths(store: Store) -> list[str]:
    runs = store.list_runs(limit=5)
    if not runs:
        raise RuntimeError("the API phase needs runs in the database: run it after the engine phases")
    paths = ["/health", "/runs?limit=20", "/catalog/workflows"]
    for run in runs:
        paths += [f"/runs/{run.run_id}", f"/runs/{run.run_id}/artifacts"]
    return paths


async def _client(client: httpx.AsyncClient, paths: list[str], requests: int, offset: int,
                  latencies: dict[str, list[float]], errors: list[str]) -> None:
    for i in range(requests):
        path = paths[(offset + i) % len(paths)]
        started = time.perf_counter()
        response = await client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code >= 500:
            errors.append(f"{path}: {response.status_code}")
        latencies.setdefault(_route(path), []).append(elapsed)


async def _load(base: str, paths: list[str], clients: int, requests: int, latencies: dict[str, list[float]],
                errors: list[str]) -> float:
    """`clients` concurrent clients, each with its own connection, `requests` GETs each; returns the wall time.
    The clients are built before the clock starts: building one loads a TLS context (tens of ms of CPU, on the
    load generator's single thread), which counted as latency of the first requests of the others."""
    async with AsyncExitStack() as stack:
        pool = [await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30)) for _ in range(clients)]
        started = time.perf_counter()
        await asyncio.gather(*(_client(c, paths, requests, n, latencies, errors) for n, c in enumerate(pool)))
        return time.perf_counter() - started


def _route(path: str) -> str:
    """The route template of a request path: /runs/abc/artifacts -> /runs/{id}/artifacts."""
    parts = path.split("?")[0].split("/")
    if len(parts) > 2 and parts[1] == "runs":
        parts[2] = "{id}"
    return "/".join(parts)


def _pct(values: list[float]) -> dict[str, float]:
    cuts = quantiles(values, n=100, method="inclusive")
    return {"p50_ms": round(median(values), 2), "p99_ms": round(cuts[98], 2), "n": len(values)}


async def api_latency(database_url: str, address: str, task_queue: str, clients: int = 50,
                      requests_per_client: int = 40, log_dir: Path | None = None, workers: int = 1) -> dict[str, Any]:
    """p50/p99 of GET endpoints with `clients` concurrent clients on `workers` server processes; every request
    counted, warm-up excluded."""
    port = _free_port()
    log = (log_dir or Path("/tmp")) / "bench-api.log"
    proc = _start_api(database_url, address, task_queue, port, log, workers)
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(base)
        store = Store(database_url)
        paths = await asyncio.to_thread(_paths, store)
        store.close()
        await _load(base, paths, min(clients, 10), 5, {}, [])  # warm-up
        latencies: dict[str, list[float]] = {}
        errors: list[str] = []
        wall = await _load(base, paths, clients, requests_per_client, latencies, errors)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    everything = [v for vs in latencies.values() for v in vs]
    return {
        "clients": clients,
        "workers": workers,
        "requests": len(everything),
        "requests_per_s": round(len(everything) / wall, 1),
        "server_errors": len(errors),
        **_pct(everything),
        "by_endpoint": {name: _pct(vs) for name, vs in sorted(latencies.items())},
    }
