"""Exactly-once charge: a model call whose output was committed is never made again, even when the worker dies
before the activity completes. Proven with a real worker process, SIGKILLed in exactly that gap."""

from __future__ import annotations

import asyncio
import time

from botarmy.settings import Settings
from botarmy.temporal import connect, ensure_search_attributes, start_run
from store import Store
from testkit.fakes.gemini_server import FakeOpenAICompatible
from tests.e2e.conftest import WorkerProcess, wait_for_poller
from tests.workflows.plans import single_step_plan


async def _wait_for_artifact(store: Store, run_id: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = await asyncio.to_thread(store.get_run, run_id)
        if run is not None and run.artifacts:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the step's output was never committed")


async def test_worker_killed_after_the_commit_never_calls_the_model_again(worker_env, workers, tmp_path):
    with FakeOpenAICompatible(prompt_tokens=100, completion_tokens=20) as fake:
        env = dict(
            worker_env,
            BOTARMY_MODEL="openai:gpt-test",
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_API_KEY="sk-test",
            BOTARMY_STEP_HEARTBEAT_S="2",
            BOTARMY_PROVIDER_HEALTH_FILE=str(tmp_path / "provider-health.json"),
            # the gap under test: output and usage committed, the activity not yet completed
            BOTARMY_FAULT_PAUSE_AFTER_COMMIT_S="60",
        )
        address, queue = env["TEMPORAL_ADDRESS"], env["BOTARMY_TASK_QUEUE"]
        # the run is pinned to the model set where it is started: here, the fake
        settings = Settings(database_url=env["DATABASE_URL"], task_queue=queue, step_heartbeat_s=2,
                            model="openai:gpt-test", openai_base_url=fake.base_url)
        store = Store(settings.database_url)
        store.migrate()
        plan = single_step_plan("test-exactly-once")
        store.save_plan(plan.definition_hash, plan.workflow_id, plan.model_dump_json())
        client = await connect(address)
        await ensure_search_attributes(client)

        first = WorkerProcess(env, tmp_path / "worker-1.log").start()
        workers.append(first)
        await wait_for_poller(address, queue)
        handle = await start_run(client, plan, settings, {}, task_queue=queue)
        run_id = handle.id.rsplit("-", 1)[1]
        await _wait_for_artifact(store, run_id)
        assert len(fake.calls) == 1
        first.kill()  # after the model answered and the output was committed, before the activity completed

        workers.append(WorkerProcess(env, tmp_path / "worker-2.log").start())
        result = await asyncio.wait_for(handle.result(), timeout=120)

    assert result.status == "completed"
    assert len(fake.calls) == 1  # charged once
    run = store.get_run(run_id)
    step = run.steps[0]
    assert (step.status, step.attempts, step.provider, step.model) == ("completed", 2, "openai", "gpt-test")
    assert [(a.name, a.version) for a in run.artifacts] == [("prd.md", 1)]
    usage = store.usage_for_run(run_id)
    assert [(u.provider, u.model, u.prompt_tokens, u.completion_tokens) for u in usage] == [
        ("openai", "gpt-test", 100, 20)]
    assert [e.type for e in store.list_events(run_id)].count("usage.recorded") == 1
    log = (tmp_path / "worker-2.log").read_text()
    assert "step.reused" in log
