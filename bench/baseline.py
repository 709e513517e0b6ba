"""The bare Temporal baseline: one workflow chaining N no-op activities, with the engine's worker options, and
optionally child workflows chaining theirs (the shape of a run whose repeat iterations are child workflows).

It is what the engine would cost if a step were nothing but a Temporal activity: the ratio engine ÷ bare is the
price of the interpreter, bookkeeping, store writes and AutoGen.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

from botarmy.settings import Settings
from worker import workflow_runner

with workflow.unsafe.imports_passed_through():
    from bench.contracts import ChainInput, ChainResult, NoopInput, NoopResult
    from workflows.contracts import ACTIVITY_AGENT_STEP, AgentStepInput, AgentStepResult, ArtifactPointer, output_name


@activity.defn(name="bench_noop")
async def noop(inp: NoopInput) -> NoopResult:
    return NoopResult(key=inp.key, index=inp.index)


@activity.defn(name=ACTIVITY_AGENT_STEP)
async def shell_step(inp: AgentStepInput) -> AgentStepResult:
    """The agent step with its work taken out (no store, no prompt, no AutoGen, no model): a run on a worker with
    this activity is the engine's shell, the interpreter workflows and the run bookkeeping around the steps. Only
    the bench's shell phase registers it, on a task queue of its own."""
    pointer = ArtifactPointer(name=output_name(inp.step, inp.scope), id=0, version=1, sha256="0" * 64, bytes=0)
    return AgentStepResult(key=inp.key, artifact=pointer, attempts=activity.info().attempt)


@workflow.defn(name="BenchBareChain")
class BareChainWorkflow:
    @workflow.run
    async def run(self, inp: ChainInput) -> ChainResult:
        for i in range(inp.steps):
            # the same activity options the interpreter sets on an agent step
            await workflow.execute_activity(
                noop,
                NoopInput(run_id=inp.run_id, key=f"step-{i + 1}", index=i),
                start_to_close_timeout=timedelta(seconds=600),
                heartbeat_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=4),
                summary=f"noop {i + 1}",
            )
        steps = inp.steps
        for n, count in enumerate(inp.children, start=1):  # the shape of a run with repeat iterations
            child = await workflow.execute_child_workflow(
                BareChainWorkflow.run, ChainInput(run_id=inp.run_id, steps=count),
                id=f"{workflow.info().workflow_id}-child-{n}",
            )
            steps += child.steps
        return ChainResult(run_id=inp.run_id, steps=steps)


def build_bare_worker(client: Client, settings: Settings, task_queue: str) -> Worker:
    """A worker with the options of `worker.build_worker`, running only the baseline."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BareChainWorkflow],
        activities=[noop],
        activity_executor=ThreadPoolExecutor(max_workers=settings.max_concurrent_activities),
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.sticky_schedule_to_start_s),
        workflow_runner=workflow_runner(settings.workflow_sandbox, ("bench",)),  # as the engine's worker runs
    )
