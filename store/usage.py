"""Queries for model usage: one row per model call, keyed so a retried activity records it once; exact sums."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.orm import Session

from store.db import built
from store.models import Run, Step, Usage, utcnow
from store.types import UsageCall, UsageDay, UsageGroup, UsageRow, UsageSummary, UsageTotals


def record_calls(s: Session, run_id: str, step_key: str, calls: Iterable[UsageCall]) -> None:
    """All of a step's calls in one INSERT ... ON CONFLICT DO NOTHING (a retried commit adds nothing)."""
    now = utcnow()
    rows = [
        {"run_id": run_id, "step_key": step_key, "call_key": c.call_key, "provider": c.provider, "model": c.model,
         "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens, "cost_usd": c.cost_usd,
         "created_at": now}
        for c in calls
    ]
    if rows:
        stmt = built(s, "record_calls", lambda ins: ins(Usage).on_conflict_do_nothing(index_elements=["call_key"]))
        s.connection().execute(stmt, rows)


def _row(row: Usage | Row[Any]) -> UsageRow:
    return UsageRow(
        run_id=row.run_id,
        step_key=row.step_key,
        call_key=row.call_key,
        provider=row.provider,
        model=row.model,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cost_usd=_decimal(row.cost_usd),
        created_at=row.created_at,
    )


def _decimal(value: object) -> Decimal | None:
    # SQLite hands back floats for NUMERIC: round to the column's scale to get the stored decimal back
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal("1e-10")).normalize()


_USAGE = Usage.__table__.c
_USAGE_OF_RUN = select(*_USAGE).where(_USAGE.run_id == bindparam("run_id")).order_by(_USAGE.id)


def for_run(s: Session, run_id: str) -> list[UsageRow]:
    # a statement built once and plain rows: GET /runs/{id} reads this on every request
    return [_row(row) for row in s.connection().execute(_USAGE_OF_RUN, {"run_id": run_id})]


_USAGE_SINCE = select(*_USAGE).where(_USAGE.created_at >= bindparam("since")).order_by(_USAGE.id)


def since(s: Session, when: datetime) -> list[UsageRow]:
    return [_row(row) for row in s.connection().execute(_USAGE_SINCE, {"since": when})]


def step_samples(
    s: Session, agent: str | None, provider: str, model: str, exclude_run: str | None, limit: int = 50
) -> list[tuple[str, int, Decimal | None]]:
    """(run_id, tokens, cost) of the latest steps (of other runs than `exclude_run`) by `agent` on
    `provider:model`, newest first."""
    query = (
        select(
            Usage.run_id,
            func.sum(Usage.prompt_tokens + Usage.completion_tokens),
            func.sum(Usage.cost_usd),
            func.count(Usage.cost_usd),
            func.count(),
        )
        .join(Step, (Step.run_id == Usage.run_id) & (Step.key == Usage.step_key))
        .where(Usage.provider == provider, Usage.model == model)
        .group_by(Usage.run_id, Usage.step_key)
        .order_by(func.max(Usage.id).desc())
        .limit(limit)
    )
    if exclude_run is not None:
        query = query.where(Usage.run_id != exclude_run)
    query = query.where(Step.agent.is_(None) if agent is None else Step.agent == agent)
    return [
        (run_id, int(tokens or 0), _decimal(cost) if priced == calls else None)
        for run_id, tokens, cost, priced, calls in s.execute(query)
    ]


def totals(rows: Iterable[UsageRow]) -> UsageTotals:
    prompt = completion = calls = unpriced = 0
    cost = Decimal(0)
    for r in rows:
        prompt += r.prompt_tokens
        completion += r.completion_tokens
        calls += 1
        if r.cost_usd is None:
            unpriced += 1
        else:
            cost += r.cost_usd
    return UsageTotals(prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost, calls=calls,
                       unpriced_calls=unpriced)


def _grouped(rows: list[UsageRow], key: Callable[[UsageRow], tuple[str | None, str | None, str | None]]
             ) -> list[UsageGroup]:
    groups: dict[tuple[str | None, str | None, str | None], list[UsageRow]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return [
        UsageGroup(step=step, provider=provider, model=model, **totals(members).model_dump())
        for (step, provider, model), members in groups.items()
    ]


def summarize(rows: list[UsageRow], by_step: bool = True) -> UsageSummary:
    """Totals, and per step (in first-call order), per provider and per provider:model."""
    return UsageSummary(
        totals=totals(rows),
        by_step=_grouped(rows, lambda r: (r.step_key, None, None)) if by_step else [],
        by_provider=_grouped(rows, lambda r: (None, r.provider, None)),
        by_model=_grouped(rows, lambda r: (None, r.provider, r.model)),
    )


def cost_by_run(s: Session, run_ids: list[str]) -> dict[str, Decimal]:
    """The exact cost of each run's priced calls (runs without calls are left out)."""
    if not run_ids:
        return {}
    query = (select(Usage.run_id, func.sum(Usage.cost_usd)).where(Usage.run_id.in_(run_ids))
             .group_by(Usage.run_id))
    return {run_id: _decimal(cost) or Decimal(0) for run_id, cost in s.execute(query)}


def daily(s: Session, when: datetime) -> list[UsageDay]:
    """Calls since a time summed per UTC day, workflow and provider:model, oldest day first (grouped here, not in
    SQL: a day of a timestamp is spelled differently by each database and PostgreSQL's depends on the session)."""
    rows = since(s, when)
    run_ids = sorted({r.run_id for r in rows if r.run_id})
    workflows: dict[str, str] = {}
    if run_ids:
        query = select(Run.run_id, Run.workflow_id).where(Run.run_id.in_(run_ids))
        workflows = {run_id: workflow_id for run_id, workflow_id in s.execute(query)}
    sums: dict[tuple[str, str, str, str], list[Any]] = {}
    for r in rows:
        day = r.created_at.astimezone(UTC).date().isoformat()
        key = (day, workflows.get(r.run_id or "", "?"), r.provider, r.model)
        acc = sums.setdefault(key, [0, 0, Decimal(0), 0])
        acc[0] += r.prompt_tokens
        acc[1] += r.completion_tokens
        acc[2] += r.cost_usd or 0
        acc[3] += 1
    return [UsageDay(day=d, workflow_id=w, provider=p, model=m, prompt_tokens=pt, completion_tokens=ct,
                     cost_usd=cost, calls=n) for (d, w, p, m), (pt, ct, cost, n) in sorted(sums.items())]
