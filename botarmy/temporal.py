"""Connecting to Temporal: data converter, search attributes (registered idempotently), starting runs."""

from __future__ import annotations

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
from workflows.contracts import (
    SEARCH_ATTR_DEFINITION,
    SEARCH_ATTR_WAITING,
    SEARCH_ATTR_WORKFLOW,
    ArtifactPointer,
    Budget,
    RunInput,
    RunResult,
    StepPolicy,
)
from workflows.run import BmadRunWorkflow

WORKFLOW_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTR_WORKFLOW)
DEFINITION_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTR_DEFINITION)
SEARCH_ATTRIBUTES = {
    SEARCH_ATTR_WORKFLOW: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SEARCH_ATTR_DEFINITION: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SEARCH_ATTR_WAITING: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
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
) -> WorkflowHandle[BmadRunWorkflow, RunResult]:
    """Start a run of an already stored plan. The workflow carries the outline; activities load the rest."""
    rid, wid = new_run_id(plan)
    if run_id:
        rid, wid = run_id, f"bmad-{plan.workflow_id}-{run_id}"
    return await client.start_workflow(
        BmadRunWorkflow.run,
        RunInput(
            run_id=rid,
            outline=plan.outline(),
            inputs=inputs,
            artifacts=artifacts or {},
            auto_approve=auto_approve,
            policy=policy_from(settings),
            approve=approve,
            budget=Budget(
                usd=budget_usd if budget_usd is not None else plan.budget_usd,
                tokens=budget_tokens if budget_tokens is not None else plan.budget_tokens,
            ),
        ),
        id=wid,
        task_queue=task_queue or settings.task_queue,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(WORKFLOW_KEY, plan.workflow_id),
                SearchAttributePair(DEFINITION_KEY, plan.definition_hash),
            ]
        ),
        static_summary=f"BMAD {plan.workflow_id} ({plan.definition_hash[:12]})",
    )


def web_ui_link(settings: Settings, workflow_id: str, namespace: str = "default") -> str:
    return f"{settings.web_ui_url}/namespaces/{namespace}/workflows/{workflow_id}"
