"""Runs the steps of a PlanOutline inside a workflow: conditions, optional steps, one activity per agent step.

Deterministic workflow code only: no I/O, clocks or randomness. Shared by the run workflow and, in runs started
before loops ran inline, its per-iteration child workflows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from bmad.plan import OutlineStep, PlanOutline
    from workflows.approvals import ApprovalGate, asks_conditions, needs_approval
    from workflows.contracts import (
        ACTIVITY_AGENT_STEP,
        ACTIVITY_STORE_AMENDMENT,
        MAX_STEP_VISITS,
        PATCH_CARRIED_ANSWERS,
        PATCH_GOTO,
        PATCH_HEADLESS,
        PATCH_OPTIONAL_ASKS,
        PATCH_PAUSE,
        PATCH_QUESTIONS,
        PATCH_REVISION_QUESTIONS,
        AgentStepInput,
        AgentStepResult,
        AmendInput,
        Answer,
        ApprovalRequest,
        ArtifactPointer,
        Budget,
        CarriedSteps,
        Decision,
        StepPolicy,
        StepState,
        optional_question,
        output_name,
        template_variables,
    )
    from workflows.patches import patched

_AMEND_TIMEOUT = timedelta(seconds=60)
_INPUTS_BY_REF = "inputs-by-reference"

_FALSE = {"false", "no", "n", "0", "off", ""}


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE
    return bool(value)


def step_key(step: OutlineStep, iteration: int | None, visit: int = 1) -> str:
    """`id`, `id[2]` in a loop's second iteration, `id#2` when a backward `<goto>` runs it a second time."""
    key = step.id if iteration is None else f"{step.id}[{iteration}]"
    return key if visit <= 1 else f"{key}#{visit}"


