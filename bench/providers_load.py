"""Provider reliability: a burst of runs against a fake provider that enforces requests per minute (the limiter must
queue, not fail), then runs against one that fails a share of requests at random (retries must carry every run).

`python -m bench.providers_load` runs this phase alone and merges it into bench/out/results.json and RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from temporalio.client import Client, WorkflowFailureError

from bmad.plan import AgentSpec, Plan, PlanStep
from botarmy.launch import launch
from botarmy.settings import Settings
from providers import health, limits
from store import Store
from testkit.fakes.gemini_server import FakeOpenAICompatible
from testkit.fakes.scripted import Fault, RandomFaults
from worker import build_worker

WINDOW_S = 60.0  # requests_per_minute: the limiter's and the fake's window
DOC = "# Document\n\n## Section\n\nFake provider answer.\n"


@dataclass
class ProviderLoadOptions:
    runs: int = 50  # one-step runs started at once against the rate-limited fake; 0 skips the whole phase
    rpm: int | None = None  # the fake's and our limiter's requests per minute; None: half of `runs` (two windows)
    latency_s: float = 2.0  # every answer of the rate-limited fake
    fault_runs: int = 30  # two-step runs against the faulty fake
    fault_rate: float = 0.3
    fault_latency_s: float = 0.2
    timeout_s: float = 2.0  # the client's timeout in the fault phase; the "slow" fault answers after it
    seed: int = 7


@dataclass
class _Outcome:
    run_id: str
    status: str
    error: str | None = None


def _plan(workflow_id: str, steps: int) -> Plan:
    """A hand-built plan of `steps` pm steps, each reading the previous one's document (no compiler involved)."""
    names = ["prd.md", "epics.md", "stories.md"][:steps]
    return Plan(
        workflow_id=workflow_id,
        steps=[PlanStep(index=i, id=f"{i + 1:02d}-pm-{name.split('.')[0]}", agent="pm", agents=["pm"], creates=name,
                        requires=names[:i][-1:]) for i, name in enumerate(names)],
        agents={"pm": AgentSpec(id="pm", name="Pm", system_message="You are the pm.")},
    ).seal()


def _phase_settings(settings: Settings, tmp: Path, name: str, provider: dict[str, Any], model: str,
                    fallback: tuple[str, dict[str, Any]] | None = None) -> Settings:
    """Settings of a worker whose every step uses `model` on the fake (then `fallback`, a gemini model on a second
    fake, when given), with its own task queue and providers file."""
    path = tmp / f"providers-{name}.yaml"
    config: dict[str, Any] = {"default": {"model": model},
                              "providers": {"openai": {"api_key_env": "BOTARMY_BENCH_NO_KEY", **provider}}}
    if fallback is not None:
        config["default"]["fallbacks"] = [fallback[0]]
        config["providers"]["gemini"] = {"api_key_env": "BOTARMY_BENCH_NO_KEY", **fallback[1]}
    with path.open("w") as f:
        YAML(typ="safe").dump(config, f)
    return settings.model_copy(update={
        "task_queue": f"bench-{name}-{uuid.uuid4().hex[:8]}", "providers_file": path, "model": model,
        "provider_health_file": tmp / f"provider-health-{name}.json",
    })


@contextmanager
def _quiet_failed_attempts() -> Iterator[None]:
    """The fault phase fails attempts on purpose; Temporal would log a traceback for each on stderr."""
    logger = logging.getLogger("temporalio.activity")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def _fresh_provider_state() -> Iterator[None]:
    """Limits and health are per worker process: each sub-phase stands for a fresh worker and leaves nothing behind."""
    limits.reset_shared()
    health.reset_shared()
    try:
        yield
    finally:
        limits.reset_shared()
        health.reset_shared()


async def _run(client: Client, store: Store, plan: Plan, settings: Settings) -> _Outcome:
    launched = await launch(client, store, settings, plan, {}, auto_approve=True)
    run_id, handle = launched.run_id, launched.handle
    try:
        result = await handle.result()
    except WorkflowFailureError as exc:
        return _Outcome(run_id, "failed", str(exc.cause or exc))
    return _Outcome(run_id, result.status)


