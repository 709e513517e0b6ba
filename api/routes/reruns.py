"""Reruns: a new run of a finished one from a step, carrying the steps before it over without a model call."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Operator, RunDep, StateDep
from api.problems import PROBLEM_RESPONSES, Problem, definition_problem
from api.schemas import RunCreated
from bmad import DefinitionError, compile_workflow
from bmad.inputs import InvalidInputs
from bmad.plan import Plan
from botarmy.launch import launch
from botarmy.rerun import RerunRefused, prepare_rerun
from botarmy.temporal import web_ui_link

router = APIRouter(prefix="/runs", tags=["runs"], responses=PROBLEM_RESPONSES)


class RerunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_step: str | None = Field(default=None, max_length=255, description="the step id (or number) to rerun "
                                  "from; default for a failed, cancelled or stopped run: its first step that did "
                                  "not complete (a completed run needs one)")
    artifacts: dict[str, str] = Field(default_factory=dict, description="documents that replace the parent's, "
                                      "as their next versions, by name")
    inputs: dict[str, Any] = Field(default_factory=dict, description="inputs that override the parent's")
    definition: Literal["pinned", "current"] = Field(default="pinned", description="pinned: the parent's plan; "
                                                     "current: the definition as it is now")
    force: bool = Field(default=False, description="with definition current: carry over steps whose definition "
                        "changed")


class RerunCreated(RunCreated):
    parent_run_id: str
    rerun_from: str
    carried: list[str] = Field(description="step keys carried over from the parent without a model call")
    changed: list[str] = Field(description="definition current: step ids whose definition changed")


@router.post("/{run_id}/rerun", status_code=201, response_model=RerunCreated, dependencies=[Operator])
async def rerun_run(view: RunDep, body: RerunCreate, state: StateDep, request: Request,
                    response: Response) -> RerunCreated:
    """Start a new run linked to this one: the steps before `from_step` are carried over (their documents by
    reference), `artifacts` replace documents, `from_step` and what follows run. 409 when the run is still
    running, or completed and no `from_step` is given; 422 for a step, document or input that does not fit."""
    current: Plan | None = None
    if body.definition == "current":
        catalog = await asyncio.to_thread(lambda: state.catalog)
        if view.workflow_id not in catalog.workflows:
            raise Problem(409, f"workflow {view.workflow_id!r} is no longer in the catalog; rerun it pinned")
        try:
            current = compile_workflow(catalog, view.workflow_id)
        except DefinitionError as exc:
            raise definition_problem(view.workflow_id, exc) from None
    files = {name: text.encode() for name, text in body.artifacts.items()}
    try:
        prepared = await asyncio.to_thread(prepare_rerun, state.store, view.run_id, body.from_step, files,
                                           body.inputs, current, body.force)
    except RerunRefused as exc:
        if exc.field is None:
            raise Problem(409, str(exc)) from None
        raise Problem(422, str(exc), type="urn:botarmy:problem:validation",
                      errors=[{"loc": ["body", exc.field], "msg": str(exc), "type": f"invalid_{exc.field}"}]) from None
    except InvalidInputs as exc:
        errors = [{"loc": ["body", "inputs", *([p.key] if p.key else [])], "msg": p.message, "type": "invalid_input"}
                  for p in exc.problems]
        raise Problem(422, "; ".join(p.message for p in exc.problems), type="urn:botarmy:problem:validation",
                      errors=errors) from None
    client = await state.temporal()
    settings = state.settings
    launched = await launch(client, state.store, settings, prepared.plan, prepared.inputs, prepared.files,
                            approve=prepared.approve, team=prepared.team, run_model=prepared.run_model,
                            lineage=prepared.lineage,
                            console_url=settings.console_url or str(request.base_url).rstrip("/"))
    response.headers["Location"] = f"/runs/{launched.run_id}"
    return RerunCreated(run_id=launched.run_id, workflow_id=prepared.plan.workflow_id,
                        temporal_workflow_id=launched.workflow_id,
                        web_ui=web_ui_link(settings, launched.workflow_id, settings.temporal_namespace),
                        parent_run_id=view.run_id, rerun_from=prepared.from_step, carried=prepared.carried,
                        changed=prepared.changed)
