"""Scaling out: several worker processes on one task queue share the runs, and no step runs twice."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

from botarmy.temporal import start_run
from tests.e2e.conftest import WorkerProcess, prepare_run, wait_for_poller

WORKERS = 3
RUNS = 6
QUICK_FIX_ARTIFACTS = {"prd.md", "implementation-notes.md", "qa-review.md"}


def _events(log: Path) -> list[dict]:
    """The structlog JSON lines of one worker's log (other lines, e.g. Alembic's, are skipped)."""
    events = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


async def _wait_until_started(logs: list[Path], timeout_s: float = 30) -> None:
    """Until every worker logged `worker.started` (logged just before it polls). Temporal's poller list is no
    proof: it shows the pollers of the root partition only, and a worker with two slots may not be there."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(log.exists() and any(e.get("event") == "worker.started" for e in _events(log)) for log in logs):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not every worker started within {timeout_s} s")


def _completed_steps(log: Path, run_ids: set[str]) -> list[tuple[str, str]]:
    """(run_id, step) of every `step.completed` event this worker logged for our runs."""
    return [
        (e["run_id"], e["step"])
        for e in _events(log)
        if e.get("event") == "step.completed" and e.get("run_id") in run_ids
    ]


async def test_three_workers_share_six_runs_and_each_step_completes_once(worker_env, workers, tmp_path):
    # Two activity slots per worker and a slow model: six runs at once cannot all fit on one or two workers.
    env = dict(worker_env, BOTARMY_OFFLINE_LATENCY_MS="300", BOTARMY_MAX_CONCURRENT_ACTIVITIES="2")
    address, queue = env["TEMPORAL_ADDRESS"], env["BOTARMY_TASK_QUEUE"]
    ready = await prepare_run(env, "quick-fix")
    settings, store, plan, client = ready.settings, ready.store, ready.plan, ready.client

    logs = [tmp_path / f"worker-{i}.log" for i in range(1, WORKERS + 1)]
    workers.extend(WorkerProcess(env, log).start() for log in logs)
    await _wait_until_started(logs)
    await wait_for_poller(address, queue)

    handles = [await start_run(client, plan, settings, {}, task_queue=queue) for _ in range(RUNS)]
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=60)

    assert [r.status for r in results] == ["completed"] * RUNS
    run_ids = {r.run_id for r in results}
    assert len(run_ids) == RUNS
    listed = [r for r in store.list_runs(workflow_id="quick-fix", limit=100) if r.run_id in run_ids]
    assert len(listed) == RUNS  # one run row each
    for run_id in run_ids:
        run = store.get_run(run_id)
        assert run is not None and run.status == "completed"
        assert {a.name for a in run.artifacts} == QUICK_FIX_ARTIFACTS
        assert [a.version for a in run.artifacts] == [1] * len(QUICK_FIX_ARTIFACTS)  # nothing written twice
        assert all(s.status == "completed" for s in run.steps), [(s.key, s.status) for s in run.steps]
        assert [s.attempts for s in run.steps if s.agent] == [1] * len(QUICK_FIX_ARTIFACTS)  # no step retried

    per_worker = [_completed_steps(log, run_ids) for log in logs]
    every_completion = Counter(step for steps in per_worker for step in steps)
    assert len(every_completion) == RUNS * len(QUICK_FIX_ARTIFACTS)
    assert set(every_completion.values()) == {1}, every_completion  # exactly once, across all workers
    assert all(per_worker), f"steps per worker: {[len(s) for s in per_worker]}"
