"""Timed runs on one server: engine runs (compiled plans, in-process worker) and bare baseline chains."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.baseline import BareChainWorkflow
from bench.contracts import ChainInput
from bmad import compile_workflow, load_bmad
from bmad.plan import AgentSpec, Plan, PlanStep, RepeatBlock
from botarmy.launch import launch
from botarmy.settings import Settings
from store import Store

ROOT = Path(__file__).resolve().parents[1]
OWN_BMAD = ROOT / ".bmad-core"


def shape_plan(before: int, per_iteration: int, name: str) -> Plan:
    """`before` plain steps, then (per_iteration > 0) a loop `for_each_part` of `per_iteration` steps: the shapes
    the bench compares with a plain chain of as many bare activities."""
    steps = [PlanStep(index=i, id=f"{i + 1:02d}-plain", agent="writer", agents=["writer"], creates=f"doc-{i + 1}.md")
             for i in range(before)]
    for k in range(per_iteration):
        steps.append(PlanStep(index=before + k, id=f"{before + k + 1:02d}-part", agent="writer", agents=["writer"],
                              creates=f"part-{k + 1}.md", repeats="for_each_part" if k == 0 else None))
    blocks = [RepeatBlock(input_name="for_each_part", start=before, end=before + per_iteration - 1)] \
        if per_iteration else []
    return Plan(workflow_id=f"bench-{name}", steps=steps, repeat_blocks=blocks,
                agents={"writer": AgentSpec(id="writer", name="Writer", system_message="You write.")}).seal()


@dataclass
class Timed:
    """One finished run: its wall time, the agent steps it executed, and its Temporal workflow id."""

    wall_s: float
    steps: int
    workflow_id: str
    run_id: str = ""


@dataclass
class Bench:
    client: Client
    settings: Settings
    store: Store
    bare_queue: str
    shell_queue: str  # a worker whose agent step is a no-op (bench.baseline.shell_step)

    def save(self, plan: Plan) -> Plan:
        self.store.save_plan(plan.definition_hash, plan.workflow_id, plan.model_dump_json())
        return plan

    def compile_own(self, workflow_id: str) -> Plan:
        return self.save(compile_workflow(load_bmad([OWN_BMAD]), workflow_id))

    async def engine_run(
        self,
        plan: Plan,
        inputs: dict[str, Any],
        files: dict[str, bytes] | None = None,
        run_id: str | None = None,
        count_steps: bool = True,
        shell: bool = False,
    ) -> Timed:
        """One run to its end; `count_steps=False` leaves `steps` at 0 (the caller counts them after its clock
        stops, so reading the store is not charged to the engine); `shell=True` runs it on the shell worker."""
        t0 = time.perf_counter()
        launched = await launch(self.client, self.store, self.settings, plan, inputs, files, auto_approve=True,
                                run_id=run_id, task_queue=self.shell_queue if shell else None)
        handle = launched.handle
        result = await handle.result()
        wall = time.perf_counter() - t0
        if result.status != "completed":
            raise RuntimeError(f"engine run {handle.id} ended {result.status}")
        steps = await asyncio.to_thread(self.executed_steps, result.run_id) if count_steps else 0
        return Timed(wall, steps, handle.id, result.run_id)

    def executed_steps(self, run_id: str) -> int:
        """Agent steps that actually ran, as the store recorded them (skipped and control steps excluded)."""
        run = self.store.get_run(run_id)
        if run is None:
            raise RuntimeError(f"run {run_id} is not in the store")
        return sum(1 for s in run.steps if s.status == "completed" and s.attempts >= 1)

    def shape(self, run_id: str) -> tuple[int, list[int]]:
        """(agent steps the run executed itself, agent steps of each iteration child workflow), from the store."""
        run = self.store.get_run(run_id)
        if run is None:
            raise RuntimeError(f"run {run_id} is not in the store")
        executed = [s for s in run.steps if s.status == "completed" and s.attempts >= 1]
        per_iteration: dict[int, int] = {}
        for s in executed:
            if s.iteration is not None:
                per_iteration[s.iteration] = per_iteration.get(s.iteration, 0) + 1
        return len(executed) - sum(per_iteration.values()), [per_iteration[n] for n in sorted(per_iteration)]

    async def bare_run(self, steps: int, children: list[int] | None = None) -> Timed:
        """A chain of `steps` no-op activities, then one child workflow per entry of `children` chaining that many."""
        rid = uuid.uuid4().hex[:10]
        t0 = time.perf_counter()
        result = await self.client.execute_workflow(
            BareChainWorkflow.run,
            ChainInput(run_id=rid, steps=steps, children=children or []),
            id=f"bench-bare-{rid}",
            task_queue=self.bare_queue,
        )
        return Timed(time.perf_counter() - t0, result.steps, f"bench-bare-{rid}", rid)
