"""Durable human decisions inside the workflow: what is waiting, who decided what, and timeouts.

A decision arrives as the `decide` Update (validated before it enters history) or the `decide_signal` signal.
Repeat iterations run as child workflows: a child tells its parent what it waits for, and the parent forwards
decisions to it, so a client only ever talks to the run's workflow.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from bmad.plan import ApprovalSpec, OutlineStep
    from workflows.contracts import (
        DECISION_VERBS,
        MAX_AMENDMENT_BYTES,
        MAX_QUESTION_ROUNDS,
        SEARCH_ATTR_WAITING,
        Answer,
        ApprovalDecision,
        ApprovalRequest,
        DecisionRecord,
        EventInput,
        StepState,
    )
    from workflows.patches import patched

from temporalio.common import SearchAttributeKey

WAITING_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTR_WAITING)
_EVENT_TIMEOUT = timedelta(seconds=60)
_ANSWERS = {  # what a delivered decision may be (histories recorded before the Update checks were strict)
    "approval": {"approve", "reject", "amend"},
    "condition": {"yes", "no", "approve", "reject"},
    "route": {"choose"},
    "budget": {"raise", "stop"},
    "answer": {"answer"},
}
_FITS = DECISION_VERBS  # what the Update validator lets in: the verb must fit what waits


class DecisionRefused(ValueError):
    """A decision that does not fit what waits; a client sees its class name (contracts.DECISION_REFUSED) as the
    failure type."""


class NotWaiting(DecisionRefused):
    """A decision for a step that does not wait for one."""


def _what(req: ApprovalRequest) -> str:
    return {"approval": f"the approval of {req.artifact}", "condition": f"the condition {req.question!r}",
            "route": f"the route {req.question!r}", "budget": "a budget pause",
            "answer": f"the question {req.question!r}"}[req.kind]


def _how(req: ApprovalRequest) -> str:
    return {"approval": "approve, reject or amend (with the edited content)", "condition": "yes or no",
            "route": f"choose with a choice, one of: {', '.join(req.choices)}",
            "budget": "raise (with the new budget as the choice) or stop",
            "answer": "answer with the answer's text"}[req.kind]


class ApprovalGate:
    def __init__(self, run_id: str, parent_workflow_id: str | None = None, console_url: str | None = None) -> None:
        self.run_id = run_id
        self.parent = parent_workflow_id
        self.console_url = console_url
        self.pending: dict[str, ApprovalRequest] = {}
        self.inbox: dict[str, ApprovalDecision] = {}
        self.records: list[DecisionRecord] = []
        self.lock = asyncio.Lock()
        self.closed = False  # the run has ended: nothing waits any more, whatever a late signal says
        self._details_before_wait: str | None = None
        self.spent: dict[str, tuple[str, float]] = {}  # budget pauses: step key -> (limit, spent so far)
        self.questions_on = False  # steps may ask a person (patch PATCH_QUESTIONS, asked when the run starts)
        self.headless_on = False  # headless steps' open questions ask a person (patch PATCH_HEADLESS, likewise)
        self.rounds: dict[str, int] = {}  # step key -> rounds of its open questions asked so far
        self.engine = 0  # the run's engine level (RunInput.engine, workflows/patches.py)
        self._waiting_set = False  # BotArmyWaiting was set to "yes" at some point of this execution

    # -- decisions arriving (Update / signal handlers) --------------------------------------------------
    def validate_update(self, d: ApprovalDecision) -> None:
        """The Update validator: the verb must fit what waits, a raise must exceed what is spent, then `validate`.
        Validators never run on replay, so these checks can be stricter than what old histories delivered."""
        req = self.pending.get(d.step)
        if req is not None and d.decision not in _FITS[req.kind]:
            raise DecisionRefused(f"{d.decision!r} does not answer {_what(req)} at step {d.step!r}; use {_how(req)}")
        self.validate(d)
        if req is not None and d.decision == "raise" and d.step in self.spent:
            limit, spent = self.spent[d.step]
            if float(d.choice or 0) <= spent:
                used = f"${spent:.4f}" if limit == "usd" else f"{spent:.0f} tokens"
                raise DecisionRefused(f"a raise to {d.choice} does not exceed the {used} already spent; "
                                      "raise the budget above it, or stop")

    def validate(self, d: ApprovalDecision) -> None:
        req = self.pending.get(d.step)
        if req is None:
            waiting = ", ".join(sorted(self.pending)) or "nothing"
            raise NotWaiting(f"step {d.step!r} is not waiting for a decision (waiting: {waiting})")
        if d.decision not in _ANSWERS[req.kind]:
            raise DecisionRefused(f"{d.decision!r} does not answer {_what(req)}; use {_how(req)}")
        if req.kind == "route" and d.choice not in req.choices:
            raise DecisionRefused(f"choose one of {', '.join(req.choices)} for step {d.step!r} (got {d.choice!r})")
        if d.decision == "raise" and not _positive_number(d.choice):
            raise DecisionRefused("a raise decision needs the new budget in 'choice', e.g. 5.00")
        if d.decision == "answer" and not d.comment.strip():
            raise DecisionRefused(f"an answer to step {d.step!r} needs its text (in 'comment')")
        if d.decision == "amend" and not d.content:
            raise DecisionRefused("an amend decision needs the edited artifact in 'content'")
        if d.content and len(d.content.encode()) > MAX_AMENDMENT_BYTES:
            raise DecisionRefused(f"'content' is over {MAX_AMENDMENT_BYTES} bytes")
        if req.role and d.role and d.role != req.role:
            raise DecisionRefused(f"step {d.step!r} must be decided by role {req.role!r}, not {d.role!r}")

    async def deliver(self, d: ApprovalDecision) -> DecisionRecord:
        async with self.lock:
            self.validate(d)  # again: state may have changed since the validator ran
            req = self.pending.pop(d.step)
            record = self._make_record(req, d, "human")
            if req.child_workflow_id:  # the child holds the step; it keeps the record
                child = workflow.get_external_workflow_handle(req.child_workflow_id)
                await child.signal("decide_signal", d)
            else:
                self.inbox[d.step] = d
                self.records.append(record)
            self._mark_waiting()
            return record

    def child_waiting(self, req: ApprovalRequest) -> None:
        if self.closed:
            return
        self.pending[req.step] = req
        self._mark_waiting()
        if self._details_before_wait is None:
            self._details_before_wait = workflow.get_current_details()
        workflow.set_current_details(self._waiting(req))

    def child_resolved(self, step: str) -> None:
        if self.closed:
            return
        self.pending.pop(step, None)
        self._mark_waiting()
        if not self.pending and self._details_before_wait is not None:
            workflow.set_current_details(self._details_before_wait)
            self._details_before_wait = None

    def close(self, upsert: bool) -> None:
        """The run ends (completed, failed, cancelled, stopped): nothing waits for a person any more.

        `upsert` is False only when replaying a history recorded before the run cleared its search attribute
        (such a history may still hold a late child signal that upserted it).
        """
        self.pending.clear()
        if not upsert:
            return
        self.closed = True
        # a run of engine level 1 or later that never waited still says "no", as it did from its start: no upsert
        if self.parent is None and (self.engine < 1 or self._waiting_set):
            workflow.upsert_search_attributes([WAITING_KEY.value_set("no")])

    # -- asking (main workflow coroutine) ---------------------------------------------------------------
    async def ask(self, req: ApprovalRequest, spec: ApprovalSpec | None) -> ApprovalDecision:
        timeout_s = spec.timeout_s if spec else None
        if timeout_s:
            req = req.model_copy(update={"timeout_at": workflow.now() + timedelta(seconds=timeout_s)})
        self.pending[req.step] = req
        self._mark_waiting()
        workflow.set_current_details(self._waiting(req))
        once = f"{req.step}@{req.requested_at.isoformat()}"
        await self._event("approval.requested", req.model_dump(mode="json"), once)
        if self.parent:
            await workflow.get_external_workflow_handle(self.parent).signal(
                "child_waiting", req.model_copy(update={"child_workflow_id": workflow.info().workflow_id})
            )
        try:
            await workflow.wait_condition(
                lambda: req.step in self.inbox, timeout=timedelta(seconds=timeout_s) if timeout_s else None
            )
            decision = self.inbox.pop(req.step)
        except TimeoutError:
            decision = self._on_timeout(req, spec)
        if self.parent:
            await workflow.get_external_workflow_handle(self.parent).signal("child_resolved", req.step)
        self.pending.pop(req.step, None)
        self._mark_waiting()
        workflow.set_current_details(f"`{req.step}` decided: {decision.decision} by {decision.by}")
        await self._event("approval.resolved", {"step": req.step, "decision": decision.decision,
                                                "by": decision.by, "comment": decision.comment}, once)
        return decision

    async def questions(self, step: OutlineStep, key: str, auto_approve: bool) -> list[Answer]:
        """A step with questions (`<ask>`) waits for a person's answer before it runs; with auto-approve nobody is
        asked: the step's agent answers with its best assumption, recorded as such (source "assumption").
        `questions_on`: the patch, asked in the run's first activation (Interpreter.uses_patches)."""
        if not step.asks or not self.questions_on:
            return []
        return await self._answer(step, key, step.asks, auto_approve, "in its document under 'Assumptions'")

    def carried(self, step: OutlineStep, key: str, records: list[DecisionRecord], parent_run_id: str) -> list[Answer]:
        """A rerun's carried step with questions (`<ask>`) asks nobody: its answers are the parent's (`records`,
        its stored records of them), those its output was made with; recorded here with source "carried", so the
        rerun's decisions say where they came from. A step that asked nothing in the parent gets no answers."""
        question = _question(step.asks)
        answers = []
        for r in records:
            self.records.append(r.model_copy(update={"source": "carried",
                                                     "carried_from": r.carried_from or parent_run_id}))
            assumed = r.decision == "assume"
            answers.append(Answer(question=question, answer="" if assumed else r.comment, by=r.by, assumed=assumed))
        return answers

    async def open_questions(self, step: OutlineStep, st: StepState, auto_approve: bool) -> list[Answer]:
        """A headless step whose JSON result is partial or blocked with open questions asks a person (as `<ask>`
        does); the answers are for the step's next run. With auto-approve the agent answers with its best
        assumption (source "assumption"). At most MAX_QUESTION_ROUNDS rounds per step: then a partial result
        stands, its questions left on the step, and a blocked one fails the run. [] when the step is done.
        `headless_on`: the patch, asked in the run's first activation (Interpreter.uses_patches)."""
        report = st.headless
        if not self.headless_on or report is None or not report.asks:
            return []
        done = self.rounds.get(st.key, 0)
        if done >= MAX_QUESTION_ROUNDS:
            if report.status == "blocked":
                raise ApplicationError(
                    f"step {st.key} is still blocked after {done} rounds of answers (at most "
                    f"{MAX_QUESTION_ROUNDS}): {' / '.join(report.asks)[:500]}", type="Blocked", non_retryable=True)
            return []
        self.rounds[st.key] = done + 1
        st.status = "waiting"
        return await self._answer(step, st.key, report.asks, auto_approve, "in its result's assumptions", done + 1)

    async def _answer(self, step: OutlineStep, key: str, asks: list[str], auto_approve: bool, where: str,
                      round_: int = 0) -> list[Answer]:
        question = _question(asks)
        if auto_approve:
            by = f"agent {step.agent}" if step.agent else "agent"
            self.records.append(DecisionRecord(
                step=key, kind="answer", decision="assume", by=by, at=workflow.now(), source="assumption",
                comment=f"nobody was asked ({question[:200]}): the agent answers with its best assumption, "
                        f"recorded {where}"))
            return [Answer(question=question, by=by, assumed=True, round=round_)]
        answer = await self.ask(ApprovalRequest(step=key, kind="answer", agent=step.agent, question=question,
                                                requested_at=workflow.now()), None)
        return [Answer(question=question, answer=answer.comment, by=answer.by, round=round_)]

    def _on_timeout(self, req: ApprovalRequest, spec: ApprovalSpec | None) -> ApprovalDecision:
        action = spec.on_timeout if spec else "fail"
        if action == "fail":
            self.pending.pop(req.step, None)
            raise ApplicationError(f"no decision on step {req.step} within its approval timeout", non_retryable=True)
        answer = action if req.kind == "approval" else ("yes" if action == "approve" else "no")
        decision = ApprovalDecision(step=req.step, decision=answer, comment="applied on timeout", by="timeout")
        self.records.append(self._make_record(req, decision, "timeout"))
        return decision

    def _make_record(
        self, req: ApprovalRequest, d: ApprovalDecision, source: Literal["human", "timeout"]
    ) -> DecisionRecord:
        return DecisionRecord(
            step=req.step, kind=req.kind, decision=d.decision, comment=d.comment, by=d.by, role=d.role,
            at=workflow.now(), source=source, artifact=req.artifact, version=req.version,
        )

    def _waiting(self, req: ApprovalRequest) -> str:
        """What the run waits for, with the console's page to decide it when the run knows the console."""
        text = waiting_details(req)
        if self.console_url and patched(self.engine, "console-link-in-details"):
            text += f"; decide it at {console_link(self.console_url, self.run_id)}"
        return text

    def _mark_waiting(self) -> None:
        if self.parent is None:
            self._waiting_set = self._waiting_set or bool(self.pending)
            workflow.upsert_search_attributes([WAITING_KEY.value_set("yes" if self.pending else "no")])

    async def _event(self, type_: str, data: dict, key: str) -> None:
        await workflow.execute_activity(
            "emit_event", EventInput(run_id=self.run_id, type=type_, data=data, key=key),
            start_to_close_timeout=_EVENT_TIMEOUT, summary=type_,
        )


