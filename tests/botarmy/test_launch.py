"""launch(): the one way a run starts: ids minted once, plan, run row and input documents stored, then started;
a start that fails leaves the run failed in the store, not running."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import WorkflowAlreadyStartedError

from bmad import compile_workflow, load_bmad
from botarmy.launch import launch
from botarmy.temporal import connect, ensure_search_attributes
from store import Store
from tests.conftest import OWN_BMAD, running_worker


@pytest.fixture
async def dev_client(dev_server: str):
    """Runs that no worker takes are started on the dev server: on the time-skipping server, a terminated run
    that never had a workflow task keeps time from skipping for the tests after it."""
    client = await connect(dev_server)
    await ensure_search_attributes(client)
    return client


async def test_launch_stores_the_plan_run_and_documents_then_starts_the_run(dev_client, settings, store: Store):
    plan = compile_workflow(load_bmad([OWN_BMAD]), "quick-fix")
    launched = await launch(dev_client, store, settings, plan, {"project_name": "Acme"},
                            {"notes.md": b"# notes\n"}, approve=["pm"], team="team-core",
                            task_queue=settings.task_queue)
    assert launched.workflow_id == f"bmad-quick-fix-{launched.run_id}" == launched.handle.id
    assert store.load_plan(plan.definition_hash) == plan.model_dump_json()
    run = store.get_run(launched.run_id)
    assert run is not None and run.status == "running" and run.definition_hash == plan.definition_hash
    assert run.inputs == {"project_name": "Acme", "_approve": ["pm"], "_team": "team-core"}
    notes = store.artifact_version(launched.run_id, "notes.md", 1)
    assert notes is not None and store.read_artifact(notes.id, notes.sha256) == b"# notes\n"
    described = await launched.handle.describe()
    assert described.task_queue == settings.task_queue
    await launched.handle.terminate("test over")


async def test_a_run_launched_with_a_worker_completes(time_env, settings, store: Store):
    plan = compile_workflow(load_bmad([OWN_BMAD]), "quick-fix")
    async with running_worker(time_env.client, settings, store):
        launched = await launch(time_env.client, store, settings, plan, {}, auto_approve=True,
                                task_queue=settings.task_queue)
        result = await launched.handle.result()
    assert result.status == "completed" and result.run_id == launched.run_id
    assert store.get_run(launched.run_id).status == "completed"


async def test_a_start_that_fails_marks_the_run_failed_and_raises(dev_client, settings, store: Store, tmp_path):
    plan = compile_workflow(load_bmad([OWN_BMAD]), "quick-fix")
    first = await launch(dev_client, store, settings, plan, {}, task_queue=settings.task_queue)
    other = Store(f"sqlite:///{tmp_path}/other.db")
    other.migrate()
    with pytest.raises(WorkflowAlreadyStartedError):  # the same workflow id again: Temporal refuses the start
        await launch(dev_client, other, settings, plan, {}, task_queue=settings.task_queue,
                     run_id=first.run_id)
    run = other.get_run(first.run_id)
    assert run is not None and run.status == "failed"
    assert run.error is not None and run.error.startswith("could not start: ")
    assert store.get_run(first.run_id).status == "running"  # the run that did start is untouched
    await first.handle.terminate("test over")
    with pytest.raises(WorkflowFailureError):
        await first.handle.result()
    other.close()
