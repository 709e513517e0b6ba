"""The agent-step activity: one AutoGen conversation per BMAD step on the step's models (primary, then fallbacks),
its answer checked (one corrective re-ask), stored with its usage and cost as a versioned artifact in one commit.

Fallback rule: within ONE activity attempt, a model that fails with a retryable provider error (5xx, 429,
timeout, connection) makes the step try its next model at once; the switch is recorded on the step and as a
`provider.fallback` event. A non-retryable failure (401/403 bad credentials or permissions, 404 model, invalid
request, a config error) ends the attempt with no fallback: it is a mistake in our configuration that another
provider would only hide, and it fails the run at once. Problems with the answer itself (empty, cut off, missing
sections) are not provider failures either: they get one re-ask, then fail the attempt (retryable), so Temporal
retries the step. When every model failed, Temporal retries the whole attempt with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import structlog
from autogen_core.models import CreateResult
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.anomaly import AnomalyWatch
from activities.conversation import StepConversation, personas, transcript_markdown
from activities.criteria import check_criteria
from activities.errors import (
    EmptyOutputError,
    IncompleteOutputError,
    TruncatedOutputError,
    check_output,
    classify,
    sanitize,
    to_application_error,
    validate_output,
)
from activities.events import EventSink
from activities.headless import RESULT_SUFFIX, split_result
from activities.jumps import TakenJump, split_jump
from activities.prompt import build_task_prompt, required_sections
from activities.reuse import StepReuse, input_hash
from activities.storecalls import db_call, inline_calls, is_outage, store_unavailable
from bmad.criteria import CHECK_AGENT
from bmad.plan import OutlineStep, Plan
from botarmy.settings import Settings
from providers.config import ProvidersConfig, cost_decimal, from_model_spec, load_config, resolve
from providers.factory import shared_client
from providers.guard import GuardedClient, call_with_fallback
from providers.health import ProviderHealth, shared_health
from providers.limits import shared_limiter
from providers.pin import RunModel, pinned_settings, require_key
from providers.redact import secret_values
from providers.types import ModelChoice, ModelConfigError, parse_model
from store import ArtifactRef, StepCompletion, Store, UsageCall
from store.inline import call
from workflows.contracts import (
    ACTIVITY_AGENT_STEP,
    COLLECTIVE_INPUTS,
    AgentStepInput,
    AgentStepResult,
    ArtifactPointer,
    HeadlessReport,
    output_name,
    resolve_requires,
    template_variables,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")
OUTPUT_ERRORS = (EmptyOutputError, TruncatedOutputError, IncompleteOutputError)


def _worker_identity() -> str:
    """The worker's Temporal identity (pid@host unless configured), as the Web UI shows it."""
    try:
        return activity.client().identity
    except RuntimeError:  # an activity environment without a client
        return f"{os.getpid()}@{socket.gethostname()}"


def output_key(inp: AgentStepInput) -> str:
    """Idempotency key of one output: the step key, plus the revision when a person asked for another, plus the
    round when a headless step runs again with the answers to its open questions."""
    key = inp.key if not inp.revision else f"{inp.key}@r{inp.revision}"
    rounds = max((a.round for a in inp.answers), default=0)
    return key if not rounds else f"{key}@q{rounds}"


@dataclass
class _Attempt:
    """What one activity attempt did: the models it tried (and why each failed), the calls that were answered."""

    run_id: str
    key: str
    attempt: int
    tried: list[tuple[ModelChoice, BaseException]] = field(default_factory=list)
    billed: list[tuple[ModelChoice, CreateResult]] = field(default_factory=list)
    current: ModelChoice | None = None

    def usage_calls(self, config: ProvidersConfig | None, okey: str) -> list[UsageCall]:
        calls = []
        for n, (choice, result) in enumerate(self.billed, 1):
            prompt, completion = result.usage.prompt_tokens, result.usage.completion_tokens
            cost = cost_decimal(config, choice.provider, choice.model, prompt, completion) if config else None
            # keyed by attempt and call: a retried attempt adds its own calls, a replayed commit adds nothing
            key = f"{self.run_id}:{okey}:a{self.attempt}:{n}"
            calls.append(UsageCall(key, choice.provider, choice.model, prompt, completion, cost))
        return calls


