"""Runs: start one from the catalog, list and read them, cancel them, signal them."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from api.deps import Operator, RunDep, StateDep, get_view
from api.problems import PROBLEM_RESPONSES, Problem, TemporalUnavailable, definition_problem
from api.progress import pending_approvals, query_progress
from api.schemas import Accepted, RunCreate, RunCreated, RunPage, RunSummary
from bmad import Catalog, DefinitionError, compile_workflow
from bmad.inputs import InvalidInputs, RunInputs, check_run_inputs
from bmad.limits import Limits
from bmad.plan import Plan
from bmad.teams import team_refusal
from botarmy.launch import launch
from botarmy.reconcile import reconcile_run
from botarmy.runview import run_object
from botarmy.settings import Settings
from botarmy.temporal import new_run_id, web_ui_link
from providers.pin import RunModel, resolve_run_model
from providers.types import ModelConfigError
from store import ReusePlan, RunLineage, RunView
from store.types import RUN_STATUSES
from workflows.run import BmadRunWorkflow

# the signals BmadRun defines (temporalio has no public accessor for a workflow class's definition)
RUN_SIGNALS = tuple(sorted(n for n in workflow._Definition.must_from_class(BmadRunWorkflow).signals if n))
router = APIRouter(prefix="/runs", tags=["runs"], responses=PROBLEM_RESPONSES)
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


def invalid_inputs(exc: InvalidInputs) -> Problem:
    """422 naming every problem: `errors[].loc` is ["body", field, key] (key when there is one)."""
    errors = [{"loc": ["body", p.field, *([p.key] if p.key is not None else [])], "msg": p.message,
               "type": f"invalid_{p.field}"} for p in exc.problems]
    detail = "; ".join(f"{'.'.join(e['loc'][1:])}: {e['msg']}" for e in errors)
    return Problem(422, detail, type="urn:botarmy:problem:validation", errors=errors)


def compile_plan(catalog: Catalog, body: RunCreate, limits: Limits | None = None) -> tuple[Plan, RunInputs]:
    """The plan for the request and its checked inputs, or a 422 problem naming what is wrong with them."""
    if body.workflow not in catalog.workflows:
        known = ", ".join(sorted(catalog.workflows)) or "none"
        raise invalid(f"unknown workflow {body.workflow!r}; known workflows: {known}", "workflow", "unknown_workflow")
    try:
        plan = compile_workflow(catalog, body.workflow)
    except DefinitionError as exc:
        raise definition_problem(body.workflow, exc) from None
    try:
        approve = list(body.approve) if isinstance(body.approve, dict) else body.approve
        documents = {name: len(text.encode()) for name, text in body.artifacts.items()}
        checked = check_run_inputs(plan, body.inputs, documents, approve, limits)
    except InvalidInputs as exc:
        raise invalid_inputs(exc) from None
    if body.team is not None and (why := team_refusal(catalog, body.team, body.workflow)) is not None:
        raise invalid(why, "team", "team")
    return plan, checked


@router.post("", status_code=201, response_model=RunCreated, dependencies=[Operator])
async def create_run(body: RunCreate, state: StateDep, request: Request, response: Response) -> RunCreated:
    """Compile the workflow, store its plan, and start the run on Temporal."""
    catalog = await asyncio.to_thread(lambda: state.catalog)
    plan, checked = compile_plan(catalog, body, state.settings.limits)
    run_model = await asyncio.to_thread(run_model_of, state.settings)
    client = await state.temporal()  # 503 before anything is written when Temporal is down
    settings = state.settings
    files = {name: text.encode() for name, text in body.artifacts.items()}
    run_id = None
    if isinstance(body.approve, dict):  # who may decide is stored before the run can ask anyone
        run_id = new_run_id(plan)[0]
        await asyncio.to_thread(state.store.identity.set_approver_roles, run_id, body.approve)
    launched = await launch(client, state.store, settings, plan, checked.inputs, files, approve=checked.approve,
                            budget=(body.budget_usd, body.budget_tokens), team=body.team,
                            run_model=run_model, run_id=run_id,
                            lineage=RunLineage(reuse=ReusePlan(cache=True)) if body.reuse else None,
                            console_url=settings.console_url or str(request.base_url).rstrip("/"))
    response.headers["Location"] = f"/runs/{launched.run_id}"
    return RunCreated(run_id=launched.run_id, workflow_id=plan.workflow_id, temporal_workflow_id=launched.workflow_id,
                      web_ui=web_ui_link(settings, launched.workflow_id, settings.temporal_namespace))


SUMMARY_FIELDS = tuple(f for f in RunSummary.model_fields if f != "cost_usd")


def summary(view: RunView, settings: Settings, cost: float = 0.0) -> dict[str, Any]:
    """A RunSummary as plain JSON data (the page is serialised once, without validating what we built)."""
    data = run_object(view, web_ui_link(settings, view.temporal_workflow_id, settings.temporal_namespace))
    return {**{k: data[k] for k in SUMMARY_FIELDS}, "cost_usd": cost}


@router.get("", response_model=RunPage)
async def list_runs(
    state: StateDep,
    status: Annotated[str | None, Query(max_length=40)] = None,
    workflow: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> JSONResponse:
    """Runs, newest first. 422 for a status no run can have."""
    if status is not None and status not in RUN_STATUSES:
        detail = f"unknown status {status!r}; use one of: {', '.join(RUN_STATUSES)}"
        raise Problem(422, detail, type="urn:botarmy:problem:validation",
                      errors=[{"loc": ["query", "status"], "msg": detail, "type": "unknown_status"}])
    def page() -> tuple[list[RunView], dict[str, Any]]:
        views = state.store.list_runs(status, workflow, limit + 1, offset)
        return views, state.store.run_costs([v.run_id for v in views[:limit]])

    views, costs = await asyncio.to_thread(page)
    return JSONResponse({
        "items": [summary(v, state.settings, float(costs.get(v.run_id, 0))) for v in views[:limit]],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if len(views) > limit else None,
    })


@router.get("/{run_id}", response_model=dict[str, Any])
async def get_run(view: RunDep, state: StateDep) -> JSONResponse:
    """The run object (as `botarmy status --json` prints it) plus the approvals it waits for.

    `pending_approvals` is null when the workflow could not be asked (Temporal down, no worker in time);
    `paused` is who paused it (POST /runs/{id}/pause), `paused_before` the step it holds before, else null."""
    settings = state.settings
    pending: list[dict[str, Any]] | None = []
    progress = None
    if view.status == "running":
        try:
            client = await state.temporal()
            # a closed workflow still answers queries (as it was): ask whether it was closed outside our code
            view = await reconciled(client, state, view)
            progress = await query_progress(client, view.temporal_workflow_id) if view.status == "running" else None
        except TemporalUnavailable:
            progress = None
        pending = None if progress is None else [p.model_dump() for p in pending_approvals(progress)]
        pending = [] if view.status != "running" else pending
    body = run_object(view, web_ui_link(settings, view.temporal_workflow_id, settings.temporal_namespace))
    body["pending_approvals"] = pending
    body["paused"] = progress.paused_by if progress is not None else None
    body["paused_before"] = progress.paused_before if progress is not None else None
    # a running run's page shows its workflow's state too, which no database change stamp covers (api/views.py)
    return JSONResponse(body, headers={"Cache-Control": "no-store"} if view.status == "running" else None)


async def reconciled(client: Client, state: StateDep, view: RunView) -> RunView:
    """The run as the store has it after botarmy.reconcile looked at its workflow (unchanged unless Temporal
    closed it outside our code)."""
    try:
        if await reconcile_run(client, state.store, view) is None:
            return view
    except RPCError as err:  # the stored status stands until Temporal answers again
        log.warning("run.reconcile_failed", run_id=view.run_id, error=err.message)
        return view
    return await asyncio.to_thread(get_view, state.store, view.run_id)


_SPELLED = {WorkflowExecutionStatus.CANCELED: "cancelled"}  # Temporal's enum name; the product says "cancelled"


@router.post("/{run_id}/cancel", status_code=202, response_model=Accepted, dependencies=[Operator])
async def cancel_run(view: RunDep, state: StateDep) -> Accepted:
    """Ask the run to stop; it records itself as cancelled. 409 when it is no longer running."""
    run_id = view.run_id
    client = await state.temporal()
    handle = client.get_workflow_handle(view.temporal_workflow_id)
    described = await handle.describe()
    if described.status != WorkflowExecutionStatus.RUNNING:
        current = _SPELLED.get(described.status, described.status.name.lower()) if described.status else "unknown"
        now = await reconciled(client, state, view)
        if now.status != "running" or view.status != "running":
            raise Problem(409, f"run {run_id!r} has already ended (it is {now.status})"
                               + (f": {now.error}" if now.error else ""))
        raise Problem(409, f"run {run_id!r} is not running (Temporal has it {current})")
    await handle.cancel()
    return Accepted(run_id=run_id, status="cancelling")


@router.post("/{run_id}/signals/{name}", status_code=202, response_model=Accepted, dependencies=[Operator])
async def signal_run(
    view: RunDep, name: SignalName, state: StateDep, payload: Annotated[Any, Body()] = None
) -> Accepted:
    """Send the signal `name` to the run's workflow, with the JSON body (if any) as its argument; 404 for a
    signal the workflow does not define."""
    if name not in RUN_SIGNALS:
        raise Problem(404, f"the run's workflow has no signal {name!r}; its signals: {', '.join(RUN_SIGNALS)}")
    run_id = view.run_id
    client = await state.temporal()
    handle = client.get_workflow_handle(view.temporal_workflow_id)
    if payload is None:
        await handle.signal(name)
    else:
        await handle.signal(name, payload)
    return Accepted(run_id=run_id, status="signalled")