def _question(asks: list[str]) -> str:
    """The question a person is asked: the step's questions in one line, at most 2000 characters."""
    question = " / ".join(asks)
    return question[:1999] + "…" if len(question) > 2000 else question


def waiting_details(req: ApprovalRequest) -> str:
    """What the run waits for, as the Web UI shows it in the workflow's current details."""
    role = f", role {req.role}" if req.role else ""
    if req.kind == "approval":
        again = f", revision {req.revision}" if req.revision else ""
        return f"Waiting for approval of {req.artifact} v{req.version} ({req.agent}{role}{again}) at `{req.step}`"
    if req.kind == "route":
        return f"Waiting for a route choice at `{req.step}`: {req.question}: one of {', '.join(req.choices)}"
    if req.kind == "answer":
        return f"Waiting for an answer at `{req.step}` ({req.agent}): {req.question}"
    if req.kind == "budget":
        return f"Paused before `{req.step}` at the budget: {req.question}; raise it or stop the run"
    return f"Waiting for a decision at `{req.step}`: {req.question}?{role}"


def console_link(console_url: str, run_id: str) -> str:
    return f"{console_url.rstrip('/')}/#/approvals?run={run_id}"


def _positive_number(value: str | None) -> bool:
    try:
        return value is not None and float(value) > 0
    except ValueError:
        return False


def needs_approval(step: OutlineStep, approve: str | list[str], auto_approve: bool) -> bool:
    if auto_approve or step.kind != "agent":
        return False
    if step.approval is not None or approve == "all":
        return True
    agents = set((step.agent or "").split("/"))
    return isinstance(approve, list) and bool(agents & set(approve))


def asks_conditions(approve: str | list[str], auto_approve: bool) -> bool:
    return not auto_approve and approve != "none"
