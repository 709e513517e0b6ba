"""The BMAD catalog: workflows (and their compiled plans), agents, teams, templates; template CRUD."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Hashable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from api import templates
from api.deps import Admin, CatalogDep, StateDep
from api.problems import PROBLEM_RESPONSES, Problem, definition_problem
from api.schemas import RunInputSpec, WorkflowInputs
from bmad import Catalog, DefinitionError, compile_workflow
from bmad.inputs import condition_inputs, plan_agents, repeat_inputs, route_inputs, template_variables
from bmad.plan import Plan

router = APIRouter(prefix="/catalog", tags=["catalog"], responses=PROBLEM_RESPONSES)
TemplateName = Annotated[str, PathParam(min_length=1, max_length=200, pattern=templates.NAME_PATTERN,
                                        description="letters, digits, '.', '_', '-'; not starting with '.' or '-'")]
YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/yaml": {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}}},
    }
}

T = TypeVar("T")


class PerCatalog:
    """Answers computed once per loaded catalog: a template edit loads a new catalog, which starts afresh."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._answers: dict[Hashable, Any] = {}

    def get(self, catalog: Catalog, key: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            if catalog is not self._catalog:
                self._catalog, self._answers = catalog, {}
            answers = self._answers
            if key in answers:
                return answers[key]
        answer = build()  # outside the lock: compiling a plan takes a while; two builds of one key are harmless
        with self._lock:
            answers[key] = answer
        return answer


answers = PerCatalog()


def _json(data: Any) -> bytes:
    return bytes(JSONResponse(data).body)


def _workflow_list(catalog: Catalog) -> bytes:
    return _json([
        {"id": w.id, "name": w.name, "description": w.description, "type": w.type, "project_types": w.project_types,
         "steps": len(w.sequence), "source": w.source.path}
        for w in sorted(catalog.workflows.values(), key=lambda w: w.id)
    ])


@router.get("/workflows", response_model=list[dict[str, Any]])
async def list_workflows(catalog: CatalogDep) -> Response:
    body = answers.get(catalog, "workflows", lambda: _workflow_list(catalog))
    return Response(body, media_type="application/json")


@router.get("/workflows/{workflow_id}", response_model=dict[str, Any])
def get_workflow(workflow_id: str, catalog: CatalogDep) -> Response:
    """The compiled plan of a workflow (as `botarmy plan --format json`)."""
    if workflow_id not in catalog.workflows:
        raise Problem(404, f"no workflow {workflow_id!r}; known: {', '.join(sorted(catalog.workflows)) or 'none'}")
    try:
        body = answers.get(catalog, ("plan", workflow_id),
                           lambda: _json(compile_workflow(catalog, workflow_id).model_dump(mode="json")))
    except DefinitionError as exc:
        raise definition_problem(workflow_id, exc) from None
    return Response(body, media_type="application/json")


def run_inputs(plan: Plan) -> WorkflowInputs:
    """What a person starting a run of `plan` may give it, typed (the console's New run form)."""
    defaults = plan.input_defaults
    specs: dict[str, RunInputSpec] = {}
    for name, choices in route_inputs(plan).items():
        specs[name] = RunInputSpec(name=name, kind="route", default=defaults.get(name), choices=choices)
    for name in condition_inputs(plan):
        specs.setdefault(name, RunInputSpec(name=name, kind="condition", default=bool(defaults.get(name, False))))
    for name in repeat_inputs(plan):
        specs.setdefault(name, RunInputSpec(name=name, kind="count", default=defaults.get(name, 1)))
    for name in sorted(set(template_variables(plan)) | set(defaults)):
        specs.setdefault(name, RunInputSpec(name=name, kind="text", default=defaults.get(name)))
    return WorkflowInputs(workflow=plan.workflow_id, inputs=sorted(specs.values(), key=lambda i: i.name),
                          documents=list(plan.external_inputs), agents=plan_agents(plan),
                          budget_usd=plan.budget_usd, budget_tokens=plan.budget_tokens)


@router.get("/workflows/{workflow_id}/inputs", response_model=WorkflowInputs)
def get_workflow_inputs(workflow_id: str, catalog: CatalogDep) -> WorkflowInputs:
    """The run inputs of a workflow with their kinds and defaults, its external documents and its agents."""
    if workflow_id not in catalog.workflows:
        raise Problem(404, f"no workflow {workflow_id!r}; known: {', '.join(sorted(catalog.workflows)) or 'none'}")
    try:
        return answers.get(catalog, ("inputs", workflow_id), lambda: run_inputs(compile_workflow(catalog, workflow_id)))
    except DefinitionError as exc:
        raise definition_problem(workflow_id, exc) from None


@router.get("/agents")
def list_agents(catalog: CatalogDep) -> list[dict[str, Any]]:
    return [
        {"id": a.id, "name": a.name, "title": a.title, "icon": a.icon, "when_to_use": a.when_to_use,
         "role": a.persona.role, "dependencies": a.dependencies, "source": a.source.path}
        for a in sorted(catalog.agents.values(), key=lambda a: a.id)
    ]


@router.get("/teams")
def list_teams(catalog: CatalogDep) -> list[dict[str, Any]]:
    return [
        {"id": t.id, "name": t.name, "icon": t.icon, "description": t.description, "agents": t.agents,
         "workflows": t.workflows, "source": t.source.path}
        for t in sorted(catalog.teams.values(), key=lambda t: t.id)
    ]


@router.get("/templates")
def list_templates(catalog: CatalogDep) -> list[dict[str, Any]]:
    return [
        {"id": t.id, "declared_id": t.declared_id, "name": t.name, "version": t.version,
         "output": t.output.model_dump(), "sections": len(t.sections), "source": t.source.path}
        for t in sorted(catalog.templates.values(), key=lambda t: t.id)
    ]


@router.get(
    "/templates/{name:path}",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}}, "description": "the template file"}},
)
def get_template(name: TemplateName, state: StateDep) -> Response:
    """The YAML text of a template (the file that wins when folders are layered)."""
    file = templates.file_name(name)
    found = templates.find(state.bmad_dirs, file)
    if found is None:
        raise Problem(404, f"no template {file!r}")
    return Response(found.read_bytes(), media_type="application/yaml")


