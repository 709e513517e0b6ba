"""Connecting to Temporal: data converter, search attributes (registered idempotently), starting runs."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from bmad.plan import Plan
from botarmy.settings import Settings
from providers.pin import RunModel, resolve_run_model
from store import Store, get_store
from workflows.approvals import WAITING_KEY
from workflows.contracts import (
    SEARCH_ATTR_DEFINITION,
    SEARCH_ATTR_PARENT,
    SEARCH_ATTR_WAITING,
    SEARCH_ATTR_WORKFLOW,
    ArtifactPointer,
    Budget,
    CarriedSteps,
    RunInput,
    RunResult,
    StepPolicy,
    control_inputs,
)
from workflows.patches import ENGINE_LEVEL
from workflows.run import BmadRunWorkflow

WORKFLOW_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTR_WORKFLOW)
DEFINITION_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTR_DEFINITION)
PARENT_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTR_PARENT)
SEARCH_ATTRIBUTES = {
    SEARCH_ATTR_WORKFLOW: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SEARCH_ATTR_DEFINITION: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SEARCH_ATTR_WAITING: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SEARCH_ATTR_PARENT: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}


class TemporalUnreachable(RuntimeError):
    """No Temporal server answers at `address` (the SDK says so with a bare RuntimeError)."""

    def __init__(self, address: str, detail: str) -> None:
        super().__init__(f"no Temporal server answers at {address}: {detail}")
        self.address = address
        self.detail = detail


async def connect(address: str, namespace: str = "default") -> Client:
    try:
        return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
    except (RuntimeError, ValueError) as exc:  # ValueError: an address that is not host:port
        if not isinstance(exc, ValueError) and "connect" not in str(exc).lower():
            raise
        raise TemporalUnreachable(address, _reason(str(exc))) from exc


def _reason(detail: str) -> str:
    """The few words of the SDK's transport error a person needs ("Connection refused", "dns error")."""
    for pattern in (r'message: "([^"]+)"', r'ConnectError\("([^"]+)"', r"invalid target URL: (.+)"):
        found = re.search(pattern, detail)
        if found:
            return found.group(1)
    return detail


async def ensure_search_attributes(client: Client) -> None:
    """Register our search attributes; a no-op when they exist. Works on any server, started by us or not."""
    for name, kind in SEARCH_ATTRIBUTES.items():
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=client.namespace, search_attributes={name: kind})
            )
        except RPCError as err:
            if err.status != RPCStatusCode.ALREADY_EXISTS and "already" not in err.message.lower():
                raise


async def has_pollers(client: Client, task_queue: str) -> bool:
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(resp.pollers) > 0


def new_run_id(plan: Plan) -> tuple[str, str]:
    """(run_id, Temporal workflow id): `bmad-<workflow>-<short id>`."""
    short = uuid.uuid4().hex[:10]
    return short, f"bmad-{plan.workflow_id}-{short}"


def policy_from(settings: Settings) -> StepPolicy:
    return StepPolicy(
        start_to_close_s=settings.step_start_to_close_s,
        heartbeat_s=settings.step_heartbeat_s,
        retry_initial_s=settings.retry_initial_s,
        retry_backoff=settings.retry_backoff,
        retry_max_attempts=settings.retry_max_attempts,
    )