class Interpreter:
    def __init__(
        self,
        run_id: str,
        outline: PlanOutline,
        inputs: dict[str, Any],
        policy: StepPolicy,
        artifacts: dict[str, ArtifactPointer],
        decisions: list[Decision],
        gate: ApprovalGate | None = None,
        approve: str | list[str] = "none",
        auto_approve: bool = False,
        budget: Budget | None = None,
        model_ref: str | None = None,
        inputs_ref: str | None = None,
    ) -> None:
        self.model_ref = model_ref
        self.inputs_ref = inputs_ref  # set: `inputs` holds the control inputs only, steps load the rest
        self.iteration_summaries = False  # loops run inline: a step's summary names its iteration
        # steps load the run's inputs by `inputs_ref`: decided once, when the workflow starts (see `uses_patches`)
        self.inputs_by_ref = False
        self.budget = budget.model_copy() if budget else Budget()
        self.stopped: str | None = None  # set when a person stops the run at a budget pause
        self.gate = gate or ApprovalGate(run_id)
        self.approve = approve
        self.auto_approve = auto_approve
        self.run_id = run_id
        self.outline = outline
        self.inputs = inputs
        self.policy = policy
        self.artifacts = dict(artifacts)
        self.decisions = list(decisions)
        self.steps: dict[str, StepState] = {}
        self.current: str | None = None
        self.exited: str | None = None  # set when a route branch ends the workflow
        self.answers: dict[str, list[Answer]] = {}  # step key -> the answers to its questions (OutlineStep.asks)
        self.pause_on = False  # the run honours `pause` (patch asked in `uses_patches`)
        self.revision_questions = False  # a revision's open questions are asked (patch asked in `uses_patches`)
        self.paused_by: str | None = None  # set by the `pause` Update, cleared by `resume`
        self.paused_before: str | None = None  # the step it holds before while paused
        self.optional_asks_on = False  # v6 optional steps ask a person (patch asked in `uses_patches`)
        self.goto_on = False  # a step's `<goto>` the agent took moves the run (patch asked in `uses_patches`)
        self.visits: dict[str, int] = {}  # step id -> the visit it is on, once a backward `<goto>` ran it again
        self.carried: CarriedSteps | None = None  # a rerun: the steps it carries over (RunInput.carried_steps)
        self.carried_answers_on = False  # carried steps take their parent's answers (patch asked in `uses_patches`)
        self.engine = 0  # the run's engine level (RunInput.engine): which patches it takes without asking

    def uses_patches(self) -> None:
        """Decide the patches this code path depends on in the workflow's first activation, before anything else.

        A `workflow.patched` call made later, right after a local activity (the run's `start_run`), can land in
        another workflow task on replay than it did when recorded (when the local activity's result came after its
        task completed), and replay then sees a marker it did not ask for; asked first, its marker is always in the
        first task. Only a run started with its inputs stored (RunInput.inputs_ref) records this one."""
        self.inputs_by_ref = self.inputs_ref is not None and patched(self.engine, _INPUTS_BY_REF)
        # steps that ask a person (`<ask>`): only plans with such steps ask for the patch, so others never see it
        if any(step.asks for step in self.outline.steps):
            self.gate.questions_on = patched(self.engine, PATCH_QUESTIONS)
        if any(step.headless for step in self.outline.steps):  # likewise headless steps (their open questions)
            self.gate.headless_on = patched(self.engine, PATCH_HEADLESS)
        if any(step.headless and needs_approval(step, self.approve, self.auto_approve) for step in self.outline.steps):
            self.revision_questions = patched(self.engine, PATCH_REVISION_QUESTIONS)
        self.pause_on = patched(self.engine, PATCH_PAUSE)
        if any(step.ask_optional for step in self.outline.steps):  # likewise v6 optional steps
            self.optional_asks_on = patched(self.engine, PATCH_OPTIONAL_ASKS)
        if any(step.jumps for step in self.outline.steps):  # likewise `<goto>`s (v6 instructions)
            self.goto_on = patched(self.engine, PATCH_GOTO)
        carried = self.carried.step_ids() if self.carried else set()
        if any(step.asks and step.id in carried for step in self.outline.steps):  # a rerun carrying a step that asks
            self.carried_answers_on = patched(self.engine, PATCH_CARRIED_ANSWERS)

    async def hold_while_paused(self, key: str) -> None:
        """Before a step starts: a paused run waits here (durably: the `pause` Update is in its history) until
        it is resumed; the Web UI's current details say who paused it."""
        if not self.pause_on or self.paused_by is None:
            return
        self.paused_before = key
        workflow.set_current_details(f"Paused by {self.paused_by} before `{key}`: resume to go on")
        await workflow.wait_condition(lambda: self.paused_by is None)
        self.paused_before = None

    def state(self, step: OutlineStep, iteration: int | None) -> StepState:
        visit = self.visits.get(step.id, 1) if iteration is None else 1
        key = step_key(step, iteration, visit)
        if key not in self.steps:
            self.steps[key] = StepState(key=key, step_id=step.id, agent=step.agent, iteration=iteration,
                                        visit=visit if visit > 1 else None)
        return self.steps[key]

    def after(self, i: int) -> int:
        """The index of the main-level step to run after step `i`: the next one, or where the `<goto>` its agent
        took leads. Forward, the steps between are skipped; backward, the steps from the target to `i` run again
        as new visits (`id#2`), unless one of them has run MAX_STEP_VISITS times (then the jump is refused and the
        run goes on in order). Every jump, taken or refused, is a recorded decision."""
        step = self.outline.steps[i]
        st = self.state(step, None)
        if not self.goto_on or st.jump is None or st.status != "completed":
            return i + 1
        target = next(s for s in self.outline.steps if s.id == st.jump)
        jump = next(j for j in step.jumps if j.to == target.id)
        question = f"goto step {jump.step} from {st.key}" + (f" ({jump.condition})" if jump.condition else "")
        span = self.outline.steps[target.index : i + 1]
        tired = next((s for s in span if self.visits.get(s.id, 1) >= MAX_STEP_VISITS), None)
        if target.index <= i and tired is not None:
            self.decisions.append(Decision(
                condition=question, value=False, step=st.key, choice=target.id,
                source=f"refused: step {tired.id} ran {MAX_STEP_VISITS} times (the limit); going on in order"))
            return i + 1
        self.decisions.append(Decision(condition=question, value=True, source=f"agent {step.agent}", step=st.key,
                                       choice=target.id))
        if target.index <= i:
            for s in span:
                self.visits[s.id] = self.visits.get(s.id, 1) + 1
                self.state(s, None)  # pending, under its new key
        else:
            for s in self.outline.steps[i + 1 : target.index]:
                skipped = self.state(s, None)
                skipped.status, skipped.reason = "skipped", f"goto step {jump.step} from {st.key}"
        return target.index

    async def decide(self, condition: str, key: str) -> bool:
        for d in self.decisions:
            if d.condition == condition:
                return d.value
        if condition in self.inputs:
            decision = Decision(condition=condition, value=truthy(self.inputs[condition]), source="input", step=key)
        elif asks_conditions(self.approve, self.auto_approve):
            answer = await self.gate.ask(
                ApprovalRequest(step=key, kind="condition", question=condition, requested_at=workflow.now()), None
            )
            value = answer.decision in ("yes", "approve")
            decision = Decision(condition=condition, value=value, source=f"decided by {answer.by}", step=key)
        else:
            # no input for it and nobody to ask: a recorded decision, default false
            decision = Decision(condition=condition, value=False, source="default", step=key)
        self.decisions.append(decision)
        return decision.value

    async def skip_reason(self, step: OutlineStep, key: str) -> str | None:
        if step.condition and not await self.decide(step.condition, key):
            return f"condition {step.condition} is false"
        skip = self.inputs.get("skip") or []
        if step.id in (skip if isinstance(skip, list) else [skip]):
            return "skipped by run input 'skip'"
        if step.optional and truthy(self.inputs.get("skip_optional", False)):
            return "optional step skipped by run input 'skip_optional'"
        question = optional_question(step)  # workflow.xml: "optional steps: ask user unless #yolo mode active"
        if step.ask_optional and self.optional_asks_on and (
            question in self.inputs or asks_conditions(self.approve, self.auto_approve)
        ) and not await self.decide(question, key):
            source = next(d.source for d in self.decisions if d.condition == question)
            return f"optional step not included ({source})"
        return None

    def over_budget(self) -> tuple[str, str] | None:
        """(limit, why) when the next step is expected to cross a limit: spent + the average step so far."""
        b = self.budget
        if b.usd is not None:
            expected = b.spent_usd / b.calls if b.calls else 0.0
            if b.spent_usd + expected > b.usd or b.spent_usd >= b.usd:
                return "usd", f"budget ${b.usd:.4f}: spent ${b.spent_usd:.4f}, next step expected ${expected:.4f}"
        if b.tokens is not None:
            expected_tokens = b.spent_tokens // b.calls if b.calls else 0
            if b.spent_tokens + expected_tokens > b.tokens or b.spent_tokens >= b.tokens:
                return "tokens", (f"budget {b.tokens} tokens: spent {b.spent_tokens}, "
                                  f"next step expected {expected_tokens}")
        return None

    async def within_budget(self, key: str) -> None:
        """Pause durably before a step that would cross the budget; a person raises it or stops the run."""
        while (over := self.over_budget()) is not None:
            limit, why = over
            b = self.budget
            self.gate.spent[key] = (limit, b.spent_usd if limit == "usd" else float(b.spent_tokens))
            answer = await self.gate.ask(
                ApprovalRequest(step=key, kind="budget", question=why, requested_at=workflow.now()), None
            )
            self.gate.spent.pop(key, None)
            if answer.decision == "stop":
                self.stopped = f"stopped by {answer.by} before {key}: {why}"
                raise ApplicationError(self.stopped, type="BudgetStop", non_retryable=True)
            value = float(answer.choice or 0)
            if limit == "usd":
                self.budget.usd = value
            else:
                self.budget.tokens = int(value)

    async def run_range(
        self, start: int, end: int, iteration: int | None = None, item: Any = None, scope: str | None = None
    ) -> None:
        for step in self.outline.steps[start : end + 1]:
            if self.exited:
                break
            await self.run_step(step, iteration, item, scope)

    def skip_rest(self) -> None:
        for st in self.steps.values():
            if st.status == "pending":
                st.status, st.reason = "skipped", self.exited

    async def run_step(
        self, step: OutlineStep, iteration: int | None = None, item: Any = None, scope: str | None = None
    ) -> None:
        st = self.state(step, iteration)
        if step.routes:
            await self.route(step, st, iteration, item, scope)
            return
        if step.kind == "control":
            st.status, st.reason = "completed", "control entry: nothing to run"
            return
        reason = await self.skip_reason(step, st.key)
        if reason:
            st.status, st.reason = "skipped", reason
            return
        if step.asks and self.carried_answers_on and self.carried and st.key in self.carried.keys:
            # carried over by a rerun: its output was made with the parent's answers, nobody is asked again
            self.answers[st.key] = self.gate.carried(step, st.key, self.carried.answers.get(st.key, []),
                                                     self.carried.parent_run_id)
        elif step.asks:  # a question to a person first (patched in ApprovalGate.questions)
            st.status = "waiting"
            self.answers[st.key] = await self.gate.questions(step, st.key, self.auto_approve)
        await self.execute(step, st, iteration, item, scope)
        while answers := await self.gate.open_questions(step, st, self.auto_approve):  # asked, rerun
            self.answers[st.key] = [*self.answers.get(st.key, []), *answers]
            await self.execute(step, st, iteration, item, scope)
        if needs_approval(step, self.approve, self.auto_approve):
            await self.approve_output(step, st, iteration, item, scope)
        self.current = None

    async def choose_route(self, step: OutlineStep, key: str) -> str:
        names = [r.name for r in step.routes]
        question = step.condition or step.id
        if question in self.inputs:
            choice, source = str(self.inputs[question]), "input"
            if choice not in names:
                raise ApplicationError(
                    f"run input {question}={choice!r} is not a branch of step {key}; use one of: {', '.join(names)}",
                    type="InvalidInput", non_retryable=True,
                )
        elif asks_conditions(self.approve, self.auto_approve):
            answer = await self.gate.ask(ApprovalRequest(step=key, kind="route", question=question, choices=names,
                                                         requested_at=workflow.now()), None)
            choice, source = answer.choice or names[0], f"decided by {answer.by}"
        else:  # the first branch that continues the workflow, as `botarmy plan` shows
            choice, source = next((r.name for r in step.routes if r.then == "continue"), names[0]), "default"
        self.decisions.append(Decision(condition=question, value=True, source=source, step=key, choice=choice))
        for r in step.routes:  # later steps test `<branch>_path`
            if not any(d.condition == f"{r.name}_path" for d in self.decisions):
                self.decisions.append(Decision(condition=f"{r.name}_path", value=r.name == choice,
                                               source=f"route {choice}", step=key))
        return choice

    async def route(
        self, step: OutlineStep, st: StepState, iteration: int | None, item: Any, scope: str | None
    ) -> None:
        choice = await self.choose_route(step, st.key)
        st.status, st.reason = "completed", f"route {choice}"
        by_id = {s.id: s for s in self.outline.steps}
        chosen = next(r for r in step.routes if r.name == choice)
        for r in step.routes:
            if r.step and r.name != choice:
                other = self.state(by_id[r.step], iteration)
                other.status, other.reason = "skipped", f"route {choice} was taken"
        if chosen.step:
            await self.run_step(by_id[chosen.step], iteration, item, scope)
        if chosen.then == "exit":
            self.exited = f"route {choice} of {st.key} ends the workflow"

    async def approve_output(
        self, step: OutlineStep, st: StepState, iteration: int | None, item: Any, scope: str | None
    ) -> None:
        """Ask a person; reject re-runs the step with the feedback, amend stores their version."""
        spec = step.approval
        max_revisions = spec.max_revisions if spec else 3
        revision = amendments = 0
        while True:
            art = st.artifact
            assert art is not None
            st.status = "waiting"
            answer = await self.gate.ask(
                ApprovalRequest(step=st.key, agent=step.agent, artifact=art.name, version=art.version,
                                role=spec.role if spec else None, revision=revision, requested_at=workflow.now()),
                spec,
            )
            st.status = "completed"
            if answer.decision == "approve":
                return
            if answer.decision == "amend":
                amendments += 1
                pointer = await workflow.execute_activity(
                    ACTIVITY_STORE_AMENDMENT,
                    AmendInput(run_id=self.run_id, key=st.key, name=art.name, content=answer.content or "",
                               amendment=amendments, by=answer.by),
                    result_type=ArtifactPointer, start_to_close_timeout=_AMEND_TIMEOUT,
                    summary=f"{answer.by} amends {art.name}",
                )
                st.artifact = self.artifacts[pointer.name] = pointer
                return
            revision += 1
            if revision > max_revisions:
                raise ApplicationError(
                    f"step {st.key}: output rejected {revision} times (max_revisions is {max_revisions}); "
                    f"last feedback: {answer.comment}", type="Rejected", non_retryable=True,
                )
            await self.execute(step, st, iteration, item, scope, revision, answer.comment)
            # the revision may leave questions open again: asked, then it runs again with the answers and feedback
            while self.revision_questions and (
                    answers := await self.gate.open_questions(step, st, self.auto_approve)):
                self.answers[st.key] = [*self.answers.get(st.key, []), *answers]
                await self.execute(step, st, iteration, item, scope, revision, answer.comment)

    def summary(self, step: OutlineStep, name: str, scope: str | None, again: str) -> str:
        """What the Web UI shows of a step's activity: `sm → story.md (epic 3)` inside a loop."""
        if scope and self.iteration_summaries:
            return f"{step.agent} → {output_name(step)} ({scope.replace('-', ' ')}){again}"
        return f"{step.agent} → {name}{again}"

    async def execute(
        self, step: OutlineStep, st: StepState, iteration: int | None, item: Any, scope: str | None,
        revision: int = 0, feedback: str | None = None,
    ) -> None:
        name = output_name(step, scope)
        await self.hold_while_paused(st.key)
        await self.within_budget(st.key)
        st.status, self.current = "running", st.key
        agents = [s.index for s in self.outline.steps if s.kind == "agent"]  # control entries run nothing
        again = f" (revision {revision})" if revision else ""
        workflow.set_current_details(
            f"Step {agents.index(step.index) + 1}/{len(agents)} `{st.key}`: {step.agent} → {name}{again}")
        by_ref = self.inputs_by_ref
        result = await workflow.execute_activity(
            ACTIVITY_AGENT_STEP,
            AgentStepInput(
                run_id=self.run_id,
                definition_hash=self.outline.definition_hash,
                step=step,
                key=st.key,
                iteration=iteration,
                item=item,
                scope=scope,
                available=self.artifacts,
                revision=revision,
                feedback=feedback,
                answers=self.answers.get(st.key, []),
                variables={} if by_ref else template_variables(self.inputs),
                model_ref=self.model_ref,
                inputs_ref=self.inputs_ref if by_ref else None,
            ),
            result_type=AgentStepResult,
            start_to_close_timeout=timedelta(seconds=self.policy.start_to_close_s),
            heartbeat_timeout=timedelta(seconds=self.policy.heartbeat_s),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=self.policy.retry_initial_s),
                backoff_coefficient=self.policy.retry_backoff,
                maximum_attempts=self.policy.retry_max_attempts,
            ),
            summary=self.summary(step, name, scope, again),
        )
        st.status, st.artifact, st.headless = "completed", result.artifact, result.headless
        if self.goto_on:
            st.jump = result.jump if any(j.to == result.jump for j in step.jumps) else None
        self.artifacts[result.artifact.name] = result.artifact
        self.budget.spent_usd += result.cost_usd
        self.budget.spent_tokens += result.prompt_tokens + result.completion_tokens
        self.budget.calls += 1
