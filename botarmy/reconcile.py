"""The store never disagrees with Temporal for long: a run the store shows running whose workflow Temporal closed
outside BotArmy's code (terminated by a person or by the server at its history limit, timed out, failed by its
workflow tasks, cancelled) is ended in the store with Temporal's reason, its open steps closed, its terminal
event published.

A run that ends by itself records its end before its workflow closes, so only a run whose workflow was closed
from outside is touched. Called periodically by every worker (`reconcile_periodically`), and by `botarmy status`,
`botarmy cancel`, `GET /runs/{id}` and `POST /runs/{id}/cancel` for the run they show.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowHistoryEventFilterType
from temporalio.service import RPCError, RPCStatusCode

from store import RunView, Store

log = structlog.get_logger(__name__)
Publish = Callable[[str, int, str, dict[str, Any]], None]  # (run_id, seq, type, data), like EventSink.publish

# how the store records a workflow that was closed outside our code
ENDED_AS = {
    WorkflowExecutionStatus.TERMINATED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
}
_PAGE = 200


@dataclass(frozen=True)
class Reconciled:
    run_id: str
    status: str  # what the store now says
    reason: str  # Temporal's, as stored in the run's error


async def close_reason(handle: WorkflowHandle[Any, Any], status: WorkflowExecutionStatus) -> str:
    """What Temporal says about how the workflow closed, from its close event."""
    async for event in handle.fetch_history_events(event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            attrs = event.workflow_execution_terminated_event_attributes
            by = f" by {attrs.identity}" if attrs.identity else ""
            return f"Temporal terminated the workflow{by}: {attrs.reason or 'no reason given'}"
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
            return "Temporal timed the workflow out (its execution or run timeout passed)"
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            failure = event.workflow_execution_failed_event_attributes.failure
            return f"the workflow failed in Temporal: {failure.message or 'no message'}"
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
            return "the workflow was cancelled in Temporal before the run recorded its end"
    return f"Temporal closed the workflow ({status.name.lower()})"


async def reconcile_run(client: Client, store: Store, view: RunView, publish: Publish | None = None
                        ) -> Reconciled | None:
    """End `view`'s run in the store when the store says running and Temporal has closed its workflow from
    outside; None when there is nothing to do (not running, still running in Temporal, or unknown to it)."""
    if view.status != "running":
        return None
    handle = client.get_workflow_handle(view.temporal_workflow_id)  # no run id: the latest of a continued chain
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:  # another server, or a run not started yet: not ours to judge
            return None
        raise
    status = ENDED_AS.get(described.status) if described.status else None
    if status is None:
        return None
    reason = await close_reason(handle, described.status)  # type: ignore[arg-type]
    seq = await asyncio.to_thread(store.end_if_running, view.run_id, status, reason)
    if seq is None:  # it recorded its own end meanwhile
        return None
    log.info("run.reconciled", run_id=view.run_id, status=status, reason=reason)
    if publish is not None:
        await asyncio.to_thread(publish, view.run_id, seq, f"run.{status}", {"error": reason, "reconciled": True})
    return Reconciled(view.run_id, status, reason)


async def reconcile_running(client: Client, store: Store, publish: Publish | None = None) -> list[Reconciled]:
    """One pass over every run the store shows running."""
    running: list[RunView] = []
    while True:
        page = await asyncio.to_thread(store.list_runs, "running", None, _PAGE, len(running))
        running.extend(page)
        if len(page) < _PAGE:
            break
    done = []
    for view in running:
        found = await reconcile_run(client, store, view, publish)
        if found is not None:
            done.append(found)
    return done


async def reconcile_periodically(client: Client, store: Store, interval_s: float,
                                 publish: Publish | None = None) -> None:
    """A pass every `interval_s` until cancelled; a pass that fails (database or Temporal away) is logged and the
    next one tries again."""
    while True:
        try:
            await reconcile_running(client, store, publish)
        except Exception as exc:  # noqa: BLE001 - an outage must not end the loop; the next pass retries
            log.warning("reconcile.pass_failed", error=str(exc), kind=type(exc).__name__)
        await asyncio.sleep(interval_s)