async def start_run(
    client: Client,
    plan: Plan,
    settings: Settings,
    inputs: dict[str, Any],
    artifacts: dict[str, ArtifactPointer] | None = None,
    task_queue: str | None = None,
    auto_approve: bool = False,
    run_id: str | None = None,
    approve: str | list[str] = "none",
    budget_usd: float | None = None,
    budget_tokens: int | None = None,
    run_model: RunModel | None = None,
    store: Store | None = None,
    console_url: str | None = None,
    parent_run_id: str | None = None,
    continue_as_new_events: int | None = None,
    recorded_inputs: str | None = None,
    carried: CarriedSteps | None = None,
) -> WorkflowHandle[BmadRunWorkflow, RunResult]:
    """Start a run of an already stored plan. The workflow carries the outline; activities load the rest.

    The run is pinned to `run_model` (default: the model settings in force here, see `resolve_run_model`),
    stored by hash in `store` (default: the settings' database) before the workflow starts; a model setting
    that cannot be used raises ModelConfigError before anything is written. Its inputs are stored by hash too:
    the workflow carries the hash and the few inputs it reads itself. `continue_as_new_events` (default: the
    settings') is the history length past which a long loop continues as new. `recorded_inputs` (the inputs' hash)
    says the caller has already stored the run, its pin and its inputs (`Store.open_run`, as `launch` does): then
    nothing is written here and the workflow does not record the run again.
    """
    if run_model is None:
        run_model = (await asyncio.to_thread(resolve_run_model, settings))[0]
    rid, wid = new_run_id(plan)
    if run_id:
        rid, wid = run_id, f"bmad-{plan.workflow_id}-{run_id}"
    store = store or get_store(settings.database_url)
    def write(pinned: Store) -> str:  # one thread hop: the pin, then the inputs (by hash: the workflow carries it)
        pinned.pin_model(rid, run_model.sha256, run_model.spec, run_model.body())
        return pinned.save_inputs(inputs)

    inputs_ref = recorded_inputs or await asyncio.to_thread(write, store)
    outline = plan.outline()
    return await client.start_workflow(
        BmadRunWorkflow.run,
        RunInput(
            run_id=rid,
            outline=outline,
            inputs=control_inputs(outline, inputs),
            inputs_ref=inputs_ref,
            artifacts=artifacts or {},
            auto_approve=auto_approve,
            policy=policy_from(settings),
            approve=approve,
            budget=Budget(
                usd=budget_usd if budget_usd is not None else plan.budget_usd,
                tokens=budget_tokens if budget_tokens is not None else plan.budget_tokens,
            ),
            model_ref=run_model.sha256,
            console_url=console_url or settings.console_url,
            continue_as_new_events=continue_as_new_events or settings.continue_as_new_events,
            recorded=recorded_inputs is not None,
            carried_steps=carried,
            engine=ENGINE_LEVEL,
        ),
        id=wid,
        task_queue=task_queue or settings.task_queue,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(WORKFLOW_KEY, plan.workflow_id),
                SearchAttributePair(DEFINITION_KEY, plan.definition_hash),
                SearchAttributePair(WAITING_KEY, "no"),  # from the start: `BotArmyWaiting = 'no'` finds it too
                *([SearchAttributePair(PARENT_KEY, parent_run_id)] if parent_run_id else []),
            ]
        ),
        static_summary=run_summary(plan.workflow_id, inputs),
        static_details=run_details(plan, rid, approve, auto_approve),
    )


_VALUE_CHARS = 40
_SUMMARY_CHARS = 160
_SECRET_NAME = re.compile(r"key|token|secret|passw|credential|authoriz", re.IGNORECASE)


def run_summary(workflow_id: str, inputs: dict[str, Any]) -> str:
    """One line for the Web UI: the workflow and its key inputs, each value cut short, secrets left out,
    e.g. `BMAD greenfield-service — project_name=Lunch Orders, for_each_epic=2`."""
    parts = []
    for name, value in inputs.items():
        if name.startswith("_") or _SECRET_NAME.search(name):
            continue
        text = " ".join((value if isinstance(value, str) else json.dumps(value, default=str)).split())
        parts.append(f"{name}={_cut(text, _VALUE_CHARS)}")
    return _cut(f"BMAD {workflow_id}" + (" — " + ", ".join(parts) if parts else ""), _SUMMARY_CHARS)


def run_details(plan: Plan, run_id: str, approve: str | list[str], auto_approve: bool) -> str:
    asks = "nobody (auto-approve)" if auto_approve else (", ".join(approve) if isinstance(approve, list) else approve)
    return (f"**{plan.name or plan.workflow_id}**  \nrun `{run_id}`, definition `{plan.definition_hash[:12]}`  \n"
            f"approvals: {asks}")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def web_ui_link(settings: Settings, workflow_id: str, namespace: str = "default") -> str:
    return f"{settings.web_ui_url}/namespaces/{namespace}/workflows/{workflow_id}"
