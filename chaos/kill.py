"""Scenario `kill`: SIGKILL the worker process mid-activity, between steps, or while a run waits for approval."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from chaos.checks import Summary
from chaos.harness import GREENFIELD, QUICK_FIX, Config, Harness, Reference, run_id_of
from workflows.contracts import ApprovalDecision
from workflows.run import BmadRunWorkflow

MODES = ("mid-activity", "between-steps", "approval")
APPROVAL_STEP = "02-dev-implementation-notes"
FAST_POLL_S = 0.005  # the gap between one step's commit and the next step's start is tens of milliseconds


async def kill_scenario(runs: int, cfg: Config, modes: tuple[str, ...] = MODES) -> Summary:
    """`runs` runs, run i disturbed in mode i mod len(modes). The worker that replaces a killed one serves the next
    run, so every run but the first starts on a worker that came up after a crash."""
    summary = Summary("kill")
    rng = random.Random(cfg.seed)
    async with Harness("kill", cfg) as h:
        h.start_worker()
        greenfield, quick_fix = await asyncio.gather(h.reference(GREENFIELD), h.reference(QUICK_FIX))
        for i in range(runs):
            mode = modes[i % len(modes)]
            try:
                where = await _disturbed_run(h, mode, rng, greenfield, quick_fix, summary)
                summary.notes.append(f"run {i + 1}: {where}")
            except TimeoutError as exc:
                summary.stuck(f"run {i + 1} ({mode})", exc)
            if not h.workers[-1].alive():
                h.start_worker()
    return summary


async def _disturbed_run(h: Harness, mode: str, rng: random.Random, greenfield: Reference, quick_fix: Reference,
                         summary: Summary) -> str:
    """Strike, start a new worker, check the run; returns where the kill landed, as seen in the store after it."""
    victim = h.workers[-1]
    if mode == "approval":
        handle = await h.start(QUICK_FIX, approve=["dev"])
        await h.until(f"approval of {APPROVAL_STEP}", lambda: _is_pending(h, handle))
        pause = rng.uniform(0, 1.0)
        await asyncio.sleep(pause)
        victim.kill()
        where = f"approval: killed {pause:.2f} s into the wait for approval of {APPROVAL_STEP}"
        h.start_worker()
        await handle.execute_update(BmadRunWorkflow.decide,
                                    ApprovalDecision(step=APPROVAL_STEP, decision="approve", by="chaos"))
        summary.add(await h.check(handle, quick_fix), mode)
        return where
    handle = await h.start(GREENFIELD)
    run_id = run_id_of(handle)
    steps = greenfield.steps
    if mode == "mid-activity":
        step = rng.choice(steps)
        await h.until_running(run_id, step)
        pause = rng.uniform(0, h.latency_ms / 1000 * 0.6)
        await asyncio.sleep(pause)
        victim.kill()
        run = await asyncio.to_thread(h.store.get_run, run_id)
        landed = _status(run, step) == "running"
        where = f"mid-activity: killed {pause * 1000:.0f} ms into {step}" + ("" if landed else " (it had finished)")
    else:
        i = rng.randrange(len(steps))
        step, after = steps[i], steps[i + 1] if i + 1 < len(steps) else None
        await h.until(f"{step} stored", lambda: h.artifact_stored(run_id, step), poll_s=FAST_POLL_S)
        victim.kill()
        run = await asyncio.to_thread(h.store.get_run, run_id)
        landed = _attempts(run, after) == 0 if after else run.status == "running"
        where = f"between-steps: killed after {step} stored its output, before {after or 'finish_run'}" + (
            "" if landed else f" ({after or 'finish_run'} had started)")
    h.start_worker()
    summary.add(await h.check(handle, greenfield), mode)
    return where


def _status(run: Any, key: str) -> str | None:
    return next((s.status for s in run.steps if s.key == key), None)


def _attempts(run: Any, key: str) -> int:
    return next((s.attempts for s in run.steps if s.key == key), 0)


async def _is_pending(h: Harness, handle: Any) -> bool:
    return await h.pending(handle, APPROVAL_STEP) is not None
