"""Model usage and cost: a run's calls with totals per step, provider and model; totals of all runs since a time."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import RunDep, Since, StoreDep
from api.problems import PROBLEM_RESPONSES
from store import UsageDay, UsageGroup, UsageSummary, UsageTotals

router = APIRouter(tags=["usage"], responses=PROBLEM_RESPONSES)


class Totals(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float = Field(description="USD; exact sum of the calls' costs (calls without a known price add 0)")
    calls: int
    unpriced_calls: int = Field(description="calls whose model has no known price")


class Group(Totals):
    step: str | None = None
    provider: str | None = None
    model: str | None = None


class Call(BaseModel):
    step: str
    call_key: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None = Field(description="USD; null when the model has no known price")
    created_at: str


class RunUsage(BaseModel):
    run_id: str
    calls: list[Call]
    totals: Totals
    by_step: list[Group]
    by_provider: list[Group]
    by_model: list[Group]


class UsageSince(BaseModel):
    since: str
    totals: Totals
    by_provider: list[Group]
    by_model: list[Group]


class Day(BaseModel):
    day: str = Field(description="UTC date, YYYY-MM-DD")
    workflow: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    calls: int


class DailyUsage(BaseModel):
    since: str
    items: list[Day]


def _day(d: UsageDay) -> Day:
    return Day(day=d.day, workflow=d.workflow_id, provider=d.provider, model=d.model, prompt_tokens=d.prompt_tokens,
               completion_tokens=d.completion_tokens, cost_usd=float(d.cost_usd), calls=d.calls)


def _totals(t: UsageTotals) -> Totals:
    return Totals(prompt_tokens=t.prompt_tokens, completion_tokens=t.completion_tokens, cost_usd=float(t.cost_usd),
                  calls=t.calls, unpriced_calls=t.unpriced_calls)


def _groups(groups: list[UsageGroup]) -> list[Group]:
    return [Group(step=g.step, provider=g.provider, model=g.model, **_totals(g).model_dump()) for g in groups]


def _summary(s: UsageSummary) -> dict[str, object]:
    return {"totals": _totals(s.totals), "by_step": _groups(s.by_step), "by_provider": _groups(s.by_provider),
            "by_model": _groups(s.by_model)}


@router.get("/runs/{run_id}/usage", response_model=RunUsage)
def run_usage(view: RunDep, store: StoreDep) -> RunUsage:
    """Every model call of the run, with its tokens and cost, and totals per step, provider and model."""
    run_id = view.run_id
    rows = store.usage_for_run(run_id)
    calls = [
        Call(step=r.step_key, call_key=r.call_key, provider=r.provider, model=r.model, prompt_tokens=r.prompt_tokens,
             completion_tokens=r.completion_tokens, cost_usd=float(r.cost_usd) if r.cost_usd is not None else None,
             created_at=r.created_at.isoformat())
        for r in rows
    ]
    return RunUsage(run_id=run_id, calls=calls, **_summary(store.usage_summary(run_id)))




@router.get("/usage", response_model=UsageSince)
def usage_since(
    store: StoreDep,
    since: Annotated[Since, Query(description="ISO 8601 date-time, e.g. 2026-01-31T09:00:00Z; without a zone it "
                                              "is UTC")],
) -> UsageSince:
    """Totals per provider and model over every run's calls since a time."""
    when = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    summary = store.usage_summary_since(when)
    return UsageSince(since=when.isoformat(), totals=_totals(summary.totals), by_provider=_groups(summary.by_provider),
                      by_model=_groups(summary.by_model))


@router.get("/usage/daily", response_model=DailyUsage)
def usage_daily(
    store: StoreDep,
    since: Annotated[Since, Query(description="ISO 8601 date-time; without a zone it is UTC")],
) -> DailyUsage:
    """Tokens and cost per UTC day, workflow and provider:model since a time (the console's usage charts)."""
    when = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    return DailyUsage(since=when.isoformat(), items=[_day(d) for d in store.usage_daily(when)])
