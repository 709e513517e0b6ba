"""Records interpreter histories for the replay tests: `python -m tests.workflows.record_histories`.

Run it only when a workflow change is meant to be incompatible (and then add a new file, keep the old ones);
compatible changes must replay the committed histories as they are (use `workflow.patched`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import uuid
from pathlib import Path

from temporalio.client import WorkflowFailureError, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from botarmy.settings import Settings
from botarmy.temporal import ensure_search_attributes, start_run
from store import Store
from tests.conftest import binary, running_worker, save_plan
from tests.fakes.openai_server import FakeOpenAI, Fault
from tests.workflows.plans import pipeline_plan, single_step_plan

HERE = Path(__file__).parent / "histories"

CASES = {
    "pipeline-defaults": (pipeline_plan, {}, None),
    "pipeline-condition-true-repeat-2": (
        pipeline_plan, {"architecture_suggests_prd_changes": True, "for_each_epic": 2}, None
    ),
    "single-step-retried-then-ok": (single_step_plan, {}, [Fault(500), Fault(500)]),
    "single-step-non-retryable": (single_step_plan, {}, [Fault(401)]),
}


async def record(out_dir: Path = HERE) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
    )
    written: list[Path] = []
    try:
        await ensure_search_attributes(env.client)
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(f"sqlite:///{tmp}/h.db")
            store.migrate()
            for name, (make_plan, inputs, faults) in CASES.items():
                fake = FakeOpenAI().start()
                fake.script.extend(faults or [])
                settings = Settings(database_url=f"sqlite:///{tmp}/h.db", task_queue=f"rec-{uuid.uuid4().hex[:6]}")
                if faults:
                    settings = settings.model_copy(update={
                        "model": "openai:gpt-test", "openai_base_url": fake.base_url, "openai_api_key": "sk"})
                plan = save_plan(store, make_plan())
                async with running_worker(env.client, settings, store):
                    handle = await start_run(env.client, plan, settings, inputs, task_queue=settings.task_queue)
                    try:
                        await handle.result()
                    except WorkflowFailureError:
                        pass
                fake.stop()
                path = out_dir / f"{name}.json"
                history = json.loads((await handle.fetch_history()).to_json())
                path.write_text(json.dumps({"workflow_id": handle.id, "history": history}))
                written.append(path)
    finally:
        await env.shutdown()
    return written


if __name__ == "__main__":
    for p in asyncio.run(record(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)):
        print(p)


def load(path: Path) -> WorkflowHistory:
    data = json.loads(path.read_text())
    return WorkflowHistory.from_json(data["workflow_id"], data["history"])
