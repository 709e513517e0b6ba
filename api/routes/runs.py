"""Runs: start one from the catalog, list and read them, cancel them, signal them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Query, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from temporalio.client import WorkflowExecutionStatus

from api.deps import StateDep, StoreDep
from api.problems import PROBLEM_RESPONSES, Problem, TemporalUnavailable, definition_problem
from api.progress import pending_approvals, query_progress
from api.schemas import Accepted, RunCreate, RunCreated, RunPage, RunSummary
from bmad import Catalog, DefinitionError, compile_workflow
from bmad.plan import Plan
from botarmy.inputs import InputError, check_repeat_inputs
from botarmy.runview import run_object
from botarmy.settings import Settings
from botarmy.temporal import new_run_id, start_run, web_ui_link
from providers.pin import RunModel, resolve_run_model
from providers.types import ModelConfigError
from store import RunView, Store
from workflows.contracts import ArtifactPointer

router = APIRouter(prefix="/runs", tags=["runs"], responses=PROBLEM_RESPONSES)
RunId = Annotated[str, PathParam(min_length=1, max_length=100)]
SignalName = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]


log = structlog.get_logger(__name__)


def run_model_of(settings: Settings) -> RunModel:
    """The model pin for a run started here, or a 422 problem when the server's model setting cannot be used."""
    try:
        pin, warnings = resolve_run_model(settings)
    except ModelConfigError as exc:
        raise Problem(422, f"the server's model setting cannot be used: {exc}", title="Unusable model setting",
                      type="urn:botarmy:problem:model") from exc
    for warning in warnings:  # the worker may have the key this server lacks
        log.warning("run.model_key_not_set_here", detail=warning)
    return pin


def invalid(detail: str, field: str, kind: str) -> Problem:
    return Problem(422, detail, type="urn:botarmy:problem:validation",
                   errors=[{"loc": ["body", field], "msg": detail, "type": kind}])


def compile_plan(catalog: Catalog, body: RunCreate) -> Plan:
    """The plan for the request, or a 422 problem naming what is wrong with it."""
    if body.workflow not in catalog.workflows:
        known = ", ".join(sorted(catalog.workflows)) or "none"
        raise invalid(f"unknown workflow {body.workflow!r}; known workflows: {known}", "workflow", "unknown_workflow")
    try:
        plan = compile_workflow(catalog, body.workflow)
    except DefinitionError as exc:
        raise definition_problem(body.workflow, exc) from None
    try:
        check_repeat_inputs([b.input_name for b in plan.repeat_blocks], body.inputs)
    except InputError as exc:
        raise invalid(str(exc).removeprefix("--input "), "inputs", "invalid_input") from None
    agents = {a for s in plan.steps for a in s.agents}
    if isinstance(body.approve, list) and (unknown := sorted(set(body.approve) - agents)):
        raise invalid(f"approve names agents this workflow does not use: {', '.join(unknown)}; "
                      f"its agents: {', '.join(sorted(agents))}", "approve", "unknown_agent")
    if body.team is not None:
        check_team(catalog, body.team, body.workflow, agents)
    return plan


def check_team(catalog: Catalog, team_id: str, workflow: str, agents: set[str]) -> None:
    team = catalog.teams.get(team_id)
    if team is None:
        raise invalid(f"unknown team {team_id!r}; known teams: {', '.join(sorted(catalog.teams)) or 'none'}",
                      "team", "unknown_team")
    file = Path(catalog.workflows[workflow].source.path).name
    if team.workflows and workflow not in {Path(w).stem for w in team.workflows} and file not in team.workflows:
        raise invalid(f"team {team_id!r} does not run workflow {workflow!r}", "team", "workflow_not_in_team")
    if "*" not in team.agents and (missing := sorted(agents - set(team.agents))):
        raise invalid(f"team {team_id!r} lacks agents this workflow needs: {', '.join(missing)}", "team",
                      "agents_not_in_team")


def store_inputs(store: Store, plan: Plan, run_id: str, wid: str, inputs: dict[str, Any],
                 files: dict[str, str]) -> dict[str, ArtifactPointer]:
    store.save_plan(plan.definition_hash, plan.workflow_id, plan.model_dump_json())
    store.create_run(run_id, plan.workflow_id, wid, plan.definition_hash, inputs)
    return {
        name: ArtifactPointer.of(store.put_artifact(run_id, name, text.encode(), f"input:{name}"))
        for name, text in files.items()
    }


