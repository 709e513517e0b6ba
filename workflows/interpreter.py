"""Runs the steps of a PlanOutline inside a workflow: conditions, optional steps, one activity per agent step.

Deterministic workflow code only: no I/O, clocks or randomness. Shared by the run workflow and its
per-iteration child workflows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from bmad.plan import OutlineStep, PlanOutline
    from workflows.contracts import (
        AgentStepInput,
        AgentStepResult,
        ArtifactPointer,
        Decision,
        StepPolicy,
        StepState,
        output_name,
    )

_FALSE = {"false", "no", "n", "0", "off", ""}


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE
    return bool(value)


def step_key(step: OutlineStep, iteration: int | None) -> str:
    return step.id if iteration is None else f"{step.id}[{iteration}]"


class Interpreter:
    def __init__(
        self,
        run_id: str,
        outline: PlanOutline,
        inputs: dict[str, Any],
        policy: StepPolicy,
        artifacts: dict[str, ArtifactPointer],
        decisions: list[Decision],
    ) -> None:
        self.run_id = run_id
        self.outline = outline
        self.inputs = inputs
        self.policy = policy
        self.artifacts = dict(artifacts)
        self.decisions = list(decisions)
        self.steps: dict[str, StepState] = {}
        self.current: str | None = None

    def state(self, step: OutlineStep, iteration: int | None) -> StepState:
        key = step_key(step, iteration)
        if key not in self.steps:
            self.steps[key] = StepState(key=key, step_id=step.id, agent=step.agent, iteration=iteration)
        return self.steps[key]

    def decide(self, condition: str, step_id: str) -> bool:
        for d in self.decisions:
            if d.condition == condition:
                return d.value
        if condition in self.inputs:
            decision = Decision(condition=condition, value=truthy(self.inputs[condition]), source="input", step=step_id)
        else:
            # no input for it: a recorded decision, default false
            decision = Decision(condition=condition, value=False, source="default", step=step_id)
        self.decisions.append(decision)
        return decision.value

    def skip_reason(self, step: OutlineStep) -> str | None:
        if step.condition and not self.decide(step.condition, step.id):
            return f"condition {step.condition} is false"
        skip = self.inputs.get("skip") or []
        if step.id in (skip if isinstance(skip, list) else [skip]):
            return "skipped by run input 'skip'"
        if step.optional and truthy(self.inputs.get("skip_optional", False)):
            return "optional step skipped by run input 'skip_optional'"
        return None

    async def run_range(
        self, start: int, end: int, iteration: int | None = None, item: Any = None, scope: str | None = None
    ) -> None:
        for step in self.outline.steps[start : end + 1]:
            await self.run_step(step, iteration, item, scope)

    async def run_step(
        self, step: OutlineStep, iteration: int | None = None, item: Any = None, scope: str | None = None
    ) -> None:
        st = self.state(step, iteration)
        if step.kind == "control":
            st.status, st.reason = "completed", "control entry: nothing to run"
            return
        reason = self.skip_reason(step)
        if reason:
            st.status, st.reason = "skipped", reason
            return
        name = output_name(step, scope)
        st.status, self.current = "running", st.key
        total = len(self.outline.steps)
        workflow.set_current_details(f"Step {step.index + 1}/{total} `{st.key}`: {step.agent} → {name}")
        result = await workflow.execute_activity(
            "agent_step",
            AgentStepInput(
                run_id=self.run_id,
                definition_hash=self.outline.definition_hash,
                step=step,
                key=st.key,
                iteration=iteration,
                item=item,
                scope=scope,
                available=self.artifacts,
            ),
            result_type=AgentStepResult,
            start_to_close_timeout=timedelta(seconds=self.policy.start_to_close_s),
            heartbeat_timeout=timedelta(seconds=self.policy.heartbeat_s),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=self.policy.retry_initial_s),
                backoff_coefficient=self.policy.retry_backoff,
                maximum_attempts=self.policy.retry_max_attempts,
            ),
            summary=f"{step.agent} → {name}",
        )
        st.status, st.artifact = "completed", result.artifact
        self.artifacts[result.artifact.name] = result.artifact
        self.current = None
