"""LLM-bound throughput: N concurrent 2-step runs on one worker against a fake OpenAI-compatible provider (its own
process) answering in `latency_s`, against bare Temporal activities making the same OpenAI SDK call on the same
server in the same run; steps/s, CPU-ms per step of this process (worker + driver) and its RSS.

`python -m bench.llm_load [--runs 200 --latency-s 2 --big-runs 1000]` runs it alone (merged into results.json).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.phases import rss_mb
from bench.providers_load import _plan
from botarmy.launch import launch
from botarmy.settings import Settings
from providers import health, limits
from store import Store
from worker import build_worker, freeze_startup_heap

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.8
PROMPT = "You are the pm.\n\nWrite the document prd.md.\n\n" + "Context line for the model.\n" * 20


@dataclass
class LLMLoadOptions:
    runs: int = 200  # 2-step runs at once; 0 skips the phase
    latencies_s: list[float] = field(default_factory=lambda: [2.0, 0.0])
    big_runs: int = 1000  # engine runs at once at the first latency: all must complete (0 skips)


@contextmanager
def fake_provider(delay_s: float) -> Iterator[str]:
    """The fake OpenAI server in its own process, so its CPU is not counted as the worker's."""
    proc = subprocess.Popen([sys.executable, "-m", "testkit.fakes.openai_server", "--delay-s", str(delay_s)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


# -- the baseline: bare Temporal activities making the same OpenAI SDK call --------------------------------------

_sdk_clients: dict[tuple[int, str], Any] = {}


@activity.defn(name="bench_bare_llm_step")
async def bare_llm_step(base_url: str) -> str:
    """One chat completion with the OpenAI SDK (one client per worker loop, as any careful activity would)."""
    from openai import AsyncOpenAI

    key = (id(asyncio.get_running_loop()), base_url)
    client = _sdk_clients.get(key)
    if client is None:
        client = _sdk_clients[key] = AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
    answer = await client.chat.completions.create(
        model="bench-bare", messages=[{"role": "system", "content": "You are the pm."},
                                      {"role": "user", "content": PROMPT}])
    return answer.choices[0].message.content or ""


@workflow.defn(name="BenchBareLLMRun")
class BareLLMRun:
    @workflow.run
    async def run(self, base_url: str, steps: int) -> int:
        for _ in range(steps):
            await workflow.execute_activity(bare_llm_step, base_url, start_to_close_timeout=timedelta(seconds=120))
        return steps


# -- phases ---------------------------------------------------------------------------------------------------------

@dataclass
class _Phase:
    runs: int
    steps: int
    wall_s: float
    cpu_s: float
    rss_mb: float
    failed: int
    errors: list[str]
    retried_steps: int | None = None  # engine: steps the store saw start more than once (a timeout, a retry)
    loop_lag_ms: dict[str, float] | None = None
    load: tuple[float, float] | None = None  # 1-min load average at the start and at the end

    def figures(self) -> dict[str, Any]:
        out = {"runs": self.runs, "steps": self.steps, "wall_s": round(self.wall_s, 2),
               "steps_per_s": round(self.steps / self.wall_s, 2), "cpu_ms_per_step": round(
                   1000 * self.cpu_s / max(self.steps, 1), 2), "rss_mb": round(self.rss_mb, 1),
               "failed_runs": self.failed, "errors": self.errors[:5]}
        if self.retried_steps is not None:
            out["retried_steps"] = self.retried_steps
        if self.loop_lag_ms is not None:
            out["loop_lag_ms"] = self.loop_lag_ms
        if self.load is not None:
            out["load_average_1m"] = {"start": round(self.load[0], 2), "end": round(self.load[1], 2)}
        return out


class LoopLag:
    """How late this event loop runs a callback: a task sleeping `interval_s` records each overshoot. A step's
    heartbeat is such a callback, so this is how late a heartbeat can be on the worker's side."""

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.lags.append(max(0.0, loop.time() - due))

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()

    def figures(self) -> dict[str, float]:
        lags = sorted(self.lags) or [0.0]
        return {"p50": round(1000 * lags[len(lags) // 2], 1), "p99": round(1000 * lags[int(len(lags) * 0.99)], 1),
                "max": round(1000 * lags[-1], 1)}


def _engine_settings(settings: Settings, tmp: Path, base_url: str, runs: int) -> Settings:
    path = tmp / f"providers-llm-{uuid.uuid4().hex[:6]}.yaml"
    config = {"default": {"model": "openai:bench-llm"},
              "providers": {"openai": {"api_key_env": "BOTARMY_BENCH_NO_KEY", "base_url": base_url,
                                       "timeout_s": 120}}}
    with path.open("w") as f:
        YAML(typ="safe").dump(config, f)
    return settings.model_copy(update={
        "task_queue": f"bench-llm-{uuid.uuid4().hex[:8]}", "providers_file": path, "model": "openai:bench-llm",
        "provider_health_file": tmp / "provider-health-llm.json",
    })


async def engine_phase(client: Client, settings: Settings, store: Store, base_url: str, tmp: Path,
                       runs: int) -> _Phase:
    phase = _engine_settings(settings, tmp, base_url, runs)
    plan = _plan("bench-llm", 2)
    limits.reset_shared()
    health.reset_shared()
    errors: list[str] = []

    run_ids: list[str] = []

    async def one() -> bool:
        launched = await launch(client, store, phase, plan, {}, auto_approve=True)
        run_ids.append(launched.run_id)
        try:
            result = await launched.handle.result()
        except WorkflowFailureError as exc:
            errors.append(str(exc.cause or exc))
            return False
        if result.status != "completed":
            errors.append(result.status)
        return result.status == "completed"

    async with build_worker(client, phase, store):
        load = os.getloadavg()[0]
        with LoopLag() as lag:
            cpu, started = time.process_time(), time.perf_counter()
            ok = await asyncio.gather(*(one() for _ in range(runs)))
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        rss = rss_mb()

    def retried() -> int:
        views = [store.get_run(r) for r in run_ids]
        return sum(1 for v in views if v is not None for s in v.steps if s.attempts > 1)

    return _Phase(runs, 2 * sum(ok), wall, cpu, rss, runs - sum(ok), errors, await asyncio.to_thread(retried),
                  lag.figures(), (load, os.getloadavg()[0]))


async def bare_phase(client: Client, settings: Settings, base_url: str, runs: int) -> _Phase:
    queue = f"bench-bare-llm-{uuid.uuid4().hex[:8]}"
    errors: list[str] = []

    async def one() -> bool:
        try:
            await client.execute_workflow(BareLLMRun.run, args=[base_url, 2], id=f"bench-bare-llm-{uuid.uuid4()}",
                                          task_queue=queue)
        except WorkflowFailureError as exc:
            errors.append(str(exc.cause or exc))
            return False
        return True

    async with Worker(client, task_queue=queue, workflows=[BareLLMRun], activities=[bare_llm_step],
                      max_concurrent_activities=settings.max_concurrent_activities,
                      max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
                      max_cached_workflows=settings.max_cached_workflows,
                      workflow_runner=UnsandboxedWorkflowRunner()):
        cpu, started = time.process_time(), time.perf_counter()
        ok = await asyncio.gather(*(one() for _ in range(runs)))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        rss = rss_mb()
    return _Phase(runs, 2 * sum(ok), wall, cpu, rss, runs - sum(ok), errors)


async def llm_load(client: Client, settings: Settings, store: Store, tmp: Path, opts: LLMLoadOptions) -> dict[str, Any]:
    """At each latency: the bare baseline, then the engine, on the same server and fake."""
    out: dict[str, Any] = {"runs": opts.runs, "steps_per_run": 2, "target_ratio": TARGET_RATIO,
                           "max_concurrent_activities": settings.max_concurrent_activities,
                           "max_cached_workflows": settings.max_cached_workflows, "by_latency": {}}
    for latency in opts.latencies_s if opts.runs else ():  # --runs 0: only the big run
        with fake_provider(latency) as base_url:
            await bare_phase(client, settings, base_url, min(opts.runs, 20))  # warm-up: connections, imports
            bare = await bare_phase(client, settings, base_url, opts.runs)
            await engine_phase(client, settings, store, base_url, tmp, min(opts.runs, 20))  # warm-up: imports
            freeze_startup_heap()  # what `python -m worker` does once started (this process hosts both workers)
            engine = await engine_phase(client, settings, store, base_url, tmp, opts.runs)
        out["by_latency"][f"{latency:g}"] = {
            "latency_s": latency, "ideal_steps_per_s": round(2 * opts.runs / (2 * latency), 1) if latency else None,
            "bare": bare.figures(), "engine": engine.figures(),
            "ratio": round((engine.steps / engine.wall_s) / (bare.steps / bare.wall_s), 3),
        }
    if opts.big_runs:
        with fake_provider(opts.latencies_s[0]) as base_url:
            big = await engine_phase(client, settings, store, base_url, tmp, opts.big_runs)
        out["big"] = {"latency_s": opts.latencies_s[0], **big.figures()}
    return out


def main(argv: list[str] | None = None) -> int:
    from bench.alone import on_fresh_store, publish
    from bench.server import dev_server
    from botarmy.logging import configure_logging

    p = argparse.ArgumentParser(prog="python -m bench.llm_load", description=__doc__)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--latency-s", default="2,0", help="provider latencies, comma-separated")
    p.add_argument("--big-runs", type=int, default=1000)
    a = p.parse_args(argv)
    opts = LLMLoadOptions(a.runs, [float(x) for x in a.latency_s.split(",")], a.big_runs)
    configure_logging("WARNING")
    with dev_server() as address:
        figures = asyncio.run(on_fresh_store(
            address, "llm", lambda client, settings, store, tmp: llm_load(client, settings, store, tmp, opts)))
    publish("llm", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
