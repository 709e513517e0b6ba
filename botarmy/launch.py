"""Starting a run: the one way the CLI, the API, the bench and the chaos suite start one.

The run id and workflow id are minted once; the plan, the model pin and the inputs (each by its hash), the run row
with its pending steps and its `run.started` event are written in one transaction, with the external input
documents, then the workflow is started (it does not record the run again). A start that fails leaves the run marked
failed, not running.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError

from bmad.inputs import INPUT_APPROVE, INPUT_TEAM
from bmad.plan import Plan
from botarmy.settings import Settings
from botarmy.temporal import new_run_id, start_run
from providers.pin import RunModel, resolve_run_model
from store import RunLineage, RunOpening, Store
from store.inline import call, inline_calls
from workflows.contracts import (
    ArtifactPointer,
    CarriedSteps,
    DecisionRecord,
    RunResult,
    control_inputs,
    run_started_event,
)
from workflows.run import BmadRunWorkflow, all_step_rows

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Launched:
    run_id: str
    workflow_id: str  # Temporal's: `bmad-<workflow>-<run id>`
    handle: WorkflowHandle[BmadRunWorkflow, RunResult]


def store_run(store: Store, plan: Plan, run_id: str, wid: str, inputs: dict[str, Any],
              files: dict[str, bytes], run_model: RunModel,
              lineage: RunLineage | None = None) -> tuple[dict[str, ArtifactPointer], str | None]:
    """The run as `Store.open_run` writes it, and its external input documents; (pointers to the documents, the
    inputs' hash). With inputs the workflow would refuse (a repeat count that is not one), only the plan and the
    run row, and no hash: the workflow records the run and fails it, saying why. `run.started` is stored, not
    published: nobody follows a run before its id is handed back, and a follower reads the database first."""
    outline = plan.outline()
    try:
        rows = all_step_rows(outline, control_inputs(outline, inputs))
    except ApplicationError:
        rows = None
    inputs_ref: str | None = None
    if rows is None:
        store.save_plan(plan.definition_hash, plan.workflow_id, plan.model_dump_json())
        store.create_run(run_id, plan.workflow_id, wid, plan.definition_hash, inputs, lineage=lineage)
    else:
        event = run_started_event(plan.workflow_id, inputs, plan.definition_hash)
        inputs_ref, _ = store.open_run(RunOpening(
            run_id=run_id, workflow_id=plan.workflow_id, temporal_workflow_id=wid,
            definition_hash=plan.definition_hash, plan_body=plan_body(plan), inputs=inputs,
            model=(run_model.sha256, run_model.spec, run_model.body()),
            steps=[(r.key, r.step_id, r.agent, r.iteration) for r in rows], event=event, lineage=lineage,
        ))
    pointers = {
        name: ArtifactPointer.of(store.put_artifact(run_id, name, data, f"input:{name}"))
        for name, data in files.items()
    }
    return pointers, inputs_ref


_plan_bodies: dict[str, tuple[Plan, str]] = {}


def plan_body(plan: Plan) -> str:
    """The plan's JSON as stored, dumped once per plan object (the API and the scheduler launch the catalog's
    compiled plan again and again): dumping a whole plan for every launch cost more than storing the run."""
    found = _plan_bodies.get(plan.definition_hash)
    if found is None or found[0] is not plan:
        if len(_plan_bodies) > 256:
            _plan_bodies.clear()
        found = _plan_bodies[plan.definition_hash] = (plan, plan.model_dump_json())
    return found[1]


def carried_steps(lineage: RunLineage | None) -> CarriedSteps | None:
    """What the workflow of a rerun knows of the steps it carries over: their keys and the parent's answers to
    their questions (botarmy.rerun.carried_answers); None for a run that carries nothing."""
    if lineage is None or lineage.parent_run_id is None or lineage.reuse is None or not lineage.reuse.carry:
        return None
    answers = {k: [DecisionRecord.model_validate(d) for d in ds] for k, ds in lineage.answers.items()}
    return CarriedSteps(parent_run_id=lineage.parent_run_id, keys=list(lineage.reuse.carry), answers=answers)


async def launch(
    client: Client,
    store: Store,
    settings: Settings,
    plan: Plan,
    inputs: dict[str, Any],
    files: dict[str, bytes] | None = None,
    *,
    approve: str | list[str] = "none",
    auto_approve: bool = False,
    budget: tuple[float | None, int | None] = (None, None),
    team: str | None = None,
    task_queue: str | None = None,
    run_id: str | None = None,
    run_model: RunModel | None = None,
    console_url: str | None = None,
    lineage: RunLineage | None = None,
) -> Launched:
    """Store and start a run of `plan` (its inputs already checked: bmad.inputs.check_run_inputs). The run records
    the approve policy and team as inputs `_approve` and `_team`, and is pinned to `run_model` (default: the model
    settings in force here; an unusable one raises ModelConfigError before anything is written)."""
    inline = inline_calls(store, None, settings.store_inline)  # no events published here: none to Redis
    if run_model is None:
        run_model = (await call(resolve_run_model, settings, inline=inline))[0]
    rid, wid = new_run_id(plan)
    if run_id:
        rid, wid = run_id, f"bmad-{plan.workflow_id}-{run_id}"
    recorded = {**inputs, INPUT_APPROVE: approve, INPUT_TEAM: team}
    pointers, inputs_ref = await call(
        store_run, store, plan, rid, wid, recorded, files or {}, run_model, lineage, inline=inline
    )
    try:
        handle = await start_run(
            client, plan, settings, recorded, pointers, task_queue=task_queue, auto_approve=auto_approve,
            run_id=rid, approve=approve, budget_usd=budget[0], budget_tokens=budget[1], run_model=run_model,
            store=store, console_url=console_url, recorded_inputs=inputs_ref,
            parent_run_id=lineage.parent_run_id if lineage else None, carried=carried_steps(lineage),
        )
    except Exception as exc:
        log.warning("run.start_failed", run_id=rid, error=str(exc))
        await asyncio.to_thread(store.finish_run, rid, "failed", f"could not start: {exc}")
        raise
    # by workflow id alone: a long run continues as new under the same id, and a handle pinned to its first
    # execution would query (and cancel) that one, not the run as it is now
    return Launched(rid, wid, client.get_workflow_handle_for(BmadRunWorkflow.run, handle.id))
