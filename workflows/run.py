"""The interpreter workflows: `BmadRun` executes a compiled plan, its loops inline (continuing as new past a
threshold of history events); `BmadIteration` ran one repeat iteration as a child, in runs started before."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, FailureError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from bmad.plan import PlanOutline, RepeatBlock
    from workflows.approvals import ApprovalGate
    from workflows.contracts import (
        ACTIVITY_FINISH_RUN,
        ACTIVITY_START_RUN,
        UPDATE_PAUSE,
        UPDATE_RESUME,
        ApprovalDecision,
        ApprovalRequest,
        DecisionRecord,
        FinishRunInput,
        IterationInput,
        IterationResult,
        PauseRequest,
        PauseState,
        RunCarry,
        RunInput,
        RunProgress,
        RunResult,
        StartRunInput,
        StepRow,
    )
    from workflows.interpreter import Interpreter, step_key
    from workflows.patches import patched

_RECORD_TIMEOUT = timedelta(seconds=60)


_LOCAL_RECORDS = "bookkeeping-as-local-activities"
_CLEAR_WAITING = "waiting-cleared-when-run-ends"
_INLINE_LOOPS = "inline-loops"
_RECORDED_AT_LAUNCH = "run-recorded-at-launch"


async def _record(name: str, arg: StartRunInput | FinishRunInput, summary: str, engine: int) -> None:
    """Run bookkeeping (`start_run`, `finish_run`): a local activity, executed inside the workflow task.

    A regular activity would cost a round trip through the server's task queues each (one dispatch on the
    history service's transfer queue: 50 ms on a default server); the local activity runs in the workflow
    task that schedules the first step / completes the run. Both are short, idempotent database writes, retried
    by the worker like any activity. Runs started before this change keep their regular activities on replay.
    """
    if patched(engine, _LOCAL_RECORDS):
        await workflow.execute_local_activity(
            name, arg, start_to_close_timeout=_RECORD_TIMEOUT, summary=summary,
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10)),
        )
        return
    await workflow.execute_activity(name, arg, start_to_close_timeout=_RECORD_TIMEOUT, summary=summary)


def iteration_items(block: RepeatBlock, inputs: dict[str, Any], defaults: dict[str, Any]) -> list[Any]:
    """`for_each_x` is a count (run N times) or a list (once per item)."""
    value = inputs.get(block.input_name, defaults.get(block.input_name, 1))
    if isinstance(value, bool) or not isinstance(value, int | list):
        raise ApplicationError(
            f"run input {block.input_name} must be a count or a JSON list, got {value!r}",
            type="InvalidInput",
            non_retryable=True,
        )
    if isinstance(value, int):
        if value < 0:
            raise ApplicationError(f"run input {block.input_name} must be >= 0", non_retryable=True)
        return [None] * value
    return list(value)


def scope_name(block: RepeatBlock, iteration: int) -> str:
    return f"{block.input_name.removeprefix('for_each_')}-{iteration}"


def failure_message(err: BaseException) -> str:
    """The message of the first application error in a chain of Temporal failures: what we said went wrong."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError):
            return cause.message
        cause = cause.__cause__
    return str(err)


def end_details(status: str, error: str | None) -> str:
    if status == "cancelled":
        return "Cancelled by request"
    return status.capitalize() + (f": {error}" if error else "")


def all_step_rows(outline: PlanOutline, inputs: dict[str, Any]) -> list[StepRow]:
    rows: list[StepRow] = []
    blocks = {b.start: b for b in outline.repeat_blocks}
    i = 0
    while i < len(outline.steps):
        block = blocks.get(i)
        if block is None:
            s = outline.steps[i]
            rows.append(StepRow(key=s.id, step_id=s.id, agent=s.agent))
            i += 1
            continue
        count = len(iteration_items(block, inputs, outline.input_defaults))
        for n in range(1, count + 1):
            for s in outline.steps[block.start : block.end + 1]:
                rows.append(StepRow(key=step_key(s, n), step_id=s.id, agent=s.agent, iteration=n))
        i = block.end + 1
    return rows


