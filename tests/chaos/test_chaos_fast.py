"""The chaos suite, reduced for `make test`: every scenario once against real processes, all at the same time.

`make chaos` runs the full version (20 worker kills); this proves each kind of outage is survived."""

from __future__ import annotations

import pytest_asyncio

from chaos.checks import Summary
from chaos.run import Options, run_scenarios

# all four at once, each with its own dev server and queue; short waits, so a stuck run fails the test in time
FAST = Options(runs=3, restart_runs=1, latency_ms=300, seed=11, parallel=True, run_timeout_s=90, strike_timeout_s=30)


@pytest_asyncio.fixture(scope="module")
async def summaries() -> dict[str, Summary]:
    return {s.scenario: s for s in await run_scenarios(FAST)}


def assert_survived(summary: Summary, runs: int) -> None:
    assert (summary.runs, summary.completed, summary.lost, summary.duplicated, summary.diverged) == (
        runs, runs, 0, 0, 0), "\n".join(summary.problems)
    assert not summary.problems, "\n".join(summary.problems)


def test_worker_sigkill_mid_activity_between_steps_and_in_approval_wait_loses_and_duplicates_nothing(summaries):
    kill = summaries["kill"]
    assert_survived(kill, 3)
    assert [n.split(": ")[1].split(":")[0] for n in kill.notes] == ["mid-activity", "between-steps", "approval"]


def test_temporal_server_restart_mid_run_completes_on_the_same_worker(summaries):
    assert_survived(summaries["temporal"], 1)


def test_postgres_restart_mid_run_completes_with_nothing_lost(summaries):
    assert_survived(summaries["postgres"], 1)


def test_redis_stop_mid_run_keeps_events_in_the_database_and_publishing_resumes(summaries):
    redis = summaries["redis"]
    assert_survived(redis, 1)
    assert any("were published" in n for n in redis.notes)
