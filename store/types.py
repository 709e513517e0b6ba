"""Read models the store hands out: plain pydantic values, detached from any database session."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

StepStatus = Literal["pending", "running", "retrying", "completed", "skipped", "failed"]
STEP_STATUSES: frozenset[str] = frozenset(get_args(StepStatus))
TERMINAL_STEP_STATUSES: frozenset[str] = frozenset({"completed", "skipped", "failed"})


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


class UsageRow(_View):
    step_key: str
    call_key: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    created_at: datetime


class EventRow(_View):
    seq: int
    type: str
    data: dict[str, Any]
    created_at: datetime