async def _runs(client: Client, store: Store, settings: Settings, plan: Plan, n: int) -> tuple[float, list[_Outcome]]:
    """`n` runs of `plan` started at once on a worker built from `settings`; the wall time until the last ends."""
    async with build_worker(client, settings, store):
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(_run(client, store, plan, settings) for _ in range(n)))
        return time.perf_counter() - started, list(outcomes)


def _steps(store: Store, outcomes: list[_Outcome]) -> dict[str, int]:
    """What the store recorded for the runs' steps: how many, failed, attempts in all."""
    runs = [store.get_run(o.run_id) for o in outcomes]
    steps = [s for run in runs if run is not None for s in run.steps]
    attempts = sum(s.attempts for s in steps)
    return {"steps": len(steps), "failed_steps": sum(s.status != "completed" for s in steps),
            "attempts": attempts, "retries": attempts - len(steps)}


def rate_figures(accepted: list[float], rpm: int, window_s: float = WINDOW_S) -> dict[str, Any]:
    """The rate the provider saw. *Used rate*: accepted requests over the time they held the provider's windows (first
    to last arrival, plus the last one's window); no client keeping the limit exceeds `rpm` by this measure, and one
    reaches it only by sending each queued request the moment the window lets it in. *Lag*: how late each queued
    request arrived after the window opened for it (the arrival `rpm` requests earlier, plus one window). *Burst
    spread*: from the first to the last arrival of the first `rpm` requests, which all left the limiter at once."""
    times = sorted(accepted)
    span = times[-1] - times[0] if times else 0.0
    used = len(times) * window_s / (span + window_s) if times else 0.0
    lags = [1000 * (t - (times[i - rpm] + window_s)) for i, t in enumerate(times) if i >= rpm]
    best = len(times) / math.ceil(len(times) / rpm) if times else 0.0  # the most any client gets for this many
    return {
        "accepted_requests": len(times),
        "first_to_last_arrival_s": round(span, 3),
        "used_rpm": round(used, 2),
        "used_share": round(used / rpm, 4),
        "best_possible_share": round(best / rpm, 4),
        "burst_spread_ms": round(1000 * (times[min(rpm, len(times)) - 1] - times[0]), 1) if times else None,
        "max_in_any_window": max((sum(1 for u in times if t <= u < t + window_s) for t in times), default=0),
        "queued_requests": len(lags),
        "release_lag_ms_median": round(statistics.median(lags), 1) if lags else None,
        "release_lag_ms_max": round(max(lags), 1) if lags else None,
    }


