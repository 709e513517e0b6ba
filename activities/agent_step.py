"""The agent-step activity: one AutoGen agent run per BMAD step, its output stored as a versioned artifact."""

from __future__ import annotations

import asyncio
import contextlib
from functools import lru_cache
from typing import Any

import structlog
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import TextMessage
from temporalio import activity

from activities.errors import EmptyOutputError, to_application_error
from activities.events import EventSink
from activities.prompt import build_task_prompt
from bmad.plan import Plan
from botarmy.settings import Settings
from providers.factory import ModelChoice, build_client, parse_model
from store import ArtifactRef, Store
from workflows.contracts import (
    COLLECTIVE_INPUTS,
    AgentStepInput,
    AgentStepResult,
    ArtifactPointer,
    output_name,
    resolve_requires,
)

log = structlog.get_logger(__name__)


def _agent_name(agent: str | None) -> str:
    # AutoGen agent names must be identifiers
    cleaned = "".join(c if c.isalnum() else "_" for c in (agent or "agent"))
    return cleaned if cleaned[:1].isalpha() else f"agent_{cleaned}"


def output_key(inp: AgentStepInput) -> str:
    """Idempotency key of one output: the step key, plus the revision when a person asked for another."""
    return inp.key if not inp.revision else f"{inp.key}@r{inp.revision}"


class AgentStepActivities:
    def __init__(self, settings: Settings, store: Store, events: EventSink) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self._plans = lru_cache(maxsize=64)(self._load_plan)

    def _load_plan(self, definition_hash: str) -> Plan:
        return Plan.model_validate_json(self.store.load_plan(definition_hash))

    def _system_message(self, plan: Plan, agent: str | None) -> str:
        parts = [plan.agents[a].system_message for a in (agent or "").split("/") if a in plan.agents]
        return "\n\n".join(parts) or "You are a helpful member of a software delivery team."

    async def _heartbeat(self, what: str) -> None:
        # short steps finish before the first beat; long ones beat well inside the heartbeat timeout
        while True:
            await asyncio.sleep(max(0.5, self.settings.step_heartbeat_s / 3))
            activity.heartbeat(what)

    @activity.defn(name="agent_step")
    async def agent_step(self, inp: AgentStepInput) -> AgentStepResult:
        info = activity.info()
        attempt = info.attempt
        name = output_name(inp.step, inp.scope)
        key = output_key(inp)
        slog = log.bind(run_id=inp.run_id, step=inp.key, attempt=attempt)
        # idempotency: a retry after the output was stored reuses it and never calls the model again
        done = await asyncio.to_thread(self.store.find_artifact, inp.run_id, key, name)
        if done is not None:
            slog.info("step.reused", artifact=name, version=done.version)
            await asyncio.to_thread(self.store.step_finished, inp.run_id, inp.key, "completed")
            return AgentStepResult(key=inp.key, artifact=ArtifactPointer.of(done), attempts=attempt)
        choice = parse_model(self.settings.model)
        started = ("step.started", {"step": inp.key, "agent": inp.step.agent, "attempt": attempt,
                                    "revision": inp.revision, "model": choice.label})
        seq = await asyncio.to_thread(
            self.store.start_step, inp.run_id, inp.key, inp.step.id, inp.step.agent, inp.iteration, attempt, started
        )
        await asyncio.to_thread(self.events.publish, inp.run_id, seq, *started)
        slog.info("step.started", agent=inp.step.agent, output=name, model=choice.label)
        beat = asyncio.create_task(self._heartbeat(f"{inp.step.agent} → {name}"))
        try:
            content, usage = await self._run_agent(inp, name, choice)
        except Exception as exc:
            err = to_application_error(exc, choice)
            final = err.non_retryable or attempt >= self.settings.retry_max_attempts
            status = "failed" if final else "retrying"
            event = (f"step.{status}", {"step": inp.key, "attempt": attempt, "error": err.message})
            seq = await asyncio.to_thread(self.store.fail_step, inp.run_id, inp.key, status, err.message, event)
            await asyncio.to_thread(self.events.publish, inp.run_id, seq, *event)
            slog.warning(event[0], error=err.message)
            raise err from exc
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        ref = await asyncio.to_thread(
            self._store_output, inp, key, name, content, choice.provider, choice.model, usage
        )
        slog.info("step.completed", artifact=name, version=ref.version, bytes=ref.bytes)
        return AgentStepResult(
            key=inp.key,
            artifact=ArtifactPointer.of(ref),
            attempts=attempt,
            prompt_tokens=usage[0],
            completion_tokens=usage[1],
        )

    def _store_output(
        self, inp: AgentStepInput, key: str, name: str, content: str, provider: str, model: str,
        usage: tuple[int, int],
    ) -> ArtifactRef:
        def events_for(ref: ArtifactRef) -> list[tuple[str, dict[str, Any]]]:
            return [
                ("usage.recorded", {"step": inp.key, "provider": provider, "model": model,
                                    "prompt_tokens": usage[0], "completion_tokens": usage[1]}),
                ("artifact.created", {"name": name, "version": ref.version, "step": inp.key,
                                      "sha256": ref.sha256, "bytes": ref.bytes}),
                ("step.completed", {"step": inp.key, "artifact": name, "version": ref.version}),
            ]

        ref, stored = self.store.complete_step(
            inp.run_id, inp.key, key, name, content.encode(), (provider, model, *usage), events_for
        )
        for seq, type_, data in stored:
            self.events.publish(inp.run_id, seq, type_, data)
        return ref

    def _read_inputs(self, inp: AgentStepInput) -> tuple[dict[str, str], list[str]]:
        names = resolve_requires(inp.step, inp.available, inp.scope)
        texts = {n: self.store.read_artifact(inp.available[n].id).decode() for n in names}
        missing = [
            r
            for r in inp.step.requires
            if r not in COLLECTIVE_INPUTS and r not in names and f"{inp.scope}/{r}" not in names
        ]
        return texts, missing

    async def _run_agent(self, inp: AgentStepInput, name: str, choice: ModelChoice) -> tuple[str, tuple[int, int]]:
        plan = await asyncio.to_thread(self._plans, inp.definition_hash)
        step = plan.steps[inp.step.index]
        texts, missing = await asyncio.to_thread(self._read_inputs, inp)
        prompt = build_task_prompt(plan, step, name, texts, missing, inp.item, inp.scope, inp.feedback)
        client = build_client(self.settings, choice)
        try:
            agent = AssistantAgent(
                _agent_name(inp.step.agent),
                model_client=client,
                system_message=self._system_message(plan, inp.step.agent),
            )
            result = await agent.run(task=prompt)
        finally:
            await client.close()
        replies = [m for m in result.messages if isinstance(m, TextMessage) and m.source == agent.name]
        prompt_tokens = sum(m.models_usage.prompt_tokens for m in replies if m.models_usage)
        completion_tokens = sum(m.models_usage.completion_tokens for m in replies if m.models_usage)
        content = replies[-1].content.strip() if replies else ""
        if not content:
            raise EmptyOutputError("the model returned an empty document")
        return content + "\n", (prompt_tokens, completion_tokens)
