"""Run bookkeeping activities: one at the start of a run, one at its end (never per step)."""

from __future__ import annotations

import asyncio

import structlog
from temporalio import activity

from activities.events import EventSink
from activities.storecalls import db_call, inline_calls
from store import ArtifactRef, Store
from workflows.contracts import (
    ACTIVITY_FINISH_RUN,
    ACTIVITY_START_RUN,
    ACTIVITY_STORE_AMENDMENT,
    AmendInput,
    ArtifactPointer,
    FinishRunInput,
    StartRunInput,
    run_started_event,
)

log = structlog.get_logger(__name__)


class RecordActivities:
    def __init__(self, store: Store, events: EventSink, outage_s: float = 60.0, inline: bool = True) -> None:
        self.store = store
        self.events = events
        self.outage_s = outage_s
        self.inline = inline_calls(store, events.redis_url, inline)  # store calls on the loop (store/inline.py)

    async def _emit_once(self, run_id: str, type_: str, data: dict, match: dict | None = None) -> None:
        """Store the event unless a retried attempt already did; publish what was stored."""
        seq = await db_call(self.store.append_event_once, run_id, type_, data, match, outage_s=self.outage_s,
                            inline=self.inline)
        if seq is not None:
            await asyncio.to_thread(self.events.publish, run_id, seq, type_, data)

    @activity.defn(name=ACTIVITY_START_RUN)
    async def start_run(self, inp: StartRunInput) -> None:
        def write() -> None:  # one transaction, and the publish in the same thread hop
            # the run's inputs as stored by hash (the workflow carries only those it reads itself)
            inputs = self.store.load_inputs(inp.inputs_ref) if inp.inputs_ref else inp.inputs
            event = run_started_event(inp.workflow_id, inputs, inp.definition_hash)
            seq = self.store.begin_run(
                inp.run_id, inp.workflow_id, inp.temporal_workflow_id, inp.definition_hash, inputs,
                [(s.key, s.step_id, s.agent, s.iteration) for s in inp.steps], event, inp.model_ref,
            )
            if seq is not None:
                self.events.publish(inp.run_id, seq, *event)

        await db_call(write, outage_s=self.outage_s, inline=self.inline)
        log.info("run.started", run_id=inp.run_id, workflow=inp.workflow_id)

    @activity.defn(name=ACTIVITY_FINISH_RUN)
    async def finish_run(self, inp: FinishRunInput) -> None:
        decisions = [{"kind": "condition", **d.model_dump(mode="json")} for d in inp.decisions]
        decisions += [a.model_dump(mode="json") for a in inp.approvals]
        event = (f"run.{inp.status}", {"error": inp.error})

        def write() -> None:
            seq = self.store.end_run(
                inp.run_id, inp.status, inp.error, decisions,
                [(s.key, s.step_id, s.agent, s.iteration, s.status) for s in inp.steps], event,
            )
            if seq is not None:
                self.events.publish(inp.run_id, seq, *event)

        await db_call(write, outage_s=self.outage_s, inline=self.inline)
        log.info("run.finished", run_id=inp.run_id, status=inp.status)

    @activity.defn(name=ACTIVITY_STORE_AMENDMENT)
    async def store_amendment(self, inp: AmendInput) -> ArtifactPointer:
        """A person's edited version of an artifact, stored as its next version (idempotent per amendment).

        A rerun's carried step recorded its parent's amendments here under their own keys (`02-pm@amend1`), so an
        amendment of it in this run is keyed with this run's id (`02-pm@amend1@<run>`), as its revisions are
        (StepReuse.own_key): never taken for the parent's."""

        def write() -> ArtifactRef:
            key = f"{inp.key}@amend{inp.amendment}"
            plan = self.store.reuse_plan(inp.run_id)
            if plan is not None and inp.key in plan.carry:
                key = f"{key}@{inp.run_id}"
            return self.store.put_artifact(inp.run_id, inp.name, inp.content.encode(), key)

        ref = await db_call(write, outage_s=self.outage_s, inline=self.inline)
        data = {"name": ref.name, "version": ref.version, "step": inp.key, "by": inp.by, "amended": True}
        await self._emit_once(inp.run_id, "artifact.created", data, {"name": ref.name, "version": ref.version})
        return ArtifactPointer.of(ref)
