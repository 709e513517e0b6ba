"""The measurements: step latency and concurrent throughput (engine vs bare), memory, validation time."""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from pathlib import Path
from typing import Any

from bench.engine import Bench, Timed, shape_plan
from bmad import load_bmad
from bmad.plan import Plan
from testkit.corpus import bmad_v4


def rss_mb() -> float:
    """This process's resident set (worker and driver share it), from /proc: no psutil needed."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


async def step_latency(bench: Bench, plan: Plan, inputs: dict[str, Any], rounds: int) -> dict[str, Any]:
    """Sequential runs, engine and bare interleaved per round so drift hits both; round 0 is a warm-up.

    Two baselines: a plain chain of as many no-op activities as the run executed agent steps, and the same
    activities in the run's own shape (its repeat iterations as child workflows). The engine's own price is the
    ratio to the second; the first shows what the child workflows cost in Temporal itself."""
    engine_ms: list[float] = []
    bare_ms: list[float] = []
    shaped_ms: list[float] = []
    steps, children = 0, []
    for n in range(rounds + 1):
        run = await bench.engine_run(plan, inputs)
        steps = run.steps
        top, children = await asyncio.to_thread(bench.shape, run.run_id)
        bare = await bench.bare_run(steps)
        shaped = await bench.bare_run(top, children)
        if n == 0:
            continue
        engine_ms.append(1000 * run.wall_s / run.steps)
        bare_ms.append(1000 * bare.wall_s / bare.steps)
        shaped_ms.append(1000 * shaped.wall_s / shaped.steps)
    engine, base, shape = statistics.median(engine_ms), statistics.median(bare_ms), statistics.median(shaped_ms)
    return {
        "engine_steps_per_run": steps,
        "engine_children": children,
        "engine_step_ms": engine,
        "bare_step_ms": base,
        "bare_shaped_step_ms": shape,
        "step_time_ratio": engine / shape,
        "step_time_ratio_plain_chain": engine / base,
        "engine_step_ms_rounds": engine_ms,
        "bare_step_ms_rounds": bare_ms,
        "bare_shaped_step_ms_rounds": shaped_ms,
    }


async def linear_latency(bench: Bench, plan: Plan, rounds: int) -> dict[str, Any]:
    """The same comparison for a workflow without repeats (every step in the run workflow itself)."""
    engine_ms: list[float] = []
    bare_ms: list[float] = []
    steps = 0
    for n in range(rounds + 1):
        run = await bench.engine_run(plan, {})
        steps = run.steps
        bare = await bench.bare_run(steps)
        if n == 0:
            continue
        engine_ms.append(1000 * run.wall_s / run.steps)
        bare_ms.append(1000 * bare.wall_s / bare.steps)
    engine, base = statistics.median(engine_ms), statistics.median(bare_ms)
    return {"workflow": plan.workflow_id, "steps": steps, "engine_step_ms": engine, "bare_step_ms": base,
            "step_time_ratio": engine / base}


# (name, plain steps, loop iterations, steps per iteration): the shapes of issue 16's target
SHAPES = [("no-loop", 3, 0, 0), ("loop-2x3", 0, 2, 3), ("loop-8x1", 0, 8, 1)]
SHAPE_ROUNDS = 15  # measured rounds per shape: on a shared 2-core machine 3 rounds moved the ratio by ×2


def _spread(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return {"min": min(values), "p25": q[0], "median": statistics.median(values), "p75": q[2], "max": max(values)}


async def timeline(client: Any, workflow_id: str) -> dict[str, float]:
    """Where a run's wall time went, from its history: start → first activity scheduled (`head_ms`), each
    activity's scheduled → completed (`in_activities_ms`), between one activity's completion and the next one's
    scheduling (`between_ms`), last activity completed → run completed (`tail_ms`). Local activities are
    markers inside workflow tasks, so the engine's bookkeeping shows in the head and the tail."""
    from temporalio.api.enums.v1 import EventType

    events = [e async for e in client.get_workflow_handle(workflow_id).fetch_history_events()]
    at = [(e.event_type, e.event_time.ToDatetime().timestamp()) for e in events]
    scheduled = [t for k, t in at if k == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    completed = [t for k, t in at if k == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]
    first, last = at[0][1], at[-1][1]
    if not scheduled or len(scheduled) != len(completed):
        return {}
    return {"head_ms": 1000 * (scheduled[0] - first), "tail_ms": 1000 * (last - completed[-1]),
            "in_activities_ms": 1000 * sum(c - s for s, c in zip(scheduled, completed, strict=True)),
            "between_ms": 1000 * sum(s - c for c, s in zip(completed, scheduled[1:], strict=False)),
            "total_ms": 1000 * (last - first)}


async def shape_latency(bench: Bench, rounds: int = SHAPE_ROUNDS) -> dict[str, Any]:
    """Per shape: sequential engine runs against a plain chain of as many bare activities. Every round runs each
    shape once, engine and baseline back to back in an order that alternates per round, so drift and the order
    hit both sides alike; round 0 is a warm-up. The figure is the median of the per-round ratios, with their
    spread; the no-loop shape's histories also say where the engine's extra time per run goes."""
    plans = {name: (bench.save(shape_plan(before, per_iteration, name)),
                    {"for_each_part": iterations} if per_iteration else {})
             for name, before, iterations, per_iteration in SHAPES}
    engine_ms: dict[str, list[float]] = {name: [] for name in plans}
    bare_ms: dict[str, list[float]] = {name: [] for name in plans}
    steps: dict[str, int] = {}
    no_loop: list[tuple[Timed, Timed]] = []
    for n in range(rounds + 1):
        for name, (plan, inputs) in plans.items():
            if n % 2:
                bare = await bench.bare_run(steps.get(name) or _shape_steps(name))
                run = await bench.engine_run(plan, inputs)
            else:
                run = await bench.engine_run(plan, inputs)
                bare = await bench.bare_run(run.steps)
            steps[name] = run.steps
            if bare.steps != run.steps:  # the bare chain ran before the engine said how many steps it executes
                bare = await bench.bare_run(run.steps)
            if n:
                if name == "no-loop":
                    no_loop.append((run, bare))
                engine_ms[name].append(1000 * run.wall_s / run.steps)
                bare_ms[name].append(1000 * bare.wall_s / bare.steps)
    out: dict[str, Any] = {}
    for name in plans:
        ratios = [e / b for e, b in zip(engine_ms[name], bare_ms[name], strict=True)]
        engine, base = statistics.median(engine_ms[name]), statistics.median(bare_ms[name])
        out[name] = {"steps": steps[name], "rounds": rounds, "engine_step_ms": engine, "bare_step_ms": base,
                     "ratio": statistics.median(ratios), "ratio_of_medians": engine / base,
                     "ratio_spread": _spread(ratios), "ratio_rounds": ratios}
    if no_loop:
        out["no-loop"]["timeline"] = await _timelines(bench, no_loop)
    return out


async def _timelines(bench: Bench, pairs: list[tuple[Timed, Timed]]) -> dict[str, dict[str, float]]:
    """Medians over the rounds of each part of `timeline`, engine and bare; `outside_ms` is the wall time the
    driver saw beyond the history (the engine's launch writes the run's row before starting the workflow)."""
    sides: dict[str, list[dict[str, float]]] = {"engine": [], "bare": []}
    for run, bare in pairs:
        for side, timed in (("engine", run), ("bare", bare)):
            parts = await timeline(bench.client, timed.workflow_id)
            if parts:
                sides[side].append({**parts, "outside_ms": 1000 * timed.wall_s - parts["total_ms"]})
    return {side: {k: statistics.median(p[k] for p in parts) for k in parts[0]}
            for side, parts in sides.items() if parts}


def _shape_steps(name: str) -> int:
    _, before, iterations, per_iteration = next(s for s in SHAPES if s[0] == name)
    return before + iterations * per_iteration


async def _gather_timed(runs: list[Any]) -> tuple[float, list[Timed]]:
    t0 = time.perf_counter()
    done = await asyncio.gather(*runs)
    return time.perf_counter() - t0, list(done)


async def throughput(bench: Bench, plan: Plan, concurrency: int, rounds: int = 3) -> dict[str, Any]:
    """`concurrency` engine runs at once, then as many bare chains of the same length, then as many runs of the
    engine shell (the agent step a no-op); `rounds` times, interleaved so drift hits all three, medians reported.
    RSS is read around the first round's engine runs."""
    per_round: list[dict[str, float]] = []
    before = after = 0.0
    per_run = 0
    for n in range(rounds):
        if n == 0:
            gc.collect()
            before = rss_mb()
        wall, runs = await _gather_timed([bench.engine_run(plan, {}, count_steps=False) for _ in range(concurrency)])
        if n == 0:
            gc.collect()
            after = rss_mb()
        for r in runs:  # counted after the clock stopped
            r.steps = await asyncio.to_thread(bench.executed_steps, r.run_id)
        steps = sum(r.steps for r in runs)
        per_run = steps // concurrency
        bare_wall, bare = await _gather_timed([bench.bare_run(per_run) for _ in range(concurrency)])
        # the same runs on a worker whose agent step is a no-op: what the engine costs around its steps
        shell_wall, _ = await _gather_timed([bench.engine_run(plan, {}, count_steps=False, shell=True)
                                             for _ in range(concurrency)])
        per_round.append({"engine": steps / wall, "bare": sum(r.steps for r in bare) / bare_wall,
                          "shell": steps / shell_wall, "engine_wall_s": wall, "bare_wall_s": bare_wall,
                          "shell_wall_s": shell_wall})

    def median(key: str) -> float:
        return statistics.median(r[key] for r in per_round)

    return {
        "concurrency": concurrency,
        "rounds": rounds,
        "concurrent_steps_per_run": per_run,
        "engine_concurrent_steps_per_s": median("engine"),
        "bare_concurrent_steps_per_s": median("bare"),
        "throughput_ratio": statistics.median(r["engine"] / r["bare"] for r in per_round),
        "shell_concurrent_steps_per_s": median("shell"),
        "shell_throughput_ratio": statistics.median(r["shell"] / r["bare"] for r in per_round),
        "throughput_ratio_per_round": [r["engine"] / r["bare"] for r in per_round],
        "shell_throughput_ratio_per_round": [r["shell"] / r["bare"] for r in per_round],
        "engine_concurrent_wall_s": median("engine_wall_s"),
        "bare_concurrent_wall_s": median("bare_wall_s"),
        "shell_concurrent_wall_s": median("shell_wall_s"),
        "rss_mb_before": before,
        "rss_mb_after": after,
        "rss_mb_per_100_runs": (after - before) * 100 / concurrency,
    }


def validate_time(repeats: int, folder: Path | None = None) -> dict[str, Any]:
    """Load and validate the upstream BMAD v4 core (what `botarmy validate` does), median of `repeats`: by default
    the published bmad-method package pinned in testkit/corpora.toml, fetched into the cache if need be."""
    folder = folder or bmad_v4() / "bmad-core"
    times: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        catalog = load_bmad([folder])
        times.append(1000 * (time.perf_counter() - t0))
    return {
        "validate_bmad_v4_ms": statistics.median(times),
        "validate_bmad_v4_ms_runs": times,
        "bmad_v4_workflows": len(catalog.workflows),
    }
