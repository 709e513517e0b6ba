"""Waiting at scale: N runs waiting for an approval at once on one worker (offline model, SQLite). Reports the
worker's RSS before and while they wait (bounded by the sticky cache, `max_cached_workflows`: past it a run is
evicted and rebuilt by replay when its decision arrives), then sends a decision, paced, to `decisions` runs taken
evenly across all (so evicted and cached ones alike) and measures decision sent -> the run's next step started (its
`step.started` event), p50/p99.

`python -m bench.waiting [--runs 2000 --rate 50]` runs it alone (merged into results.json).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import median, quantiles
from typing import Any

from temporalio.client import Client

from bench.phases import rss_mb
from bench.providers_load import _plan
from botarmy.launch import launch
from botarmy.settings import Settings
from store import Store
from worker import build_worker
from workflows.contracts import ApprovalDecision
from workflows.run import BmadRunWorkflow

TARGET_P99_MS = 2000.0


@dataclass
class WaitingOptions:
    runs: int = 2000
    decisions: int = 200  # decided runs, taken evenly across all (the oldest are the ones evicted from the cache)
    rate: float = 5.0  # decisions per second, sent paced (people decide one by one, not in one burst)
    start_concurrency: int = 50
    cache: int | None = None  # max_cached_workflows; None: the settings' default


async def _until(what: str, check: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"waiting bench: {what} did not happen in {timeout_s:.0f} s")
        await asyncio.sleep(1.0)


def _count(store: Store, type_: str, since: datetime, limit: int) -> int:
    return len(store.recent_events(type_, since, limit=limit))


async def waiting_bench(client: Client, settings: Settings, store: Store, opts: WaitingOptions) -> dict[str, Any]:
    phase = settings.model_copy(update={
        "task_queue": f"bench-wait-{uuid.uuid4().hex[:8]}", "model": "offline", "providers_file": None,
        **({"max_cached_workflows": opts.cache} if opts.cache is not None else {}),
    })
    plan = _plan("bench-wait", 2)
    since = datetime.now(UTC)
    gate = asyncio.Semaphore(opts.start_concurrency)
    async with build_worker(client, phase, store):
        rss_before = rss_mb()

        async def start() -> tuple[str, str]:
            async with gate:
                launched = await launch(client, store, phase, plan, {}, approve="all")
                return launched.run_id, launched.handle.id

        started = time.perf_counter()
        runs = await asyncio.gather(*(start() for _ in range(opts.runs)))
        n = opts.runs

        async def all_waiting() -> bool:
            return await asyncio.to_thread(_count, store, "approval.requested", since, n + 10) >= n

        await _until(f"{n} runs waiting for approval", all_waiting, 60 + n * 0.2)
        to_waiting_s = time.perf_counter() - started
        await asyncio.sleep(2.0)
        rss_waiting = rss_mb()

        sent: dict[str, datetime] = {}
        failures: list[str] = []

        async def decide(run_id: str, workflow_id: str) -> None:
            sent[run_id] = datetime.now(UTC)
            try:
                await client.get_workflow_handle(workflow_id).execute_update(
                    BmadRunWorkflow.decide, ApprovalDecision(step="01-pm-prd", decision="approve", by="bench"))
            except Exception as exc:  # noqa: BLE001 - counted and reported
                failures.append(f"{run_id}: {exc}")

        picked = runs[::max(1, n // max(1, min(opts.decisions, n)))][:opts.decisions]
        tasks = []
        for run_id, workflow_id in picked:
            tasks.append(asyncio.create_task(decide(run_id, workflow_id)))
            await asyncio.sleep(1.0 / opts.rate)
        await asyncio.gather(*tasks)

        async def all_next_started() -> bool:
            started_steps = await asyncio.to_thread(_count, store, "step.started", since, n + len(picked) + 10)
            return started_steps >= n + len(picked) - len(failures)

        await _until("every next step starting", all_next_started, 120)
        rss_after = rss_mb()

        oldest = {run_id for run_id, _ in runs[:max(0, n - phase.max_cached_workflows)]}  # evicted (LRU)

        def delays() -> tuple[list[float], list[float]]:
            out: list[float] = []
            replayed: list[float] = []
            for run_id, at in sent.items():
                second = [e for e in store.list_events(run_id) if e.type == "step.started"
                          and e.data.get("step") != "01-pm-prd"]
                if second:
                    delay = 1000 * (second[0].created_at - at).total_seconds()
                    out.append(delay)
                    if run_id in oldest:
                        replayed.append(delay)
            return out, replayed

        measured, replayed = await asyncio.to_thread(delays)
        for _, workflow_id in runs:  # leave nothing waiting on the server
            await client.get_workflow_handle(workflow_id).terminate("bench done")
    cuts = quantiles(measured, n=100, method="inclusive") if len(measured) > 1 else measured * 99
    return {
        "runs": n,
        "max_cached_workflows": phase.max_cached_workflows,
        "decision_rate_per_s": opts.rate,
        "decisions": len(picked),
        "decided_evicted_runs": len(replayed),
        "evicted_decision_to_next_step_ms_p50": round(median(replayed), 1) if replayed else None,
        "start_to_all_waiting_s": round(to_waiting_s, 1),
        "rss_mb_before": round(rss_before, 1),
        "rss_mb_waiting": round(rss_waiting, 1),
        "rss_mb_after_decisions": round(rss_after, 1),
        "rss_kb_per_waiting_run": round(1024 * (rss_waiting - rss_before) / n, 1),
        "decision_to_next_step_ms_p50": round(median(measured), 1) if measured else None,
        "decision_to_next_step_ms_p99": round(cuts[98], 1) if measured else None,
        "decision_to_next_step_ms_max": round(max(measured), 1) if measured else None,
        "measured_runs": len(measured),
        "failed_decisions": len(failures),
        "errors": failures[:5],
        "target_p99_ms": TARGET_P99_MS,
    }


def main(argv: list[str] | None = None) -> int:
    from bench.alone import on_fresh_store, publish
    from bench.server import dev_server
    from botarmy.logging import configure_logging

    p = argparse.ArgumentParser(prog="python -m bench.waiting", description=__doc__)
    p.add_argument("--runs", type=int, default=2000)
    p.add_argument("--decisions", type=int, default=200, help="runs decided, taken evenly across all")
    p.add_argument("--rate", type=float, default=5.0, help="decisions per second")
    p.add_argument("--cache", type=int, help="max_cached_workflows (default: the setting's default)")
    a = p.parse_args(argv)
    opts = WaitingOptions(runs=a.runs, decisions=a.decisions, rate=a.rate, cache=a.cache)
    configure_logging("WARNING")
    with dev_server() as address:
        figures = asyncio.run(on_fresh_store(
            address, "wait", lambda client, settings, store, tmp: waiting_bench(client, settings, store, opts),
            lambda tmp: {"provider_health_file": tmp / "health.json"}))
    publish("waiting", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
