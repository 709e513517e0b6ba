"""The approver's inbox at scale: several decisions at once (each one audited and answered on its own) and
approval statistics (waiting now, decided per day, median time to a decision, by workflow and by approver)."""

from __future__ import annotations

import asyncio
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.decisions import decide_one
from api.deps import Approver, CurrentUser, StateDep
from api.guard import record
from api.problems import PROBLEM_RESPONSES, Problem
from api.schemas import ApprovalDecision

router = APIRouter(prefix="/approvals", tags=["approvals"], responses=PROBLEM_RESPONSES)
BULK_MAX = 100
BULK_CONCURRENCY = 8


class BulkItem(ApprovalDecision):
    run_id: str = Field(min_length=1, max_length=100)
    step: str = Field(min_length=1, max_length=300)


class BulkDecisions(BaseModel):
    items: list[BulkItem] = Field(min_length=1, max_length=BULK_MAX)


class BulkResult(BaseModel):
    run_id: str
    step: str
    status: int = Field(description="what the single decision would have answered: 200, 403, 404, 409, 422, ...")
    result: Any = None
    detail: str | None = None


class BulkAnswer(BaseModel):
    decided: int
    refused: int
    items: list[BulkResult]


@router.post("/bulk", response_model=BulkAnswer, dependencies=[Approver])
async def decide_many(body: BulkDecisions, request: Request, state: StateDep, user: CurrentUser) -> BulkAnswer:
    """Decide several waiting steps at once (e.g. approve everything selected in the inbox). Always 200: each item
    says what its decision answered; each is audited as its own `decide`."""
    gate = asyncio.Semaphore(BULK_CONCURRENCY)

    async def one(item: BulkItem) -> BulkResult:
        async with gate:
            try:
                done = await decide_one(state, user, item.run_id, item.step, item)
                answer = BulkResult(run_id=item.run_id, step=item.step, status=200, result=done.result)
            except Problem as p:
                answer = BulkResult(run_id=item.run_id, step=item.step, status=p.status, detail=p.detail)
            await record(request.scope, "decide", answer.status, target=f"{item.run_id}/{item.step}",
                         detail=answer.detail)
            return answer

    results = await asyncio.gather(*(one(i) for i in body.items))
    decided = sum(r.status == 200 for r in results)
    return BulkAnswer(decided=decided, refused=len(results) - decided, items=list(results))


class Day(BaseModel):
    day: str
    decided: int


class Group(BaseModel):
    key: str
    waiting: int = 0
    decided: int = 0
    median_s: float | None = Field(default=None, description="median seconds from request to decision")


class ApprovalStats(BaseModel):
    since: str
    waiting: int = Field(description="steps waiting for a decision now (in running runs)")
    decided: int
    median_s: float | None
    per_day: list[Day]
    by_workflow: list[Group]
    by_approver: list[Group]


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _at(data: dict[str, Any], fallback: datetime) -> datetime:
    try:
        at = datetime.fromisoformat(str(data["requested_at"]))
    except (KeyError, ValueError):
        return fallback
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def compute_stats(rows: list[tuple[str, str, str, dict[str, Any], datetime]], running: set[str],
                  since: datetime) -> ApprovalStats:
    """From the approval events (oldest first): each resolution matched to its run's open request of that step."""
    open_requests: dict[tuple[str, str], tuple[str, datetime]] = {}
    per_day: dict[str, int] = defaultdict(int)
    waits: list[float] = []
    by_wf: dict[str, list[float]] = defaultdict(list)
    by_who: dict[str, list[float]] = defaultdict(list)
    for run_id, workflow_id, kind, data, created in rows:
        key = (run_id, str(data.get("step")))
        if kind == "approval.requested":
            open_requests[key] = (workflow_id, _at(data, created))
            continue
        opened = open_requests.pop(key, None)
        if opened is None:
            continue  # asked before the window
        wait = max(0.0, (created - opened[1]).total_seconds())
        waits.append(wait)
        by_wf[workflow_id].append(wait)
        by_who[str(data.get("by") or "unknown")].append(wait)
        per_day[created.astimezone(UTC).date().isoformat()] += 1
    waiting_by_wf: dict[str, int] = defaultdict(int)
    for (run_id, _), (workflow_id, _) in open_requests.items():
        if run_id in running:
            waiting_by_wf[workflow_id] += 1
    workflows = sorted(set(by_wf) | set(waiting_by_wf))
    return ApprovalStats(
        since=since.isoformat(), waiting=sum(waiting_by_wf.values()), decided=len(waits), median_s=_median(waits),
        per_day=[Day(day=d, decided=n) for d, n in sorted(per_day.items())],
        by_workflow=[Group(key=w, waiting=waiting_by_wf.get(w, 0), decided=len(by_wf.get(w, [])),
                           median_s=_median(by_wf.get(w, []))) for w in workflows],
        by_approver=[Group(key=who, decided=len(v), median_s=_median(v)) for who, v in sorted(by_who.items())],
    )


@router.get("/stats", response_model=ApprovalStats)
async def approval_stats(
    state: StateDep, days: Annotated[int, Query(ge=1, le=366, description="how far back to look")] = 30,
) -> ApprovalStats:
    """Approval statistics over the last `days` days, from the runs' approval events."""
    since = datetime.now(UTC) - timedelta(days=days)
    rows = await asyncio.to_thread(state.store.identity.approval_events, since)
    running = {run_id for run_id, *_ in rows}
    if running:
        views = await asyncio.to_thread(lambda: [state.store.get_run(r) for r in running])
        running = {v.run_id for v in views if v is not None and v.status == "running"}
    return compute_stats(rows, running, since)
