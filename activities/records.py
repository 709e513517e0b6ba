"""Run bookkeeping activities: one at the start of a run, one at its end (never per step)."""

from __future__ import annotations

import asyncio

import structlog
from temporalio import activity

from activities.events import EventSink
from store import Store
from workflows.contracts import AmendInput, ArtifactPointer, FinishRunInput, StartRunInput

log = structlog.get_logger(__name__)


class RecordActivities:
    def __init__(self, store: Store, events: EventSink) -> None:
        self.store = store
        self.events = events

    @activity.defn(name="start_run")
    async def start_run(self, inp: StartRunInput) -> None:
        def write() -> None:
            self.store.create_run(
                inp.run_id, inp.workflow_id, inp.temporal_workflow_id, inp.definition_hash, inp.inputs
            )
            self.store.ensure_steps(inp.run_id, [(s.key, s.step_id, s.agent, s.iteration) for s in inp.steps])

        await asyncio.to_thread(write)
        await self.events.aemit(inp.run_id, "run.started", {"workflow": inp.workflow_id, "inputs": inp.inputs,
                                                            "definition_hash": inp.definition_hash})
        log.info("run.started", run_id=inp.run_id, workflow=inp.workflow_id)

    @activity.defn(name="finish_run")
    async def finish_run(self, inp: FinishRunInput) -> None:
        def write() -> None:
            for s in inp.steps:
                self.store.set_step_status(inp.run_id, s.key, s.step_id, s.agent, s.iteration, s.status)
            decisions = [{"kind": "condition", **d.model_dump(mode="json")} for d in inp.decisions]
            decisions += [a.model_dump(mode="json") for a in inp.approvals]
            self.store.finish_run(inp.run_id, inp.status, inp.error, decisions)

        await asyncio.to_thread(write)
        await self.events.aemit(inp.run_id, f"run.{inp.status}", {"error": inp.error})
        log.info("run.finished", run_id=inp.run_id, status=inp.status)

    @activity.defn(name="store_amendment")
    async def store_amendment(self, inp: AmendInput) -> ArtifactPointer:
        """A person's edited version of an artifact, stored as its next version (idempotent per amendment)."""
        ref = await asyncio.to_thread(
            self.store.put_artifact, inp.run_id, inp.name, inp.content.encode(), f"{inp.key}@amend{inp.amendment}"
        )
        await self.events.aemit(inp.run_id, "artifact.created", {"name": ref.name, "version": ref.version,
                                                                 "step": inp.key, "by": inp.by, "amended": True})
        return ArtifactPointer.of(ref)
