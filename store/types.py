"""Read models the store hands out: plain pydantic values, detached from any database session."""

from __future__ import annotations

from dataclasses import dataclass
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
    usage: UsageSummary | None = None  # set by get_run


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


class UsageTotals(_View):
    """Exact sums over usage rows (cost as Decimal); `unpriced_calls` had no known price, so cost omits them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    calls: int = 0
    unpriced_calls: int = 0


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
