"""Read models the store hands out: plain pydantic values, detached from any database session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

StepStatus = Literal["pending", "running", "retrying", "completed", "skipped", "failed"]
STEP_STATUSES: frozenset[str] = frozenset(get_args(StepStatus))
TERMINAL_STEP_STATUSES: frozenset[str] = frozenset({"completed", "skipped", "failed"})
RunStatus = Literal["running", "completed", "failed", "cancelled", "stopped"]  # what workflows/run.py records
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class ArtifactRef(_View):
    id: int
    run_id: str
    name: str
    version: int
    step: str
    sha256: str
    bytes: int
    media_type: str
    created_at: datetime


class StepView(_View):
    key: str
    step_id: str
    agent: str | None
    iteration: int | None
    status: str
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    provider: str | None = None  # the provider whose model answered
    model: str | None = None
    fallbacks: list[dict[str, Any]] = []  # each switch to the next model: {from, to, error, attempt}
    reused_from: str | None = None  # "<run>/<step key>" whose output this step took over (no model call)


class RunView(_View):
    run_id: str
    workflow_id: str
    temporal_workflow_id: str
    status: str
    definition_hash: str
    inputs: dict[str, Any]
    decisions: list[Any]
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    steps: list[StepView]
    artifacts: list[ArtifactRef]
    model: str | None = None  # the pinned model's spec (None: a run started before runs carried their model)
    model_sha256: str | None = None
    parent_run_id: str | None = None  # a rerun: the run it was forked from
    rerun_from: str | None = None  # ... and the step it reran from
    usage: UsageSummary | None = None  # set by get_run


class ReusePlan(BaseModel):
    """What a run's steps take over instead of calling a model (stored on the run; read by the agent step).

    `carry`: step key -> the run whose output of that step is recorded by reference (a rerun's steps before its
    fork point); `replace`: step key -> {document name: sha256 of a stored blob} that becomes the next version of
    that document right after the step is carried (an edited document); `cache`: a step whose full input hashes
    equal to an earlier stored output takes that output over (`run --reuse`)."""

    carry: dict[str, str] = {}
    replace: dict[str, dict[str, str]] = {}
    cache: bool = False


class RunLineage(BaseModel):
    """How a run relates to earlier ones, written with its row by `launch`."""

    parent_run_id: str | None = None
    rerun_from: str | None = None
    reuse: ReusePlan | None = None
    # a rerun: the parent's recorded answers (its decisions of kind "answer") to the questions of the carried steps
    # that ask (`<ask>`), by step key; the rerun's workflow gives them to those steps (not stored on the row: the
    # parent's decisions keep them, and the rerun's its own copies)
    answers: dict[str, list[dict[str, Any]]] = {}


class UsageRow(_View):
    step_key: str
    call_key: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    created_at: datetime
    cost_usd: Decimal | None = None  # None: no known price for the model
    run_id: str | None = None


@dataclass(frozen=True)
class UsageCall:
    """One model call to record; `call_key` makes recording it idempotent."""

    call_key: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal | None = None


EventSpec = tuple[str, dict[str, Any]]  # (type, data) of an event to append


@dataclass(frozen=True, kw_only=True)
class RunOpening:
    """What a launched run writes before its workflow starts (`Store.open_run`): its plan, model pin and inputs (each
    by hash), its row, its pending steps and its `run.started` event."""

    run_id: str
    workflow_id: str
    temporal_workflow_id: str
    definition_hash: str
    plan_body: str
    inputs: dict[str, Any]
    model: tuple[str, str, str]  # the pin: (sha256, spec, body)
    steps: list[tuple[str, str, str | None, int | None]]  # (key, step id, agent, iteration)
    event: tuple[str, dict[str, Any]]
    lineage: RunLineage | None = None  # a rerun's parent, fork point and reuse plan


@dataclass(frozen=True, kw_only=True)
class StepCompletion:
    """Everything `Store.complete_step` writes for a step that produced its output, in one transaction.

    `output_key` (the step key, or a revision's key such as `02-pm-prd@r1`) makes the write idempotent;
    `calls` are the step's model calls (usage); `extra` are further (name, content) artifacts of the same output,
    e.g. a transcript; `answered_by` is the (provider, model) that answered. `events_for` and `extra_events_for`
    get the stored artifact(s) and return the events to append with them."""

    run_id: str
    key: str
    output_key: str
    name: str
    content: bytes
    calls: Sequence[UsageCall]
    events_for: Callable[[ArtifactRef], list[EventSpec]]
    media_type: str = "text/markdown"
    extra: Sequence[tuple[str, bytes]] = ()
    extra_events_for: Callable[[list[ArtifactRef]], list[EventSpec]] | None = None
    answered_by: tuple[str, str] | None = None
    input_sha256: str | None = None  # the hash of what the model was given (the step cache's key)


@dataclass(frozen=True, kw_only=True)
class TakeOver:
    """A step that records stored outputs as its own instead of calling a model (`Store.take_over`).

    From `source_run`: every output of step `source_key` (revisions, amendments, a transcript: a rerun's carried
    step keeps their step keys) when `output_key` is None, else the outputs stored under exactly `source_key`,
    recorded under `output_key` (the step cache). `replacements` (name -> sha256 of a stored blob) follow as next
    versions under `key@edit`. `events_for` gets the recorded artifacts and returns the events to append."""

    run_id: str
    key: str
    step_id: str
    agent: str | None
    iteration: int | None
    attempt: int
    name: str
    source_run: str
    source_key: str
    events_for: Callable[[list[ArtifactRef]], list[EventSpec]]
    output_key: str | None = None
    replacements: dict[str, str] = field(default_factory=dict)


class UsageTotals(_View):
    """Exact sums over usage rows (cost as Decimal); `unpriced_calls` had no known price, so cost omits them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    calls: int = 0
    unpriced_calls: int = 0


class UsageDay(_View):
    """Calls of one UTC day (YYYY-MM-DD), workflow and provider:model, summed."""

    day: str
    workflow_id: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    calls: int


class UsageGroup(UsageTotals):
    step: str | None = None
    provider: str | None = None
    model: str | None = None


class UsageSummary(_View):
    totals: UsageTotals
    by_step: list[UsageGroup] = []
    by_provider: list[UsageGroup] = []
    by_model: list[UsageGroup] = []


class EventRow(_View):
    seq: int
    type: str
    data: dict[str, Any]
    created_at: datetime
RunView.model_rebuild()