@dataclass
class _Prepared:
    """What a step reads before it calls the model: the run's plan, its input documents, and what the model is
    given (prompt, required sections, personas) with the hash of all of it (the step cache's key)."""

    plan: Plan
    texts: dict[str, str]
    missing: list[str]
    prompt: str = ""
    sections: list[str] = field(default_factory=list)
    members: list[Any] = field(default_factory=list)
    input_sha256: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)  # the run inputs its templates may use


@dataclass
class _Output:
    text: str
    transcript: list[tuple[str, str]]
    composite: bool
    choice: ModelChoice
    headless: HeadlessReport | None = None  # a headless step's JSON result, taken out of `text`
    jump: TakenJump = field(default_factory=TakenJump)  # the `NEXT STEP:` line of a step with jumps, likewise


class AgentStepActivities:
    def __init__(
        self, settings: Settings, store: Store, events: EventSink, health: ProviderHealth | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self.health = health or shared_health()
        self.anomalies = AnomalyWatch(settings, store, events)
        self.reuse = StepReuse(store, events)
        self._plans = lru_cache(maxsize=64)(self._load_plan)
        self._inputs = lru_cache(maxsize=16)(self._load_inputs)
        self._loaded: tuple[tuple[Path, int], ProvidersConfig] | None = None
        self._pins: dict[str, tuple[RunModel, ProvidersConfig]] = {}  # by sha256: a pin never changes
        self._pinned_settings = pinned_settings(settings)
        self._inline = inline_calls(store, events.redis_url, settings.store_inline)  # store calls on the loop

    def _load_inputs(self, sha256: str) -> dict[str, Any]:
        return template_variables(self.store.load_inputs(sha256))

    def _variables(self, inp: AgentStepInput) -> dict[str, Any]:
        """The run inputs a step's templates use: loaded by the run's inputs hash (cached: it never changes), or
        as a run started before inputs travelled by reference sent them."""
        return self._inputs(inp.inputs_ref) if inp.inputs_ref else inp.variables

    def _load_plan(self, definition_hash: str) -> Plan:
        return Plan.model_validate_json(self.store.load_plan(definition_hash))

    def _config(self) -> ProvidersConfig:
        """The providers file (re-read when it changes), else the config implied by BOTARMY_MODEL."""
        path = self.settings.providers_file
        if path is None:
            return from_model_spec(self.settings.model)
        try:
            stamp = (path, path.stat().st_mtime_ns)
        except OSError as exc:
            raise ModelConfigError(f"{path}: cannot read the providers file (BOTARMY_PROVIDERS_FILE): {exc}") from exc
        if self._loaded is None or self._loaded[0] != stamp:
            self._loaded = (stamp, load_config(path))
        return self._loaded[1]

    def _load_pin(self, sha256: str) -> tuple[RunModel, ProvidersConfig]:
        try:
            body = self.store.load_run_model(sha256)
        except KeyError:
            raise ModelConfigError(f"the run's model pin {sha256[:12]} is not in the database; was the run started "
                                   "against another database?") from None
        pin = RunModel.load(sha256, body)
        self._pins[sha256] = found = (pin, pin.providers_config())
        return found

    async def _run_config(self, inp: AgentStepInput) -> tuple[ProvidersConfig, RunModel | None]:
        """The run's pinned providers config; a run started before pins uses this worker's settings."""
        if inp.model_ref is None:
            # only a providers file means I/O (a stat, a re-read when it changed)
            config = await call(self._config, inline=self._inline) if self.settings.providers_file else self._config()
            return config, None
        found = self._pins.get(inp.model_ref)
        pin, config = found if found is not None else await self._db(self._load_pin, inp.model_ref)
        return config, pin

    @staticmethod
    def _agent_key(config: ProvidersConfig, step: OutlineStep) -> str | None:
        # a composite step is configured by its name as written ("analyst/pm"), else by its first configured agent
        for candidate in [step.agent, *(step.agent or "").split("/")]:
            if candidate and candidate in config.agents:
                return candidate
        return step.agent

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await db_call(fn, *args, outage_s=self.settings.store_outage_s, inline=self._inline)

    async def _heartbeat(self, what: str) -> None:
        # short steps finish before the first beat; long ones beat well inside the heartbeat timeout
        while True:
            await asyncio.sleep(max(0.5, self.settings.step_heartbeat_s / 3))
            activity.heartbeat(what)

    @activity.defn(name=ACTIVITY_AGENT_STEP)
    async def agent_step(self, inp: AgentStepInput) -> AgentStepResult:
        # heartbeats from the start: with hundreds of steps in flight a step may wait seconds for the store (one
        # SQLite writer, a few store threads) before its model call, and must not time out meanwhile
        beat = asyncio.create_task(self._heartbeat(f"{inp.step.agent} → {output_name(inp.step, inp.scope)}"))
        try:
            return await self._step(inp)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _step(self, inp: AgentStepInput) -> AgentStepResult:
        if inp.step.agent == CHECK_AGENT:  # the workflow's completion criteria: no model
            plan = await self._db(self._plans, inp.definition_hash)
            return await self._db(check_criteria, self.store, plan, inp, output_key(inp), self.events.publish)
        attempt = activity.info().attempt
        name = output_name(inp.step, inp.scope)
        key = output_key(inp)
        if key != inp.key:  # a revision or a round of answers: a carried step's own ones are keyed apart
            key = await self._db(self.reuse.own_key, inp, key)
        slog = log.bind(run_id=inp.run_id, step=inp.key, attempt=attempt)
        config: ProvidersConfig | None = None
        pin: RunModel | None = None
        choices: list[ModelChoice] = []
        config_error: ModelConfigError | None = None
        try:
            config, pin = await self._run_config(inp)
            choices = resolve(config, self._agent_key(config, inp.step), inp.step.id)
        except ModelConfigError as exc:
            config_error = exc
        started = ("step.started", {"step": inp.key, "agent": inp.step.agent, "attempt": attempt,
                                    "revision": inp.revision, "model": choices[0].label if choices else None,
                                    "fallbacks": [c.label for c in choices[1:]]})
        # idempotency: a retry after the output was stored reuses it and never calls the model again
        begun = await self._db(self._begin, inp, key, name, attempt, started, choices)
        if isinstance(begun, ArtifactRef):
            return await self._reuse(inp, begun, attempt, slog)
        if isinstance(begun, AgentStepResult):  # carried over by a rerun, or from the step cache: no model call
            return begun
        prepared = begun
        slog.info("step.started", agent=inp.step.agent, output=name, models=[c.label for c in choices])
        run = _Attempt(inp.run_id, inp.key, attempt)
        succeeded = False
        try:
            if config_error is not None or config is None:
                raise config_error or ModelConfigError("no providers config")
            out = await self._converse(inp, name, run, config, choices, prepared, slog, pin)
            if inp.step.jumps:
                out.jump, out.text = split_jump(out.text, prepared.plan.steps[inp.step.index])
                if out.jump.ignored is not None:
                    slog.warning("step.jump_ignored", said=out.jump.ignored,
                                 jumps=[j.step for j in inp.step.jumps])
            if inp.step.headless:
                out.headless, out.text = split_result(out.text)
            calls = run.usage_calls(config, key)
            ref = await self._db(self._commit, inp, key, name, out, calls, choices, slog, prepared.input_sha256)
            slog.info("step.completed", artifact=name, version=ref.version, bytes=ref.bytes,
                      provider=out.choice.provider, model=out.choice.model)
            if self.settings.fault_pause_after_commit_s > 0:  # fault injection for tests: see Settings
                slog.warning("fault.pause_after_commit", seconds=self.settings.fault_pause_after_commit_s)
                await asyncio.sleep(self.settings.fault_pause_after_commit_s)
            succeeded = True  # provider health and usage were watched in the commit's thread hop
        except Exception as exc:  # noqa: BLE001 - every failure is recorded and re-raised as an ApplicationError
            # not chained: the cause would carry the provider's raw text (a quoted key) into the history
            err = await self._failure(inp, run, config, choices, key, exc, slog)
            raise err.with_traceback(exc.__traceback__) from None
        finally:
            if not succeeded:
                await asyncio.to_thread(self._watch_providers, inp, choices)
        return AgentStepResult(
            key=inp.key,
            artifact=ArtifactPointer.of(ref),
            attempts=attempt,
            prompt_tokens=sum(c.prompt_tokens for c in calls),
            completion_tokens=sum(c.completion_tokens for c in calls),
            cost_usd=float(sum((c.cost_usd for c in calls if c.cost_usd is not None), Decimal(0))),
            provider=out.choice.provider,
            model=out.choice.model,
            headless=out.headless,
            jump=out.jump.to,
        )

    def _begin(
        self, inp: AgentStepInput, key: str, name: str, attempt: int, started: tuple[str, dict[str, Any]],
        choices: list[ModelChoice],
    ) -> ArtifactRef | AgentStepResult | _Prepared:
        """The output when an earlier attempt stored it; the step's result when it takes over a stored output (a
        rerun's carried step, a step cache hit); else the plan, input documents and prompt, after marking the step
        running and publishing `step.started`. One thread hop (sync: call from a thread); the reads come before
        the write, so a retried hop never writes twice."""
        done = self.store.find_artifact(inp.run_id, key, name)
        if done is not None:
            return done
        carried = self.reuse.carry(inp, attempt, name)
        if carried is not None:
            return carried
        prepared = self._prepare(inp, name, choices)
        if prepared.input_sha256 is not None and not inp.revision:
            cached = self.reuse.cached(inp, attempt, key, name, prepared.input_sha256)
            if cached is not None:
                return cached
        seq = self.store.start_step(inp.run_id, inp.key, inp.step.id, inp.step.agent, inp.iteration, attempt, started)
        self.events.publish(inp.run_id, seq, *started)
        return prepared

    def _prepare(self, inp: AgentStepInput, name: str, choices: list[ModelChoice]) -> _Prepared:
        plan = self._plans(inp.definition_hash)
        texts, missing = self._read_inputs(inp)
        step = plan.steps[inp.step.index]
        run_variables = self._variables(inp)
        variables = dict(run_variables)
        if isinstance(inp.item, dict):
            variables.update(inp.item)
        prompt = build_task_prompt(plan, step, name, texts, missing, inp.item, inp.scope, inp.feedback, variables,
                                   inp.answers)
        members = personas(plan, step, self.settings.composite_stop_word)
        digest = input_hash(plan, inp, prompt, members, choices, self.settings.composite_rounds) if choices else None
        return _Prepared(plan, texts, missing, prompt, required_sections(plan, step), members, digest, run_variables)

    def _commit(
        self, inp: AgentStepInput, key: str, name: str, out: _Output, calls: list[UsageCall],
        choices: list[ModelChoice], slog: Any, input_sha256: str | None = None,
    ) -> ArtifactRef:
        """Store the output, then watch providers and usage (`_after`), in one thread hop (sync: call from a
        thread). The watching never fails a stored step: its checks log their own failures."""
        ref = self._store_output(inp, key, name, out, calls, input_sha256)
        self._after(inp, choices, out.choice, calls, slog)
        return ref

    def _after(
        self, inp: AgentStepInput, choices: list[ModelChoice], choice: ModelChoice, calls: list[UsageCall], slog: Any
    ) -> None:
        """What a worker watches after a stored step (sync: call from a thread)."""
        self._watch_providers(inp, choices)
        self._check_usage(inp, choice, calls, slog)

    async def _reuse(self, inp: AgentStepInput, done: ArtifactRef, attempt: int, slog: Any) -> AgentStepResult:
        slog.info("step.reused", artifact=done.name, version=done.version)
        provider, model = await self._db(self.store.reuse_step, inp.run_id, inp.key, attempt)
        report = await self._db(self.reuse.report_of, done) if inp.step.headless else None
        jump = await self._db(self.reuse.jump_of, inp.run_id, inp.key) if inp.step.jumps else None
        return AgentStepResult(key=inp.key, artifact=ArtifactPointer.of(done), attempts=attempt,
                               provider=provider, model=model, headless=report, jump=jump)

    async def _failure(
        self, inp: AgentStepInput, run: _Attempt, config: ProvidersConfig | None, choices: list[ModelChoice],
        key: str, exc: Exception, slog: Any,
    ) -> ApplicationError:
        """Record the failed attempt (and the calls it was billed for); the Temporal error to raise."""
        choice = run.current or (choices[0] if choices else parse_model("offline"))
        key_envs = {p: config.key_env(p) or "" for p in (c.provider for c in choices)} if config else None
        err = store_unavailable(exc) if is_outage(exc) else to_application_error(
            exc, choice, key_envs, secret_values(self.settings, config))
        final = err.non_retryable or run.attempt >= self.settings.retry_max_attempts
        status = "failed" if final else "retrying"
        event = (f"step.{status}", {"step": inp.key, "attempt": run.attempt, "error": err.message})
        # calls that were answered before the failure were billed: record them, keyed to this attempt
        seq = await self._db(
            self.store.fail_step, inp.run_id, inp.key, status, err.message, event, run.usage_calls(config, key)
        )
        await asyncio.to_thread(self.events.publish, inp.run_id, seq, *event)
        slog.warning(event[0], error=err.message)
        return err

    async def _converse(
        self, inp: AgentStepInput, name: str, run: _Attempt, config: ProvidersConfig, choices: list[ModelChoice],
        prepared: _Prepared, slog: Any, pin: RunModel | None = None,
    ) -> _Output:
        prompt, sections, members = prepared.prompt, prepared.sections, prepared.members
        limiter = shared_limiter(config)

        async def with_model(choice: ModelChoice) -> tuple[str, list[tuple[str, str]], bool]:
            if run.tried:
                before, why = run.tried[-1]
                why_text = classify(why, before, secrets=secret_values(self.settings, config)).message
                await self._switch(inp, run, before, choice, why_text)
            elif choice != choices[0]:
                await self._switch(inp, run, choices[0], choice, f"{choices[0].provider} is unhealthy; skipped")
            run.current = choice
            if pin is not None:  # the run's model, with this worker's key for it, or a clear failure
                require_key(pin, config, choice, self.settings, _worker_identity())
            settings = self._pinned_settings if pin is not None else self.settings
            client = GuardedClient(
                shared_client(settings, choice, config), choice.provider, limiter, self.health,
                is_fault=lambda e: classify(e, choice).retryable, owns_inner=False,
            )
            try:
                return await self._answer(client, members, prompt, sections, slog)
            except Exception as exc:
                run.tried.append((choice, exc))
                raise
            finally:
                run.billed.extend((choice, r) for r in client.results)
                await client.close()

        def falls_back(exc: BaseException) -> bool:
            return not isinstance(exc, OUTPUT_ERRORS) and classify(exc, choices[0]).retryable

        (text, transcript, composite), choice = await call_with_fallback(choices, with_model, falls_back, self.health)
        return _Output(text, transcript, composite, choice)

    async def _answer(
        self, client: GuardedClient, members: list[Any], prompt: str, sections: list[str], slog: Any
    ) -> tuple[str, list[tuple[str, str]], bool]:
        conversation = StepConversation(
            client, members, self.settings.composite_rounds, self.settings.composite_stop_word
        )
        answer = await conversation.ask(prompt)
        problem = validate_output(answer.text, answer.finish_reason, sections)
        if problem is None:
            text = sanitize(answer.text)
        else:
            if self.settings.output_reask:
                slog.warning("step.reask", problem=problem, finish_reason=answer.finish_reason)
                answer = await conversation.ask(problem)  # the same conversation: the model sees its own answer
            text = check_output(answer.text, answer.finish_reason, sections)
        return text.strip() + "\n", answer.transcript, conversation.composite

    async def _switch(
        self, inp: AgentStepInput, run: _Attempt, before: ModelChoice, after: ModelChoice, error: str
    ) -> None:
        data = {"step": inp.key, "from": before.label, "to": after.label, "error": error, "attempt": run.attempt}
        event = ("provider.fallback", data)
        seq = await self._db(self.store.record_fallback, inp.run_id, inp.key, data, event)
        await asyncio.to_thread(self.events.publish, inp.run_id, seq, *event)
        log.warning("provider.fallback", run_id=inp.run_id, **data)

    def _store_output(
        self, inp: AgentStepInput, key: str, name: str, out: _Output, calls: list[UsageCall],
        input_sha256: str | None = None,
    ) -> ArtifactRef:
        choice = out.choice
        priced = [c.cost_usd for c in calls if c.cost_usd is not None]
        usage_event = {
            "step": inp.key, "provider": choice.provider, "model": choice.model, "calls": len(calls),
            "prompt_tokens": sum(c.prompt_tokens for c in calls),
            "completion_tokens": sum(c.completion_tokens for c in calls),
            "cost_usd": float(sum(priced, Decimal(0))), "unpriced_calls": len(calls) - len(priced),
        }

        # what the answer said besides the document: a headless result, the `<goto>` taken (or a target named
        # that is none of the step's)
        said: dict[str, Any] = {"headless": out.headless.model_dump(mode="json")} if out.headless else {}
        if out.jump.to or out.jump.ignored:
            said.update({"jump": out.jump.to} if out.jump.to else {"jump_ignored": out.jump.ignored})

        def events_for(ref: ArtifactRef) -> list[tuple[str, dict[str, Any]]]:
            return [
                ("usage.recorded", usage_event),
                ("artifact.created", {"name": name, "version": ref.version, "step": inp.key,
                                      "sha256": ref.sha256, "bytes": ref.bytes}),
                ("step.completed", {"step": inp.key, "artifact": name, "version": ref.version,
                                    "provider": choice.provider, "model": choice.model, **said}),
            ]

        def extra_events_for(refs: list[ArtifactRef]) -> list[tuple[str, dict[str, Any]]]:
            return [("artifact.created", {"name": r.name, "version": r.version, "step": inp.key,
                                          "sha256": r.sha256, "bytes": r.bytes}) for r in refs]

        extra = []
        if out.headless:  # beside the document: what the step assumed, what it left open
            extra.append((f"{name}{RESULT_SUFFIX}", out.headless.model_dump_json(indent=2).encode()))
        if out.composite:
            transcript = transcript_markdown(inp.key, name, out.transcript)
            extra.append((f"{name}.transcript.md", transcript.encode()))
        ref, stored = self.store.complete_step(StepCompletion(
            run_id=inp.run_id, key=inp.key, output_key=key, name=name, content=out.text.encode(), calls=calls,
            events_for=events_for, extra=extra, extra_events_for=extra_events_for,
            answered_by=(choice.provider, choice.model), input_sha256=input_sha256,
        ))
        for seq, type_, data in stored:
            self.events.publish(inp.run_id, seq, type_, data)
        return ref

    def _check_usage(self, inp: AgentStepInput, choice: ModelChoice, calls: list[UsageCall], slog: Any) -> None:
        mine = [c for c in calls if (c.provider, c.model) == (choice.provider, choice.model)]
        tokens = sum(c.prompt_tokens + c.completion_tokens for c in mine)
        costs = [c.cost_usd for c in mine]
        cost = sum((c for c in costs if c is not None), Decimal(0)) if mine and None not in costs else None
        try:
            self.anomalies.check_step(inp.run_id, inp.key, inp.step.agent, choice.provider, choice.model, tokens,
                                      cost)
        except Exception as exc:  # noqa: BLE001 - watching for anomalies must never fail a stored step
            slog.warning("anomaly.check_failed", error=str(exc))

    def _watch_providers(self, inp: AgentStepInput, choices: list[ModelChoice]) -> None:
        try:
            self.anomalies.check_providers(inp.run_id, inp.key, self.health, [c.provider for c in choices])
            self.anomalies.write_snapshot(self.health)
        except Exception as exc:  # noqa: BLE001 - as above
            log.warning("anomaly.check_failed", run_id=inp.run_id, step=inp.key, error=str(exc))

    def _read_inputs(self, inp: AgentStepInput) -> tuple[dict[str, str], list[str]]:
        names = resolve_requires(inp.step, inp.available, inp.scope)
        texts = {n: self.store.read_artifact(inp.available[n].id, inp.available[n].sha256).decode() for n in names}
        missing = [
            r
            for r in inp.step.requires
            if r not in COLLECTIVE_INPUTS and r not in names and f"{inp.scope}/{r}" not in names
        ]
        return texts, missing
