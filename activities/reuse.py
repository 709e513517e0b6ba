"""Steps that take over a stored output instead of calling a model: a rerun's carried steps and the step cache.

A rerun's run row names, per step key, the run whose output the step carries over (store ReusePlan); the step
records that output by reference (same sha256, same versions), then any edited document as its next version, and
returns the result a real call would, with cost 0. With the step cache on (`run --reuse`), a step whose input hash
(`input_hash`: personas, prompt, input documents, template, models and parameters) equals an earlier run's stored
output takes that output over the same way. Both are recorded on the step (`reused_from`) and in its events.

A headless step's result comes with the headless report stored beside the document it takes over, so a reused
`partial`/`blocked` result asks its open questions again in the new run, and the step then runs again with this
run's answers (a model call, or the cache when an earlier run's call had the very same answers in its prompt).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import lru_cache

import structlog

from activities.conversation import Persona
from activities.events import EventSink
from activities.headless import RESULT_SUFFIX, load_report
from bmad.plan import Plan
from providers.types import ModelChoice
from store import ArtifactRef, ReusePlan, Store
from store.types import EventSpec, TakeOver
from workflows.contracts import AgentStepInput, AgentStepResult, ArtifactPointer, HeadlessReport, resolve_requires

log = structlog.get_logger(__name__)
NO_REUSE = ReusePlan()


def input_hash(plan: Plan, inp: AgentStepInput, prompt: str, members: list[Persona], choices: list[ModelChoice],
               rounds: int) -> str:
    """sha256 of everything a step's model is given: equal hashes, equal calls (the step cache's key)."""
    step = plan.steps[inp.step.index]
    template = plan.templates.get(step.template) if step.template else None
    body = {
        "personas": [[m.name, m.system_message] for m in members],
        "prompt": prompt,
        "inputs": {n: inp.available[n].sha256 for n in resolve_requires(inp.step, inp.available, inp.scope)},
        "template": template.model_dump(mode="json", exclude={"source"}) if template else None,
        "models": [[c.provider, c.model, c.temperature, c.max_tokens] for c in choices],
        "rounds": rounds if len(members) > 1 else None,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class StepReuse:
    def __init__(self, store: Store, events: EventSink) -> None:
        self.store = store
        self.events = events
        # a run's plan never changes once its row is written: one read per run and worker
        self.plan_of: Callable[[str], ReusePlan] = lru_cache(maxsize=4096)(self._load)

    def _load(self, run_id: str) -> ReusePlan:
        return self.store.reuse_plan(run_id) or NO_REUSE

    def carry(self, inp: AgentStepInput, attempt: int, name: str) -> AgentStepResult | None:
        """Take over the parent's output of a carried step (sync: call from a thread); None when the step is not
        carried, or its parent has no such output, or it runs again in this run (a person rejected what it took
        over, or answered the open questions its result asked): then it runs."""
        plan = self.plan_of(inp.run_id)
        source = plan.carry.get(inp.key)
        if source is None or inp.revision or any(a.round for a in inp.answers):
            return None
        return self._take(inp, attempt, name, source, inp.key, None, plan.replace.get(inp.key, {}), "carried")

    def cached(self, inp: AgentStepInput, attempt: int, output_key: str, name: str, digest: str
               ) -> AgentStepResult | None:
        """Take over an earlier run's output whose input hashed to `digest` (sync); None when there is none."""
        if not self.plan_of(inp.run_id).cache:
            return None
        found = self.store.cached_output(digest, inp.run_id)
        if found is None:
            return None
        return self._take(inp, attempt, name, found[0], found[1], output_key, {}, "cached")

    def _take(self, inp: AgentStepInput, attempt: int, name: str, source_run: str, source_key: str,
              output_key: str | None, replacements: dict[str, str], how: str) -> AgentStepResult | None:
        jump = self.jump_of(source_run, source_key) if inp.step.jumps else None

        def events_for(refs: list[ArtifactRef]) -> list[EventSpec]:
            created: list[EventSpec] = [
                ("artifact.created", {"name": r.name, "version": r.version, "step": inp.key, "sha256": r.sha256,
                                      "bytes": r.bytes, "reused": r.step != f"{inp.key}@edit"}) for r in refs]
            last = [r for r in refs if r.name == name][-1]
            return [*created, ("step.completed", {"step": inp.key, "artifact": name, "version": last.version,
                                                  "reused": how, "from": f"{source_run}/{source_key}",
                                                  **({"jump": jump} if jump else {})})]

        ref, stored, answered = self.store.take_over(TakeOver(
            run_id=inp.run_id, key=inp.key, step_id=inp.step.id, agent=inp.step.agent, iteration=inp.iteration,
            attempt=attempt, name=name, source_run=source_run, source_key=source_key, output_key=output_key,
            replacements=replacements, events_for=events_for,
        ))
        if ref is None:
            log.warning("step.reuse_missing", run_id=inp.run_id, step=inp.key, source=f"{source_run}/{source_key}")
            return None
        for seq, type_, data in stored:
            self.events.publish(inp.run_id, seq, type_, data)
        log.info("step.reused", run_id=inp.run_id, step=inp.key, how=how, source=f"{source_run}/{source_key}",
                 artifact=name, version=ref.version)
        return AgentStepResult(key=inp.key, artifact=ArtifactPointer.of(ref), attempts=attempt,
                               provider=answered[0], model=answered[1],
                               headless=self.report_of(ref) if inp.step.headless else None,
                               jump=jump if any(j.to == jump for j in inp.step.jumps) else None)

    def jump_of(self, source_run: str, source_key: str) -> str | None:
        """The `<goto>` the answer stored for step `source_key` of `source_run` took (its `step.completed` event
        says): an output taken over, or an earlier attempt's answer retried, leads where it led (sync: call from a
        thread)."""
        step = source_key.split("@", 1)[0]  # a revision's or a round's output is its step's
        done = [e for e in self.store.list_events(source_run)
                if e.type == "step.completed" and e.data.get("step") == step]
        return done[-1].data.get("jump") if done else None

    def own_key(self, inp: AgentStepInput, key: str) -> str:
        """The output key of a carried step's own later output (a revision, a round of answers) in this run: its
        parent's outputs were recorded here under their own keys (`02-pm@r1`), so this run's are marked with its id
        (`02-pm@r1@<run>`) and a retry never mistakes the parent's output for its own (sync: call from a thread)."""
        if key == inp.key or inp.key not in self.plan_of(inp.run_id).carry:
            return key
        return f"{key}@{inp.run_id}"

    def report_of(self, ref: ArtifactRef) -> HeadlessReport | None:
        """The headless report stored beside the document version `ref` (under its step key); None when that
        version is a person's (an amendment, an edited document) or has none (sync: call from a thread)."""
        found = self.store.find_artifact(ref.run_id, ref.step, ref.name + RESULT_SUFFIX)
        return load_report(self.store.read_artifact(found.id, found.sha256)) if found else None
