"""Durability, proven by killing a real worker process in the middle of a step."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from botarmy.temporal import start_run
from tests.e2e.conftest import WorkerProcess, prepare_run, wait_for_poller
from workflows.run import BmadRunWorkflow


async def _wait_until_running(handle, step_key: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            progress = await handle.query(BmadRunWorkflow.progress)
            if any(s.key == step_key and s.status == "running" for s in progress.steps):
                return
        except Exception:  # noqa: BLE001 - the workflow may not have had its first task yet
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"step {step_key} never started")


async def test_sigkill_worker_mid_step_loses_and_duplicates_nothing(worker_env, workers, tmp_path):
    env = dict(worker_env, BOTARMY_OFFLINE_LATENCY_MS="1500", BOTARMY_STEP_HEARTBEAT_S="2")
    address, queue = env["TEMPORAL_ADDRESS"], env["BOTARMY_TASK_QUEUE"]
    ready = await prepare_run(env, "greenfield-service", step_heartbeat_s=2)
    settings, store, plan, client = ready.settings, ready.store, ready.plan, ready.client

    first = WorkerProcess(env, tmp_path / "worker-1.log").start()
    workers.append(first)
    await wait_for_poller(address, queue)
    handle = await start_run(client, plan, settings, {"for_each_epic": 2}, task_queue=queue)
    await _wait_until_running(handle, "02-pm-prd")
    first.kill()  # SIGKILL in the middle of the pm step's model call

    workers.append(WorkerProcess(env, tmp_path / "worker-2.log").start())
    result = await asyncio.wait_for(handle.result(), timeout=180)
    assert result.status == "completed"

    run = store.get_run(result.run_id)
    assert run.status == "completed"
    per_name = Counter(a.name for a in run.artifacts)
    assert all(n == 1 for n in per_name.values()), per_name  # one version each: nothing written twice
    assert set(per_name) == {
        "project-brief.md", "prd.md", "architecture.md", "po-validation.md",
        "epic-1/story.md", "epic-1/implementation-notes.md", "epic-1/qa-review.md",
        "epic-2/story.md", "epic-2/implementation-notes.md", "epic-2/qa-review.md",
    }
    steps = {s.key: s for s in run.steps}
    assert steps["02-pm-prd"].attempts == 2  # the killed attempt, then the one that finished
    assert all(s.status in ("completed", "skipped") for s in run.steps)
    assert len(store.usage_for_run(result.run_id)) == len([a for a in run.artifacts])


async def test_approval_wait_survives_a_worker_kill(worker_env, workers, tmp_path):
    from tests.workflows.test_approvals import wait_pending
    from workflows.contracts import ApprovalDecision

    env = dict(worker_env, BOTARMY_STEP_HEARTBEAT_S="2")
    address, queue = env["TEMPORAL_ADDRESS"], env["BOTARMY_TASK_QUEUE"]
    ready = await prepare_run(env, "quick-fix")
    settings, store, plan, client = ready.settings, ready.store, ready.plan, ready.client

    first = WorkerProcess(env, tmp_path / "worker-1.log").start()
    workers.append(first)
    await wait_for_poller(address, queue)
    handle = await start_run(client, plan, settings, {}, task_queue=queue, approve=["dev"])
    req = await wait_pending(handle, "02-dev-implementation-notes")
    waiting = [w.id async for w in client.list_workflows(f"WorkflowId = '{handle.id}' AND BotArmyWaiting = 'yes'")]
    assert waiting == [handle.id]
    first.kill()

    workers.append(WorkerProcess(env, tmp_path / "worker-2.log").start())
    await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step=req.step, decision="approve", by="erin"))
    result = await asyncio.wait_for(handle.result(), timeout=120)
    assert result.status == "completed"
    assert [(a.step, a.by) for a in result.approvals] == [("02-dev-implementation-notes", "erin")]
    assert Counter(a.name for a in store.get_run(result.run_id).artifacts) == {
        "prd.md": 1, "implementation-notes.md": 1, "qa-review.md": 1}
