"""Run bookkeeping activities: one at the start of a run, one at its end (never per step)."""

from __future__ import annotations

import asyncio

import structlog
from temporalio import activity

from store import Store
from workflows.contracts import FinishRunInput, StartRunInput

log = structlog.get_logger(__name__)


class RecordActivities:
    def __init__(self, store: Store) -> None:
        self.store = store

    @activity.defn(name="start_run")
    async def start_run(self, inp: StartRunInput) -> None:
        def write() -> None:
            self.store.create_run(
                inp.run_id, inp.workflow_id, inp.temporal_workflow_id, inp.definition_hash, inp.inputs
            )
            self.store.ensure_steps(inp.run_id, [(s.key, s.step_id, s.agent, s.iteration) for s in inp.steps])

        await asyncio.to_thread(write)
        log.info("run.started", run_id=inp.run_id, workflow=inp.workflow_id)

    @activity.defn(name="finish_run")
    async def finish_run(self, inp: FinishRunInput) -> None:
        def write() -> None:
            for s in inp.steps:
                self.store.set_step_status(inp.run_id, s.key, s.step_id, s.agent, s.iteration, s.status)
            self.store.finish_run(
                inp.run_id, inp.status, inp.error, [d.model_dump(mode="json") for d in inp.decisions]
            )

        await asyncio.to_thread(write)
        log.info("run.finished", run_id=inp.run_id, status=inp.status)