@router.post("", status_code=201, response_model=RunCreated)
async def create_run(body: RunCreate, state: StateDep, response: Response) -> RunCreated:
    """Compile the workflow, store its plan, and start the run on Temporal."""
    catalog = await asyncio.to_thread(lambda: state.catalog)
    plan = compile_plan(catalog, body)
    run_model = await asyncio.to_thread(run_model_of, state.settings)
    client = await state.temporal()  # 503 before anything is written when Temporal is down
    settings, store = state.settings, state.store
    run_id, wid = new_run_id(plan)
    inputs = {**body.inputs, "_approve": body.approve}
    if body.team is not None:
        inputs["_team"] = body.team
    pointers = await asyncio.to_thread(store_inputs, store, plan, run_id, wid, inputs, body.artifacts)
    try:
        await start_run(client, plan, settings, inputs, pointers, run_id=run_id, approve=body.approve,
                        budget_usd=body.budget_usd, budget_tokens=body.budget_tokens, run_model=run_model,
                        store=store)
    except Exception as exc:
        await asyncio.to_thread(store.finish_run, run_id, "failed", f"could not start: {exc}")
        raise
    response.headers["Location"] = f"/runs/{run_id}"
    return RunCreated(run_id=run_id, workflow_id=plan.workflow_id, temporal_workflow_id=wid,
                      web_ui=web_ui_link(settings, wid, settings.temporal_namespace))


SUMMARY_FIELDS = tuple(RunSummary.model_fields)


def summary(view: RunView, settings: Settings) -> dict[str, Any]:
    """A RunSummary as plain JSON data (the page is serialised once, without validating what we built)."""
    data = run_object(view, web_ui_link(settings, view.temporal_workflow_id, settings.temporal_namespace))
    return {k: data[k] for k in SUMMARY_FIELDS}


@router.get("", response_model=RunPage)
async def list_runs(
    state: StateDep,
    status: Annotated[str | None, Query(max_length=40)] = None,
    workflow: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> JSONResponse:
    """Runs, newest first."""
    views = await asyncio.to_thread(state.store.list_runs, status, workflow, limit + 1, offset)
    return JSONResponse({
        "items": [summary(v, state.settings) for v in views[:limit]],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if len(views) > limit else None,
    })


def get_view(store: Store, run_id: str) -> RunView:
    view = store.get_run(run_id)
    if view is None:
        raise Problem(404, f"no run {run_id!r}")
    return view


@router.get("/{run_id}", response_model=dict[str, Any])
async def get_run(run_id: RunId, state: StateDep) -> JSONResponse:
    """The run object (as `botarmy status --json` prints it) plus the approvals it waits for.

    `pending_approvals` is null when the workflow could not be asked (Temporal down, no worker in time)."""
    view = await asyncio.to_thread(get_view, state.store, run_id)
    settings = state.settings
    body = run_object(view, web_ui_link(settings, view.temporal_workflow_id, settings.temporal_namespace))
    pending: list[dict[str, Any]] | None = []
    if view.status == "running":
        try:
            progress = await query_progress(await state.temporal(), view.temporal_workflow_id)
        except TemporalUnavailable:
            progress = None
        pending = None if progress is None else [p.model_dump() for p in pending_approvals(progress)]
    body["pending_approvals"] = pending
    return JSONResponse(body)


_SPELLED = {WorkflowExecutionStatus.CANCELED: "cancelled"}  # Temporal's enum name; the product says "cancelled"


@router.post("/{run_id}/cancel", status_code=202, response_model=Accepted)
async def cancel_run(run_id: RunId, store: StoreDep, state: StateDep) -> Accepted:
    """Ask the run to stop; it records itself as cancelled. 409 when it is no longer running."""
    view = await asyncio.to_thread(get_view, store, run_id)
    client = await state.temporal()
    handle = client.get_workflow_handle(view.temporal_workflow_id)
    described = await handle.describe()
    if described.status != WorkflowExecutionStatus.RUNNING:
        current = _SPELLED.get(described.status, described.status.name.lower()) if described.status else "unknown"
        raise Problem(409, f"run {run_id!r} is not running (it is {current})")
    await handle.cancel()
    return Accepted(run_id=run_id, status="cancelling")


@router.post("/{run_id}/signals/{name}", status_code=202, response_model=Accepted)
async def signal_run(
    run_id: RunId, name: SignalName, store: StoreDep, state: StateDep, payload: Annotated[Any, Body()] = None
) -> Accepted:
    """Send the signal `name` to the run's workflow, with the JSON body (if any) as its argument."""
    view = await asyncio.to_thread(get_view, store, run_id)
    client = await state.temporal()
    handle = client.get_workflow_handle(view.temporal_workflow_id)
    if payload is None:
        await handle.signal(name)
    else:
        await handle.signal(name, payload)
    return Accepted(run_id=run_id, status="signalled")
