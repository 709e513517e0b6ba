"""Inputs and outputs of the interpreter workflows and their activities.

Pure pydantic; payloads carry references (ids, hashes), never document bodies, so history stays small.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from bmad.artifacts import COLLECTIVE
from bmad.inputs import ENGINE_INPUTS
from bmad.plan import OutlineStep, PlanOutline

SEARCH_ATTR_WORKFLOW = "BotArmyWorkflow"
SEARCH_ATTR_DEFINITION = "BotArmyDefinitionHash"
SEARCH_ATTR_WAITING = "BotArmyWaiting"  # "yes" while a person is asked to decide
SEARCH_ATTR_PARENT = "BotArmyParentRun"  # a rerun: the run id it was forked from
MAX_AMENDMENT_BYTES = 1_048_576
DECISION_REFUSED = "DecisionRefused"  # the failure type of a decision that does not fit what waits

# What a person can be asked to decide, and the verbs that answer each kind (the Update validator, the CLI's
# `decide` and the API's decision body all go by this).
DecisionKind = Literal["approval", "condition", "route", "budget", "answer"]
DECISION_VERBS: dict[str, tuple[str, ...]] = {
    "approval": ("approve", "reject", "amend"),
    "condition": ("yes", "no"),
    "route": ("choose",),
    "budget": ("raise", "stop"),
    "answer": ("answer",),  # a question to a person (a v6 `<ask>`): the answer text in `comment`
}
PATCH_QUESTIONS = "steps-ask-a-person"  # workflow.patched id: a step with questions waits for their answer
# workflow.patched id: a headless step whose result has open questions asks a person, then runs again with the answer
PATCH_HEADLESS = "headless-open-questions"
# workflow.patched id: a headless step revised after a rejection asks its revision's open questions too
PATCH_REVISION_QUESTIONS = "headless-questions-after-revision"
MAX_QUESTION_ROUNDS = 3  # rounds of a headless step's open questions, then it goes on (partial) or fails (blocked)
# workflow.patched id: a step's `<goto>` the agent took moves the run there (OutlineStep.jumps)
PATCH_GOTO = "goto-steps"
MAX_STEP_VISITS = 10  # a backward jump to a step run this many times is refused: the run goes on in order
# workflow.patched id: a v6 optional step asks a person whether to include it (OutlineStep.ask_optional)
PATCH_OPTIONAL_ASKS = "optional-steps-ask-a-person"
# workflow.patched id: a rerun's carried step that asks (`<ask>`) takes its parent's answers, nobody is asked again
PATCH_CARRIED_ANSWERS = "carried-steps-keep-their-answers"
PATCH_PAUSE = "pause-between-steps"  # workflow.patched id: a paused run starts no step until it is resumed
# BmadRun's Updates that pause and resume a run between steps, and the events the store keeps of them
UPDATE_PAUSE, UPDATE_RESUME = "pause", "resume"
EVENT_RUN_PAUSED, EVENT_RUN_RESUMED = "run.paused", "run.resumed"

# Activity names: the workflows schedule them by name, the worker registers them under it, the bench counts them.
ACTIVITY_AGENT_STEP = "agent_step"
ACTIVITY_START_RUN = "start_run"
ACTIVITY_FINISH_RUN = "finish_run"
ACTIVITY_STORE_AMENDMENT = "store_amendment"
ACTIVITY_LAUNCH_SCHEDULED = "launch_scheduled"
WORKFLOW_SCHEDULED_LAUNCH = "BmadScheduledLaunch"  # what a schedule starts: one run (workflows/scheduled.py)


def event_channel(run_id: str) -> str:
    """The Redis channel a run's events are announced on (the activities publish, the API's followers listen)."""
    return f"botarmy:events:{run_id}"

# How a run can end; its last event is `run.<status>`, where every follower of its event stream stops.
TERMINAL_RUN_STATUSES = frozenset({"completed", "failed", "cancelled", "stopped"})
TERMINAL_RUN_EVENTS = frozenset(f"run.{status}" for status in TERMINAL_RUN_STATUSES)


class ArtifactPointer(BaseModel):
    name: str
    id: int
    version: int
    sha256: str
    bytes: int

    @classmethod
    def of(cls, ref: Any) -> ArtifactPointer:
        """From a stored artifact's metadata (store.ArtifactRef)."""
        return cls(name=ref.name, id=ref.id, version=ref.version, sha256=ref.sha256, bytes=ref.bytes)


