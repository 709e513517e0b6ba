"""Starts a BotArmy worker: the interpreter workflows and the agent-step activities on one task queue."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.agent_step import AgentStepActivities
from activities.events import EventActivities, EventSink
from activities.records import RecordActivities
from botarmy.logging import configure_logging
from botarmy.settings import Settings, get_settings
from botarmy.temporal import connect, ensure_search_attributes
from store import Store, get_store
from workflows.run import BmadIterationWorkflow, BmadRunWorkflow

log = structlog.get_logger(__name__)


def workflow_runner(*own: str) -> SandboxedWorkflowRunner:
    """The sandbox with our workflow packages passed through: the sandbox re-imports a workflow's module for every
    new workflow instance unless it is passed through, which cost ~3-5 ms of CPU per run (and per iteration child).
    Temporal recommends passing through deterministic modules; what keeps `workflows/` deterministic is
    tests/workflows/test_determinism.py (no clocks, randomness or I/O in its source) and the replay tests."""
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*own))


def build_worker(client: Client, settings: Settings, store: Store, task_queue: str | None = None) -> Worker:
    events = EventSink(store, settings.redis_url)
    steps = AgentStepActivities(settings, store, events)
    records = RecordActivities(store, events, settings.store_outage_s)
    emitter = EventActivities(events)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[BmadRunWorkflow, BmadIterationWorkflow],
        activities=[steps.agent_step, records.start_run, records.finish_run, records.store_amendment,
                    emitter.emit_event],
        activity_executor=ThreadPoolExecutor(max_workers=settings.max_concurrent_activities),
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.sticky_schedule_to_start_s),
        workflow_runner=workflow_runner("workflows", "bmad"),
    )


async def run_worker(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    store = get_store(settings.database_url)
    await asyncio.to_thread(store.migrate)
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    await ensure_search_attributes(client)
    worker = build_worker(client, settings, store)
    log.info("worker.started", task_queue=settings.task_queue, address=settings.temporal_address)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(run_worker())
