"""Scenario `postgres`: restart the PostgreSQL server mid-run; activities retry and nothing is lost.

This restarts the shared local cluster other tests use: only `chaos.run` and tests/chaos run it, the outage is
a few seconds, and the cluster is always started again before the scenario returns."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import replace

from chaos.checks import Summary
from chaos.harness import GREENFIELD, Config, Harness, Reference
from testkit.pg import can_connect, pg_ctlcluster, temporary_schema


def ensure_pg_up(timeout_s: float = 60) -> None:
    """Start the cluster if it is down and wait until it answers."""
    deadline = time.monotonic() + timeout_s
    while not can_connect(timeout_s=2):
        if time.monotonic() > deadline:
            raise RuntimeError(f"PostgreSQL did not come back within {timeout_s:.0f} s")
        pg_ctlcluster("start")
        time.sleep(0.5)


async def postgres_scenario(runs: int, cfg: Config) -> Summary:
    """`cfg.database_url` is not used: the scenario needs a PostgreSQL store to restart (a temporary schema)."""
    summary = Summary("postgres")
    rng = random.Random(cfg.seed)
    try:
        with temporary_schema("botarmy_chaos_") as (_, url):
            try:
                async with Harness("postgres", replace(cfg, database_url=url)) as h:
                    h.start_worker()
                    reference = await h.reference(GREENFIELD)
                    for i in range(runs):
                        await _restarted_run(h, i, rng, reference, summary)
            finally:
                await asyncio.to_thread(ensure_pg_up)  # the schema is dropped next
    finally:
        await asyncio.to_thread(ensure_pg_up)  # other tests need it, whatever happened here
    return summary


async def _restarted_run(h: Harness, i: int, rng: random.Random, reference: Reference, summary: Summary) -> None:
    started_run = await h.start_until_step_runs(f"run {i + 1}", rng, reference, summary)
    if started_run is None:
        return
    handle, step = started_run
    started = time.monotonic()
    await asyncio.to_thread(pg_ctlcluster, "restart")
    summary.notes.append(f"run {i + 1}: PostgreSQL restarted while {step} ran ({time.monotonic() - started:.1f} s)")
    await asyncio.to_thread(ensure_pg_up)
    summary.add(await h.check(handle, reference), "postgres restart")