async def rate_limit_phase(client: Client, settings: Settings, store: Store, tmp: Path,
                           opts: ProviderLoadOptions) -> dict[str, Any]:
    """`runs` one-step runs at once; the fake refuses what exceeds `rpm` in a sliding minute, as our limiter does."""
    rpm = opts.rpm or max(1, opts.runs // 2)
    with _fresh_provider_state(), FakeOpenAICompatible(reply=DOC, delay_s=opts.latency_s,
                                                       requests_per_window=rpm, window_s=WINDOW_S) as fake:
        provider = {"base_url": fake.base_url, "requests_per_minute": rpm, "max_concurrent": opts.runs,
                    "timeout_s": opts.latency_s + 30}
        phase = _phase_settings(settings, tmp, "rpm", provider, "openai:bench-rpm")
        wall, outcomes = await _runs(client, store, phase, _plan("bench-provider-rpm", 1), opts.runs)
        steps = await asyncio.to_thread(_steps, store, outcomes)
        return {
            "runs": opts.runs,
            "rpm": rpm,
            "latency_s": opts.latency_s,
            "wall_s": round(wall, 2),
            "completed": sum(o.status == "completed" for o in outcomes),
            **steps,
            "fake_calls": len(fake.calls),
            "rate_limited_429": len(fake.rate_limited),
            **rate_figures(fake.accepted, rpm),
            "errors": sorted({o.error for o in outcomes if o.error})[:5],
        }


def fault_kinds(timeout_s: float) -> dict[str, Fault]:
    return {
        "http_500": Fault(500, "injected: internal error"),
        "http_503": Fault(503, "injected: overloaded"),
        "http_429_retry_after": Fault(429, "injected: rate limit", headers={"retry-after": "1"},
                                      code="rate_limit_exceeded"),
        "timeout": Fault.slow(timeout_s + 1.0),
        "truncated": Fault.cut_off(),
    }


async def fault_phase(client: Client, settings: Settings, store: Store, tmp: Path,
                      opts: ProviderLoadOptions) -> dict[str, Any]:
    """`fault_runs` two-step runs at once; `fault_rate` of all requests fail at random (seeded), in five ways, on
    the primary provider and on its fallback alike (a deployment that wants every run to finish lists one)."""
    faults = RandomFaults(rate=opts.fault_rate, kinds=fault_kinds(opts.timeout_s), seed=opts.seed)
    backup_faults = RandomFaults(rate=opts.fault_rate, kinds=fault_kinds(opts.timeout_s), seed=opts.seed + 1)
    with _fresh_provider_state(), _quiet_failed_attempts(), FakeOpenAICompatible(
        reply=DOC, delay_s=opts.fault_latency_s, random_faults=faults
    ) as fake, FakeOpenAICompatible(reply=DOC, delay_s=opts.fault_latency_s, random_faults=backup_faults) as backup:
        provider = {"base_url": fake.base_url, "timeout_s": opts.timeout_s}
        fallback = ("gemini:bench-faults-fallback", {"base_url": backup.base_url, "timeout_s": opts.timeout_s})
        phase = _phase_settings(settings, tmp, "faults", provider, "openai:bench-faults", fallback)
        wall, outcomes = await _runs(client, store, phase, _plan("bench-provider-faults", 2), opts.fault_runs)
        steps = await asyncio.to_thread(_steps, store, outcomes)
        injected = sum(faults.served.values()) + sum(backup_faults.served.values())
        return {
            "runs": opts.fault_runs,
            "fault_rate": opts.fault_rate,
            "seed": opts.seed,
            "retry_max_attempts": phase.retry_max_attempts,
            "client_timeout_s": opts.timeout_s,
            "wall_s": round(wall, 2),
            "completed": sum(o.status == "completed" for o in outcomes),
            **steps,
            "fake_calls": len(fake.calls) + len(backup.calls),
            "fallback_calls": len(backup.calls),
            "faults_injected": injected,
            "faults_injected_share": round(injected / (len(fake.calls) + len(backup.calls)), 4) if fake.calls else 0.0,
            "faults_by_kind": dict(sorted((faults.served + backup_faults.served).items())),
            "errors": sorted({o.error for o in outcomes if o.error})[:5],
        }


async def providers_load(client: Client, settings: Settings, store: Store, tmp: Path,
                         opts: ProviderLoadOptions) -> dict[str, Any]:
    result: dict[str, Any] = {"rate_limit": await rate_limit_phase(client, settings, store, tmp, opts)}
    if opts.fault_runs:
        result["faults"] = await fault_phase(client, settings, store, tmp, opts)
    return result


# -- alone: `python -m bench.providers_load` -------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    from bench.alone import on_fresh_store, publish
    from bench.server import dev_server
    from botarmy.logging import configure_logging

    p = argparse.ArgumentParser(prog="python -m bench.providers_load", description=__doc__)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--rpm", type=int, default=None, help="default: half of --runs, so the burst spans two windows")
    p.add_argument("--fault-runs", type=int, default=30)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args(argv)
    opts = ProviderLoadOptions(runs=a.runs, rpm=a.rpm, fault_runs=a.fault_runs, seed=a.seed)
    configure_logging("WARNING")
    with dev_server() as address:
        figures = asyncio.run(on_fresh_store(
            address, "providers",
            lambda client, settings, store, tmp: providers_load(client, settings, store, tmp, opts)))
    publish("providers", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