@workflow.defn(name="BmadIteration")
class BmadIterationWorkflow:
    @workflow.init
    def __init__(self, inp: IterationInput) -> None:
        self._gate = ApprovalGate(inp.run_id, inp.parent_workflow_id)

    @workflow.signal
    async def decide_signal(self, decision: ApprovalDecision) -> None:
        await _deliver_quietly(self._gate, decision)

    @workflow.run
    async def run(self, inp: IterationInput) -> IterationResult:
        interp = Interpreter(inp.run_id, inp.outline, inp.inputs, inp.policy, inp.artifacts, inp.decisions,
                             self._gate, inp.approve, inp.auto_approve, inp.budget, inp.model_ref, inp.inputs_ref)
        interp.uses_patches()
        try:
            await interp.run_range(inp.start, inp.end, inp.iteration, inp.item, inp.scope)
        except ApplicationError as err:
            if err.type != "BudgetStop":
                raise
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.set_current_details(end_details("stopped" if interp.stopped else "completed", interp.stopped))
        return IterationResult(
            steps=list(interp.steps.values()), artifacts=interp.artifacts, decisions=interp.decisions,
            approvals=self._gate.records, budget=interp.budget, stopped=interp.stopped,
        )


async def _deliver_quietly(gate: ApprovalGate, decision: ApprovalDecision) -> None:
    """Signals are fire-and-forget: a decision nobody waits for is logged and dropped, not an error."""
    try:
        await gate.deliver(decision)
    except ValueError as exc:
        workflow.logger.warning("decision ignored: %s", exc)


