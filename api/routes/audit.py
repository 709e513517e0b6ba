"""The audit log: every mutating request (who, roles, action, target, when, request id, outcome), for admins."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import Admin, Since, StateDep
from api.problems import PROBLEM_RESPONSES
from store.identity import AuditFilter

router = APIRouter(tags=["audit"], responses=PROBLEM_RESPONSES)


class AuditItem(BaseModel):
    id: int
    at: str
    user: str | None
    roles: list[str]
    action: str
    target: str | None
    method: str
    path: str
    request_id: str
    status: int
    outcome: str
    detail: str | None


class AuditPage(BaseModel):
    items: list[AuditItem]


@router.get("/audit", response_model=AuditPage, dependencies=[Admin])
async def list_audit(
    state: StateDep,
    user: Annotated[str | None, Query(max_length=255)] = None,
    action: Annotated[str | None, Query(max_length=100, description="e.g. create_run, decide, cancel_run")] = None,
    target: Annotated[str | None, Query(max_length=1000, description="a run id, or run/step")] = None,
    since: Annotated[Since | None, Query(description="ISO 8601 date-time; without a zone it is UTC")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Audit rows, newest first, filtered by user, action, target (a prefix) and time."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    rows = await asyncio.to_thread(state.store.identity.list_audit,
                                   AuditFilter(user=user, action=action, target=target, since=since, limit=limit))
    return AuditPage(items=[AuditItem(id=r.id, at=r.at.isoformat(), user=r.user, roles=r.roles, action=r.action,
                                      target=r.target, method=r.method, path=r.path, request_id=r.request_id,
                                      status=r.status, outcome=r.outcome, detail=r.detail) for r in rows])