class HeadlessReport(BaseModel):
    """A headless step's JSON result (BMAD 6.7+ skills, `assets/headless-schemas.md`), as the agent step parsed it;
    status `missing` when the answer held none."""

    status: Literal["complete", "partial", "blocked", "missing"]
    assumptions: list[str] = Field(default_factory=list)
    open_questions: list[str] = Field(default_factory=list)
    reason: str | None = None  # blocked: why

    @property
    def asks(self) -> list[str]:
        """What a person is to answer: the open questions of a partial or blocked result (a blocked one without
        any: its reason)."""
        if self.status not in ("partial", "blocked"):
            return []
        return self.open_questions or ([self.reason] if self.status == "blocked" and self.reason else [])


class StepState(BaseModel):
    key: str
    step_id: str
    agent: str | None = None
    iteration: int | None = None
    status: str = "pending"  # pending|running|completed|skipped|failed
    reason: str | None = None
    artifact: ArtifactPointer | None = None
    headless: HeadlessReport | None = None  # a headless step's last result: its assumptions and open questions
    visit: int | None = None  # > 1: the step runs again after a backward `<goto>` (its key is `<id>#<visit>`)
    jump: str | None = None  # the step id its `<goto>` led to (taken, or refused: see the run's decisions)


class Decision(BaseModel):
    condition: str
    value: bool
    source: str  # "input" | "default" | "decided by <who>" | "route <name>"
    step: str
    choice: str | None = None  # for a route: the branch taken


class StepPolicy(BaseModel):
    """Timeouts and retries of agent steps, fixed when the run starts so every replay sees the same."""

    start_to_close_s: float = 600.0
    heartbeat_s: float = 10.0
    retry_initial_s: float = 1.0
    retry_backoff: float = 2.0
    retry_max_attempts: int = 4


class ApprovalRequest(BaseModel):
    """Something a person is asked to decide: a step's output (kind approval) or a condition (kind condition)."""

    step: str  # step key
    kind: DecisionKind = "approval"
    agent: str | None = None
    artifact: str | None = None
    version: int | None = None
    question: str | None = None
    choices: list[str] = Field(default_factory=list)  # route: the branches to choose from
    role: str | None = None
    revision: int = 0
    requested_at: datetime
    timeout_at: datetime | None = None
    child_workflow_id: str | None = None  # set when a repeat iteration asks


class ApprovalDecision(BaseModel):
    step: str
    decision: Literal["approve", "reject", "amend", "yes", "no", "choose", "raise", "stop", "answer"]
    comment: str = ""  # answer: the answer to the question
    choice: str | None = None  # choose: the route; raise: the new budget, e.g. "2.50" (USD) or "50000" (tokens)
    content: str | None = None  # amend only: the edited artifact
    by: str = "anonymous"
    role: str | None = None


class DecisionRecord(BaseModel):
    """Stored for every decision: who, when, what, with which comment."""

    step: str
    kind: str
    decision: str
    comment: str = ""
    by: str
    role: str | None = None
    at: datetime
    # "assumption": nobody was asked (--auto-approve); the step's agent answers with its best assumption;
    # "carried": a rerun's carried step took the answer of the run named in `carried_from` (who and when are its)
    source: Literal["human", "timeout", "assumption", "carried"] = "human"
    artifact: str | None = None
    version: int | None = None
    carried_from: str | None = None  # source "carried": the run whose person (or agent) gave the answer


class Answer(BaseModel):
    """The answer to a step's questions, given to the step in its prompt."""

    question: str
    answer: str = ""  # empty when assumed: the agent writes its best assumption
    by: str
    assumed: bool = False
    round: int = 0  # > 0: answers a headless step's open questions of that round (the step runs again)


class EventInput(BaseModel):
    run_id: str
    type: str
    data: dict[str, Any] = Field(default_factory=dict)
    key: str | None = None  # stored once per key: a retried activity does not store its event twice


class AmendInput(BaseModel):
    run_id: str
    key: str
    name: str
    content: str
    amendment: int
    by: str


class Budget(BaseModel):
    """Limits of a run and what it has spent; the workflow pauses before a step that would cross a limit."""

    usd: float | None = None
    tokens: int | None = None
    spent_usd: float = 0.0
    spent_tokens: int = 0
    calls: int = 0  # agent steps paid so far (the next step is expected to cost their average)


class RunCarry(BaseModel):
    """What a run carries into its next execution when it continues as new (a long loop, past the threshold of
    history events): its state, and where in the loop it goes on. Not the answers to steps' questions
    (Interpreter.answers) nor their rounds: it continues between iterations, when every step so far has finished
    (its approvals and revisions too), and no step runs again after it; the answers stay in `approvals`."""

    steps: list[StepState]
    artifacts: dict[str, ArtifactPointer]
    decisions: list[Decision] = Field(default_factory=list)
    approvals: list[DecisionRecord] = Field(default_factory=list)
    budget: Budget = Field(default_factory=Budget)
    block_start: int  # the repeat block it is in (index of its first step)
    next_iteration: int  # 1-based: the iteration it goes on with
    continued: int = 1  # how many times the run has continued as new
    paused_by: str | None = None  # paused when it continued: it stays paused
    visits: dict[str, int] = Field(default_factory=dict)  # step id -> its visit now, when a `<goto>` ran it again


