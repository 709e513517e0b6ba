"""A worker whose activity slots follow the machine's CPU and memory (BOTARMY_ACTIVITY_SLOTS=resource) runs a
pipeline like one with fixed slots."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from botarmy.settings import Settings
from store import Store
from tests.activities.conftest import run_plan
from tests.workflows.plans import pipeline_plan


async def test_a_worker_with_resource_based_activity_slots_completes_a_pipeline(
    time_env: WorkflowEnvironment, settings: Settings, store: Store
):
    resourced = settings.model_copy(update={"activity_slots": "resource"})
    _, result = await run_plan(time_env, resourced, store, pipeline_plan("resource-slots"))
    assert result.status == "completed"
    view = store.get_run(result.run_id)
    assert view is not None and view.artifacts
    assert "completed" in {s.status for s in view.steps} and {s.status for s in view.steps} <= {"completed", "skipped"}