@workflow.defn(name="BmadRun")
class BmadRunWorkflow:
    @workflow.init
    def __init__(self, inp: RunInput) -> None:
        artifacts = dict(inp.artifacts)
        self._gate = ApprovalGate(inp.run_id, console_url=inp.console_url)
        self._interp = Interpreter(inp.run_id, inp.outline, inp.inputs, inp.policy, artifacts, [],
                                   self._gate, inp.approve, inp.auto_approve, inp.budget, inp.model_ref,
                                   inp.inputs_ref)
        self._interp.carried = inp.carried_steps
        self._status = "running"
        self._error: str | None = None
        self._inline_loops = False
        if inp.carry is not None:  # a run that continued as new: its state as it was
            carry = inp.carry
            self._interp.steps = {st.key: st for st in carry.steps}
            self._interp.artifacts = dict(carry.artifacts)
            self._interp.decisions = list(carry.decisions)
            self._interp.budget = carry.budget.model_copy()
            self._gate.records = list(carry.approvals)
            self._interp.paused_by = carry.paused_by
            self._interp.visits = dict(carry.visits)

    @workflow.update
    async def decide(self, decision: ApprovalDecision) -> DecisionRecord:
        """A person's decision on a waiting step: approve, reject (with feedback), amend, or yes/no."""
        return await self._gate.deliver(decision)

    @decide.validator
    def _validate_decide(self, decision: ApprovalDecision) -> None:
        self._gate.validate_update(decision)

    @workflow.signal
    async def decide_signal(self, decision: ApprovalDecision) -> None:
        await _deliver_quietly(self._gate, decision)

    @workflow.update(name=UPDATE_PAUSE)
    def pause(self, req: PauseRequest) -> PauseState:
        """Pause the run between steps: the step running now finishes, the next one waits for `resume`."""
        interp = self._interp
        interp.paused_by = req.by
        running = f" (`{interp.current}` finishes first)" if interp.current else ""
        workflow.set_current_details(f"Paused by {req.by}: no step starts until resumed{running}")
        return PauseState(paused=True, by=req.by, before=interp.paused_before)

    @pause.validator
    def _validate_pause(self, req: PauseRequest) -> None:
        if not self._interp.pause_on:
            raise ValueError("this run started before runs could pause; cancel it or let it finish")
        if self._interp.paused_by is not None:
            raise ValueError(f"the run is paused already (by {self._interp.paused_by})")
        if self._status != "running":
            raise ValueError(f"the run is {self._status}")

    @workflow.update(name=UPDATE_RESUME)
    def resume(self, req: PauseRequest) -> PauseState:
        """Resume a paused run: its next step starts."""
        interp = self._interp
        before, interp.paused_by = interp.paused_before, None
        workflow.set_current_details(f"Resumed by {req.by}" + (f" before `{before}`" if before else ""))
        return PauseState(paused=False, by=req.by, before=before)

    @resume.validator
    def _validate_resume(self, req: PauseRequest) -> None:
        if self._interp.paused_by is None:
            raise ValueError("the run is not paused")

    @workflow.signal
    def child_waiting(self, request: ApprovalRequest) -> None:
        self._gate.child_waiting(request)

    @workflow.signal
    def child_resolved(self, step: str) -> None:
        self._gate.child_resolved(step)

    @workflow.query
    def progress(self) -> RunProgress:
        interp = self._interp
        return RunProgress(
            run_id=interp.run_id,
            workflow_id=interp.outline.workflow_id,
            definition_hash=interp.outline.definition_hash,
            status=self._status,
            current=interp.current,
            steps=list(interp.steps.values()),
            decisions=interp.decisions,
            artifacts=interp.artifacts,
            error=self._error,
            pending_approvals=sorted(self._gate.pending.values(), key=lambda r: r.requested_at),
            approvals=self._gate.records,
            budget=interp.budget,
            paused_by=interp.paused_by,
            paused_before=interp.paused_before,
        )

    @workflow.run
    async def run(self, inp: RunInput) -> RunResult:
        # patches decided first, in the first workflow task (see Interpreter.uses_patches): runs recorded before
        # loops ran inline start one child workflow per iteration
        self._interp.engine = self._gate.engine = inp.engine
        self._interp.uses_patches()
        self._inline_loops = patched(inp.engine, _INLINE_LOOPS)
        # the launcher recorded the run before starting it (RunInput.recorded): no `start_run` local activity, whose
        # write and extra activations made the first workflow task the longest of a short run
        recorded = inp.recorded and patched(inp.engine, _RECORDED_AT_LAUNCH)
        if inp.carry is None:
            await self._begin(inp, recorded)
        else:
            workflow.set_current_details(f"Continued ({inp.carry.continued}×) at iteration {inp.carry.next_iteration}")
        try:
            await self._execute(inp)
            if self._interp.stopped:
                return await self._stop(inp, self._interp.stopped)
        except asyncio.CancelledError:
            await self._finish(inp, "cancelled", "cancelled by request")
            raise
        except FailureError as err:  # a step, an iteration or the interpreter failed the run
            if isinstance(err, ApplicationError) and err.type == "BudgetStop":
                return await self._stop(inp, err.message)
            if is_cancelled_exception(err):  # cancelled while a step or an iteration ran
                await self._finish(inp, "cancelled", "cancelled by request")
                raise asyncio.CancelledError() from err
            message = failure_message(err)
            await self._finish(inp, "failed", message)
            raise ApplicationError(message, type="RunFailed", non_retryable=True) from err
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._finish(inp, "completed", None)
        return RunResult(
            run_id=inp.run_id, status="completed", artifacts=self._interp.artifacts,
            decisions=self._interp.decisions, approvals=self._gate.records,
        )

    async def _begin(self, inp: RunInput, recorded: bool) -> None:
        """Every step visible as pending from the start, and the run recorded (once: not when it continues, nor
        when the launcher recorded it)."""
        outline = inp.outline
        try:
            rows = all_step_rows(outline, inp.inputs)
        except ApplicationError as err:
            await self._finish(inp, "failed", err.message)
            raise
        for row in rows:
            step = next(s for s in outline.steps if s.id == row.step_id)
            self._interp.state(step, row.iteration)
        if recorded:
            return
        await _record(
            ACTIVITY_START_RUN,
            StartRunInput(
                run_id=inp.run_id,
                workflow_id=outline.workflow_id,
                temporal_workflow_id=workflow.info().workflow_id,
                definition_hash=outline.definition_hash,
                inputs=inp.inputs,
                steps=rows,
                model_ref=inp.model_ref,
                inputs_ref=inp.inputs_ref,
            ),
            f"record run of {outline.workflow_id}", inp.engine,
        )

    async def _stop(self, inp: RunInput, why: str) -> RunResult:
        """A person stopped the run at a budget pause: it ends, recorded as stopped, not as a failure."""
        self._interp.exited = why
        self._interp.skip_rest()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._finish(inp, "stopped", why)
        return RunResult(run_id=inp.run_id, status="stopped", artifacts=self._interp.artifacts,
                         decisions=self._interp.decisions, approvals=self._gate.records)

    async def _execute(self, inp: RunInput) -> None:
        interp = self._interp
        blocks = {b.start: b for b in inp.outline.repeat_blocks}
        main = sum(1 for s in inp.outline.steps if s.route_of is None)  # route branches come after
        i, resume = (inp.carry.block_start, inp.carry.next_iteration) if inp.carry else (0, 1)
        while i < main:
            if interp.stopped:
                return
            if interp.exited:
                interp.skip_rest()
                return
            block = blocks.get(i)
            if block is None:
                await interp.run_step(inp.outline.steps[i])
                i = interp.after(i)  # the next step, or where a `<goto>` leads
                continue
            items = iteration_items(block, inp.inputs, inp.outline.input_defaults)
            inline = self._inline_loops
            for n, item in enumerate(items, start=1):
                if n < resume:
                    continue
                if interp.stopped:
                    return
                if not inline:
                    await self._iteration(inp, block, n, item)
                    continue
                await self._inline_iteration(block, n, item)
                if n < len(items) and not interp.stopped and self._history_full(inp):
                    await self._continue_as_new(inp, block, n + 1)
            resume = 1
            i = block.end + 1

    async def _inline_iteration(self, block: RepeatBlock, n: int, item: Any) -> None:
        """One iteration in the run's own workflow; a route that exits ends the iteration, as a child did."""
        interp = self._interp
        scope = scope_name(block, n)
        interp.current = scope
        interp.iteration_summaries = True
        workflow.set_current_details(f"Iteration {scope} (steps {block.start + 1}–{block.end + 1})")
        exited = interp.exited
        await interp.run_range(block.start, block.end, n, item, scope)
        interp.exited = exited

    @staticmethod
    def _history_full(inp: RunInput) -> bool:
        info = workflow.info()
        limit = inp.continue_as_new_events
        return info.is_continue_as_new_suggested() or (limit is not None and info.get_current_history_length() >= limit)

    async def _continue_as_new(self, inp: RunInput, block: RepeatBlock, next_iteration: int) -> None:
        """Go on in a new execution of the same workflow id, carrying the run's state, once every Update or
        signal handler in flight has finished (between iterations nothing waits for a person)."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        interp = self._interp
        carry = RunCarry(
            steps=list(interp.steps.values()), artifacts=interp.artifacts, decisions=interp.decisions,
            approvals=self._gate.records, budget=interp.budget, block_start=block.start,
            next_iteration=next_iteration, continued=(inp.carry.continued + 1) if inp.carry else 1,
            paused_by=interp.paused_by, visits=interp.visits,
        )
        workflow.continue_as_new(inp.model_copy(update={"carry": carry}))

    async def _iteration(self, inp: RunInput, block: RepeatBlock, n: int, item: Any) -> None:
        interp = self._interp
        scope = scope_name(block, n)
        interp.current = scope
        workflow.set_current_details(f"Iteration {scope} (steps {block.start + 1}–{block.end + 1})")
        result = await workflow.execute_child_workflow(
            BmadIterationWorkflow.run,
            IterationInput(
                run_id=inp.run_id,
                outline=inp.outline,
                inputs=inp.inputs,
                inputs_ref=inp.inputs_ref,
                start=block.start,
                end=block.end,
                iteration=n,
                item=item,
                scope=scope,
                artifacts=interp.artifacts,
                decisions=interp.decisions,
                policy=inp.policy,
                auto_approve=inp.auto_approve,
                approve=inp.approve,
                parent_workflow_id=workflow.info().workflow_id,
                budget=interp.budget,
                model_ref=inp.model_ref,
            ),
            id=f"{workflow.info().workflow_id}-{scope}",
            static_summary=f"{inp.outline.workflow_id}: iteration {scope}",
        )
        for st in result.steps:
            interp.steps[st.key] = st
        interp.artifacts = result.artifacts
        interp.decisions = result.decisions
        interp.budget = result.budget
        interp.stopped = interp.stopped or result.stopped
        self._gate.records.extend(result.approvals)

    async def _finish(self, inp: RunInput, status: str, error: str | None) -> None:
        """Every way a run ends comes through here (completed, failed, cancelled, stopped): its state, its
        current details and its search attribute say so before the run is recorded."""
        self._status, self._error = status, error
        workflow.set_current_details(end_details(status, error))
        self._gate.close(upsert=patched(inp.engine, _CLEAR_WAITING))
        final = [s for s in self._interp.steps.values() if s.status in ("skipped", "pending")]
        if status == "completed":
            final += [s for s in self._interp.steps.values() if s.status == "completed" and s.artifact is None]
        await _record(
            ACTIVITY_FINISH_RUN,
            FinishRunInput(
                run_id=inp.run_id, status=status, error=error, decisions=self._interp.decisions, steps=final,
                approvals=self._gate.records,
            ),
            f"record {status}", inp.engine,
        )