class CarriedSteps(BaseModel):
    """A rerun's steps carried over from its parent (store ReusePlan.carry: the agent step takes over the parent's
    output). A carried step that asks (`<ask>`) is not asked again: its answers are the parent's, those its output
    was made with (`answers`: step key -> the parent's records of them, as stored in its decisions)."""

    parent_run_id: str
    keys: list[str] = Field(default_factory=list)
    answers: dict[str, list[DecisionRecord]] = Field(default_factory=dict)

    def step_ids(self) -> set[str]:
        """The plan step ids of the carried keys (`id[2]` in a loop's second iteration, `id#2` on a second visit)."""
        return {re.split(r"[\[#]", k, maxsplit=1)[0] for k in self.keys}


class RunInput(BaseModel):
    run_id: str
    outline: PlanOutline
    # with `inputs_ref`: only the inputs the interpreter reads (control_inputs); without (runs started before
    # inputs travelled by reference): all of them
    inputs: dict[str, Any] = Field(default_factory=dict)
    inputs_ref: str | None = None  # sha256 of all the run's inputs, stored once (store: blobs)
    artifacts: dict[str, ArtifactPointer] = Field(default_factory=dict)  # external inputs given with the run
    auto_approve: bool = False
    policy: StepPolicy = Field(default_factory=StepPolicy)
    approve: str | list[str] = "none"  # "all" | "none" | agent ids that need a person's approval
    budget: Budget = Field(default_factory=Budget)
    # sha256 of the run's model pin (store: run_models), resolved where the run was started; None (runs started
    # before pins): the worker's own model settings
    model_ref: str | None = None
    console_url: str | None = None  # the web console: a waiting run's current details link to its approval
    # continue as new past this many history events (checked between loop iterations), besides when Temporal
    # suggests it; None: only when Temporal suggests it
    continue_as_new_events: int | None = None
    carry: RunCarry | None = None  # set in an execution that continues a run
    carried_steps: CarriedSteps | None = None  # a rerun: the steps it carries over from its parent
    # the launcher recorded the run (row, pending steps, `run.started`) with its plan, pin and inputs, in one
    # transaction before the workflow started (botarmy.launch): the workflow does not record it again
    recorded: bool = False
    # the engine level the run was started at (workflows/patches.py): the patches folded into it are taken without
    # markers; 0: a run started before levels, which asks workflow.patched for each as it always did
    engine: int = 0


class IterationInput(BaseModel):
    run_id: str
    outline: PlanOutline
    inputs: dict[str, Any]
    inputs_ref: str | None = None
    start: int
    end: int
    iteration: int  # 1-based
    item: Any = None
    scope: str  # artifact name prefix, e.g. "epic-2"
    artifacts: dict[str, ArtifactPointer]
    decisions: list[Decision] = Field(default_factory=list)
    policy: StepPolicy = Field(default_factory=StepPolicy)
    auto_approve: bool = False
    approve: str | list[str] = "none"
    parent_workflow_id: str | None = None
    budget: Budget = Field(default_factory=Budget)
    model_ref: str | None = None


class IterationResult(BaseModel):
    steps: list[StepState]
    artifacts: dict[str, ArtifactPointer]
    decisions: list[Decision] = Field(default_factory=list)
    approvals: list[DecisionRecord] = Field(default_factory=list)
    budget: Budget = Field(default_factory=Budget)
    stopped: str | None = None


class RunProgress(BaseModel):
    """What the progress Query returns."""

    run_id: str
    workflow_id: str
    definition_hash: str
    status: str
    current: str | None = None
    steps: list[StepState]
    decisions: list[Decision]
    artifacts: dict[str, ArtifactPointer]
    error: str | None = None
    pending_approvals: list[ApprovalRequest] = Field(default_factory=list)
    approvals: list[DecisionRecord] = Field(default_factory=list)
    budget: Budget = Field(default_factory=Budget)
    paused_by: str | None = None  # paused: no step starts until it is resumed
    paused_before: str | None = None  # the step key a paused run holds before, once it got there


class PauseRequest(BaseModel):
    """The `pause` / `resume` Update's argument: who asks."""

    by: str = Field(default="someone", max_length=200)


class PauseState(BaseModel):
    """What `pause` / `resume` return."""

    paused: bool
    by: str
    before: str | None = None  # the step a paused run holds before (None: the running step has not finished)


class RunResult(BaseModel):
    run_id: str
    status: str
    artifacts: dict[str, ArtifactPointer]
    decisions: list[Decision]
    approvals: list[DecisionRecord] = Field(default_factory=list)


