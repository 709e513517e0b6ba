"""The completion-criteria step (bmad/criteria.py): BotArmy checks the run's documents, no model is called.

It runs as the `agent_step` activity so that the workflow code, which only knows agent and control steps, needs
no change: every criterion that holds gives the step's report; one that fails fails the run, naming it.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from bmad.criteria import document_of, report
from bmad.plan import Plan
from store import ArtifactRef, StepCompletion, Store
from workflows.contracts import AgentStepInput, AgentStepResult, ArtifactPointer, output_name


def failure_message(failed: list[str]) -> str:
    first = failed[0]
    more = f" (and {len(failed) - 1} more: {', '.join(failed[1:])})" if len(failed) > 1 else ""
    return f"completion criterion '{first}' failed: no document {document_of(first)} was written{more}"


def check_criteria(store: Store, plan: Plan, inp: AgentStepInput, output_key: str,
                   publish: Any) -> AgentStepResult:
    """The report as the step's artifact, or ApplicationError(non_retryable) naming the criterion that failed
    (sync: call from a thread). Idempotent: a retry after the report was stored returns it."""
    attempt = activity.info().attempt
    name = output_name(inp.step, inp.scope)
    done = store.find_artifact(inp.run_id, output_key, name)
    if done is None:
        started: tuple[str, dict[str, Any]] = ("step.started", {
            "step": inp.key, "agent": inp.step.agent, "attempt": attempt, "revision": inp.revision, "model": None,
            "fallbacks": []})
        publish(inp.run_id, store.start_step(inp.run_id, inp.key, inp.step.id, inp.step.agent, inp.iteration,
                                             attempt, started), *started)
        text, failed = report(plan.steps[inp.step.index].criteria, inp.available)
        if failed:
            message = failure_message(failed)
            event = ("step.failed", {"step": inp.key, "attempt": attempt, "error": message})
            publish(inp.run_id, store.fail_step(inp.run_id, inp.key, "failed", message, event), *event)
            raise ApplicationError(message, type="CompletionCriteria", non_retryable=True)

        def events_for(ref: ArtifactRef) -> list[tuple[str, dict[str, Any]]]:
            return [("artifact.created", {"name": name, "version": ref.version, "step": inp.key,
                                          "sha256": ref.sha256, "bytes": ref.bytes}),
                    ("step.completed", {"step": inp.key, "artifact": name, "version": ref.version,
                                        "provider": None, "model": None})]

        done, stored = store.complete_step(StepCompletion(
            run_id=inp.run_id, key=inp.key, output_key=output_key, name=name, content=text.encode(), calls=[],
            events_for=events_for))
        for seq, type_, data in stored:
            publish(inp.run_id, seq, type_, data)
    return AgentStepResult(key=inp.key, artifact=ArtifactPointer.of(done), attempts=attempt)
