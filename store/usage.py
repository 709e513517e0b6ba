"""Queries for model usage: one row per model call, keyed so a retried activity records it once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.db import insert_for
from store.models import Usage
from store.types import UsageRow


def record(
    s: Session,
    run_id: str,
    step_key: str,
    call_key: str,
    provider: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> None:
    stmt = insert_for(s, Usage).values(
        run_id=run_id,
        step_key=step_key,
        call_key=call_key,
        provider=provider,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )
    s.execute(stmt.on_conflict_do_nothing(index_elements=[Usage.call_key]))


def for_run(s: Session, run_id: str) -> list[UsageRow]:
    rows = s.scalars(select(Usage).where(Usage.run_id == run_id).order_by(Usage.id))
    return [
        UsageRow(
            step_key=row.step_key,
            call_key=row.call_key,
            provider=row.provider,
            model=row.model,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            created_at=row.created_at,
        )
        for row in rows
    ]