@router.put("/templates/{name:path}", openapi_extra=YAML_BODY, responses={201: {"description": "created"}},
            dependencies=[Admin])
async def put_template(name: TemplateName, request: Request, state: StateDep, response: Response) -> dict[str, Any]:
    """Create or replace a template in the first bmad folder; the body is the YAML text. 422 with the loader's
    messages when it is not a valid template."""
    file = templates.file_name(name)
    target = templates.inside(state.bmad_dirs[0] / "templates", file)
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(422, "the template must be UTF-8 text") from None
    errors = await asyncio.to_thread(templates.validation_errors, file, text)
    if errors:
        raise Problem(422, "\n".join(errors), title="Invalid template", type="urn:botarmy:problem:definition",
                      errors=[{"loc": ["body"], "msg": e, "type": "definition_error"} for e in errors])

    def write() -> bool:
        with templates.write_lock:
            created = not target.exists()
            templates.write_atomically(target, text)
            state.reload_catalog()
            return created

    created = await asyncio.to_thread(write)
    response.status_code = 201 if created else 200
    return {"name": file, "id": file.removesuffix(templates.SUFFIX), "created": created}


@router.delete("/templates/{name:path}", status_code=204, response_class=Response, dependencies=[Admin])
def delete_template(name: TemplateName, state: StateDep) -> Response:
    """Delete a template from the first bmad folder (the one the API writes to)."""
    file = templates.file_name(name)
    target = templates.inside(state.bmad_dirs[0] / "templates", file)
    with templates.write_lock:
        if not target.is_file():
            raise Problem(404, f"no template {file!r} in {state.bmad_dirs[0] / 'templates'}")
        target.unlink()
        state.reload_catalog()
    return Response(status_code=204)
