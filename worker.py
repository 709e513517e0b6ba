"""Starts a BotArmy worker: the interpreter workflows and the agent-step activities on one task queue."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.worker import (
    FixedSizeSlotSupplier,
    ResourceBasedSlotConfig,
    ResourceBasedSlotSupplier,
    ResourceBasedTunerConfig,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkerTuner,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.agent_step import AgentStepActivities
from activities.events import EventActivities, EventSink
from activities.records import RecordActivities
from activities.scheduled import ScheduleActivities
from botarmy.logging import configure_logging
from botarmy.reconcile import reconcile_periodically
from botarmy.settings import Settings, get_settings
from botarmy.slots import PacedActivitySlots
from botarmy.temporal import connect, ensure_search_attributes
from store import Store, get_store
from workflows.run import BmadIterationWorkflow, BmadRunWorkflow
from workflows.scheduled import BmadScheduledLaunchWorkflow

log = structlog.get_logger(__name__)


def workflow_runner(sandbox: bool = False, passthrough: tuple[str, ...] = ("workflows", "bmad")) -> WorkflowRunner:
    """How the worker runs workflow code: unsandboxed by default, Temporal's sandbox with `sandbox=True`.

    The sandbox would re-import a workflow's module for every new workflow instance unless it is passed through
    (~3-5 ms of CPU per run and per iteration child), so `workflows` and `bmad` are passed through, and a
    passed-through module is neither re-imported nor restricted: the sandbox then checks almost nothing of our
    code while it still costs CPU on every activation and every payload (it `exec`s a source string to reach the
    workflow instance each time: ~10 % of a worker's CPU under load). What keeps `workflows/` deterministic is
    tests/workflows/test_determinism.py (no clocks, randomness, environment or I/O in its source) and the replay
    tests, which replay every recorded history under both runners. `BOTARMY_WORKFLOW_SANDBOX=true` brings the
    sandbox back, e.g. while hunting a suspected non-determinism."""
    if not sandbox:
        return UnsandboxedWorkflowRunner()
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*passthrough))


def _slots(settings: Settings) -> dict[str, Any]:
    """Worker slot options: fixed counts (activity slots paced by how fast this worker starts them, see
    botarmy/slots.py, unless `activity_backlog` is 0), or activity slots by the machine's CPU and memory
    (`activity_slots`)."""
    if settings.activity_slots == "fixed" and settings.activity_backlog == 0:
        return {"max_concurrent_activities": settings.max_concurrent_activities,
                "max_concurrent_workflow_tasks": settings.max_concurrent_workflow_tasks}
    if settings.activity_slots == "fixed":
        paced = PacedActivitySlots(settings.max_concurrent_activities, settings.activity_backlog)
        tuner = WorkerTuner.create_composite(
            workflow_supplier=FixedSizeSlotSupplier(settings.max_concurrent_workflow_tasks),
            activity_supplier=paced, local_activity_supplier=FixedSizeSlotSupplier(100),
            nexus_supplier=FixedSizeSlotSupplier(100))
        return {"tuner": tuner, "interceptors": [paced.interceptor()]}
    resources = ResourceBasedTunerConfig(target_memory_usage=0.8, target_cpu_usage=0.9)
    fixed = FixedSizeSlotSupplier(settings.max_concurrent_workflow_tasks)
    activities = ResourceBasedSlotSupplier(ResourceBasedSlotConfig(
        minimum_slots=10, maximum_slots=settings.max_concurrent_activities, ramp_throttle=timedelta(milliseconds=20),
    ), resources)
    return {"tuner": WorkerTuner.create_composite(workflow_supplier=fixed, activity_supplier=activities,
                                                  local_activity_supplier=FixedSizeSlotSupplier(100),
                                                  nexus_supplier=FixedSizeSlotSupplier(10))}


def build_worker(
    client: Client,
    settings: Settings,
    store: Store,
    task_queue: str | None = None,
    agent_step: Callable[..., Any] | None = None,
) -> Worker:
    """The worker; `agent_step` replaces the agent-step activity (the bench's shell phase swaps in a no-op to
    measure what the engine costs around its steps)."""
    events = EventSink(store, settings.redis_url)
    steps = AgentStepActivities(settings, store, events)
    records = RecordActivities(store, events, settings.store_outage_s, settings.store_inline)
    emitter = EventActivities(events)
    scheduled = ScheduleActivities(settings, store)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[BmadRunWorkflow, BmadIterationWorkflow, BmadScheduledLaunchWorkflow],
        activities=[agent_step or steps.agent_step, records.start_run, records.finish_run, records.store_amendment,
                    emitter.emit_event, scheduled.launch_scheduled],
        activity_executor=ThreadPoolExecutor(max_workers=settings.max_concurrent_activities),
        **_slots(settings),
        max_cached_workflows=settings.max_cached_workflows,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.sticky_schedule_to_start_s),
        workflow_runner=workflow_runner(settings.workflow_sandbox),
    )


def check_models(settings: Settings) -> None:
    """Raise ModelConfigError (naming the variable to set) when a model the config uses first (the default, an
    agent's or a step's model: not a fallback, which may be meant to fail over) cannot be called from this
    process: a worker that cannot run a step says so at start, not at its first step."""
    from providers.config import from_model_spec, load_config
    from providers.factory import build_client, parse_model

    config = load_config(settings.providers_file) if settings.providers_file else from_model_spec(settings.model)
    for override in [config.default, *config.agents.values(), *config.steps.values()]:
        if override.model:
            build_client(settings, parse_model(override.model), config)


def freeze_startup_heap() -> None:
    """Move what the worker holds after starting (modules, classes, the plans and clients it built: ~270,000
    objects) out of the cyclic garbage collector's reach (`gc.freeze`). Each full collection walked all of them:
    with 200 model calls in flight one took ~200 ms, a pause of the event loop that every step and heartbeat
    waited out (bench/llm_load.py: 0.41 s of full collections in a 10 s phase, 0.06 s frozen). Call once, when
    the process has finished starting; objects made later are collected as usual."""
    gc.collect()
    gc.freeze()


async def run_worker(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    check_models(settings)
    store = get_store(settings.database_url)
    await asyncio.to_thread(store.migrate)
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    await ensure_search_attributes(client)
    worker = build_worker(client, settings, store)
    freeze_startup_heap()
    log.info("worker.started", task_queue=settings.task_queue, address=settings.temporal_address)
    # the store never disagrees with Temporal for long: runs closed outside our code are ended in the store
    reconciler = asyncio.create_task(reconcile_periodically(
        client, store, settings.reconcile_interval_s, EventSink(store, settings.redis_url).publish))
    try:
        await worker.run()
    finally:
        reconciler.cancel()


if __name__ == "__main__":
    asyncio.run(run_worker())
