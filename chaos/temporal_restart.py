"""Scenario `temporal`: stop the Temporal server (SIGTERM) mid-run and start it again on the same file and port."""

from __future__ import annotations

import asyncio
import random

from chaos.checks import Summary
from chaos.harness import GREENFIELD, Config, Harness, Reference


async def temporal_scenario(runs: int, cfg: Config) -> Summary:
    """The worker process is never restarted: it must ride out the outage and reconnect by itself."""
    summary = Summary("temporal")
    rng = random.Random(cfg.seed)
    async with Harness("temporal", cfg, persistent=True) as h:
        h.start_worker()
        reference = await h.reference(GREENFIELD)
        for i in range(runs):
            await _restarted_run(h, i, rng, reference, summary)
        try:  # the restarted server knows no pollers until the worker polls it again
            await h.wait_for_poller(timeout_s=30)
        except TimeoutError:
            summary.problems.append("the worker does not poll the restarted server")
    return summary


async def _restarted_run(h: Harness, i: int, rng: random.Random, reference: Reference, summary: Summary) -> None:
    started_run = await h.start_until_step_runs(f"run {i + 1}", rng, reference, summary)
    if started_run is None:
        return
    handle, step = started_run
    await asyncio.to_thread(h.server.stop)
    down = rng.uniform(0.5, 3.0)
    await asyncio.sleep(down)
    await asyncio.to_thread(h.server.start)
    summary.notes.append(f"run {i + 1}: server stopped (SIGTERM) while {step} ran, down {down:.1f} s")
    outcome = await h.check(handle, reference)
    worker = h.workers[0]
    if not worker.alive():
        outcome.lost.append(f"the worker process exited instead of reconnecting; see {worker.log}")
    elif len(h.workers) != 1:
        outcome.lost.append("another worker was started")  # never: the run must finish on the first one
    summary.add(outcome, "server restart")
