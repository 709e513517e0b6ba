"""What a running workflow says about itself: its `progress` Query, and the approvals it waits for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError, RPCStatusCode

from api.problems import TemporalUnavailable
from workflows.contracts import RunProgress
from workflows.run import BmadRunWorkflow

QUERY_TIMEOUT = timedelta(seconds=3)


class PendingApproval(BaseModel):
    step: str
    agent: str | None = None
    artifact: Any = None
    requested_at: str | None = None
    kind: str = "approval"
    version: int | None = None
    question: str | None = None
    choices: list[str] = []  # a route's branches
    role: str | None = None
    timeout_at: str | None = None


async def query_progress(client: Client, temporal_workflow_id: str) -> RunProgress | None:
    """The run's progress, or None when the workflow cannot answer now (closed, unknown, no worker in time).
    Raises TemporalUnavailable when the server itself is down."""
    handle = client.get_workflow_handle_for(BmadRunWorkflow.run, temporal_workflow_id)
    try:
        return await handle.query(BmadRunWorkflow.progress, rpc_timeout=QUERY_TIMEOUT)
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError):
        return None
    except RPCError as err:
        if err.status == RPCStatusCode.UNAVAILABLE:
            raise TemporalUnavailable(err.message) from err
        return None


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def pending_approvals(progress: RunProgress | None) -> list[PendingApproval]:
    """`progress.pending_approvals` as {step, agent, artifact, requested_at}; [] while the workflow has none."""
    found = getattr(progress, "pending_approvals", None) or []
    out = []
    for item in found:
        data = _plain(item)
        if not isinstance(data, dict):
            continue
        requested, timeout = data.get("requested_at"), data.get("timeout_at")
        out.append(PendingApproval(
            step=str(data.get("step") or data.get("key") or ""),
            agent=data.get("agent"),
            artifact=_plain(data.get("artifact")),
            requested_at=None if requested is None else _iso(requested),
            kind=str(data.get("kind") or "approval"),
            version=data.get("version"),
            question=data.get("question"),
            choices=[str(c) for c in data.get("choices") or []],
            role=data.get("role"),
            timeout_at=None if timeout is None else _iso(timeout),
        ))
    return out