class StepRow(BaseModel):
    key: str
    step_id: str
    agent: str | None = None
    iteration: int | None = None


class StartRunInput(BaseModel):
    run_id: str
    workflow_id: str
    temporal_workflow_id: str
    definition_hash: str
    inputs: dict[str, Any]  # with inputs_ref: the control inputs only; the activity records the stored ones
    steps: list[StepRow]
    model_ref: str | None = None
    inputs_ref: str | None = None


class FinishRunInput(BaseModel):
    run_id: str
    status: str
    error: str | None = None
    decisions: list[Decision] = Field(default_factory=list)
    steps: list[StepState] = Field(default_factory=list)  # final status of steps no activity recorded
    approvals: list[DecisionRecord] = Field(default_factory=list)


class AgentStepInput(BaseModel):
    run_id: str
    definition_hash: str
    step: OutlineStep
    key: str
    iteration: int | None = None
    item: Any = None
    scope: str | None = None
    available: dict[str, ArtifactPointer]  # every artifact the step may read, by (scoped) name
    revision: int = 0  # > 0: re-run after a person rejected the output
    feedback: str | None = None
    answers: list[Answer] = Field(default_factory=list)  # answers to the step's questions (OutlineStep.asks)
    variables: dict[str, Any] = Field(default_factory=dict)  # run inputs that fill `{{name}}` in templates
    model_ref: str | None = None  # the run's model pin (RunInput.model_ref)
    # the run's stored inputs (RunInput.inputs_ref): the activity loads its variables from them, and `variables`
    # stays empty, so a large input is in the history once (the run's start), not once per step
    inputs_ref: str | None = None


class AgentStepResult(BaseModel):
    key: str
    artifact: ArtifactPointer
    attempts: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0  # what this step's model calls cost (0 when reused after a retry)
    provider: str | None = None  # the provider that answered (after any fallback)
    model: str | None = None
    headless: HeadlessReport | None = None  # a headless step's JSON result (OutlineStep.headless)
    jump: str | None = None  # the step id of the `<goto>` the agent took (OutlineStep.jumps); None: go on in order

    @property
    def open_questions(self) -> list[str]:
        return self.headless.asks if self.headless else []


COLLECTIVE_INPUTS = COLLECTIVE  # defined with the definitions that name them (bmad/ imports nothing of ours)


def control_inputs(outline: PlanOutline, inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs the interpreter itself reads: conditions, route choices, repeat counts or lists and the engine's
    own (`skip`, `skip_optional`). The rest (what fills templates) stays in the store, referenced by hash."""
    names = set(ENGINE_INPUTS) | {b.input_name for b in outline.repeat_blocks}
    for step in outline.steps:
        if step.condition:
            names.add(step.condition)
        if step.routes:
            names.add(step.condition or step.id)
        if step.ask_optional:
            names.add(optional_question(step))
    return {k: v for k, v in inputs.items() if k in names}


def optional_question(step: OutlineStep) -> str:
    """What a person is asked of a v6 optional step (a condition: yes includes it); a run input of that name
    answers it beforehand."""
    return f"include optional step {step.id}"


def run_started_event(workflow_id: str, inputs: dict[str, Any], definition_hash: str) -> tuple[str, dict[str, Any]]:
    """The `run.started` event, as the launcher or the `start_run` activity stores it."""
    return "run.started", {"workflow": workflow_id, "inputs": inputs, "definition_hash": definition_hash}


def template_variables(inputs: dict[str, Any]) -> dict[str, Any]:
    """The run inputs a step's templates may use: all but the engine's reserved `_` names."""
    return {k: v for k, v in inputs.items() if not k.startswith("_")}


def output_name(step: OutlineStep, scope: str | None = None) -> str:
    """The artifact name a step writes: what it creates/updates, else a report named for the step."""
    base = step.output or f"{step.id}.md"
    return f"{scope}/{base}" if scope else base


def resolve_requires(step: OutlineStep, available: dict[str, ArtifactPointer], scope: str | None) -> list[str]:
    """Names (as keys of `available`) of the artifacts a step reads; scoped versions win over global ones."""
    names: list[str] = []
    for req in step.requires:
        if req in COLLECTIVE_INPUTS:
            names.extend(n for n in available if n not in names)
            continue
        scoped = f"{scope}/{req}" if scope else None
        if scoped and scoped in available:
            names.append(scoped)
        elif req in available:
            names.append(req)
    return names


class ScheduledLaunchInput(BaseModel):
    """A schedule's action: launch one run of a stored plan with these inputs (pinned when the schedule was made)."""

    schedule_id: str
    definition_hash: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    approve: str | list[str] = "none"
    model_ref: str | None = None  # the model pin (store: run_models) in force where the schedule was created
