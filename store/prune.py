"""Pruning old runs: their rows (run, steps, events, usage, artifacts, approver roles) and the document blobs no
remaining run references. Documents are content-addressed, so a blob another run (a rerun, a cached step, the
same answer) still points at survives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from store.models import ApproverRole, Artifact, Blob, Event, Run, Step, Usage

_BATCH = 500  # ids per IN (...): well under every backend's parameter limit


@dataclass(frozen=True)
class PruneReport:
    runs: int
    documents: int  # blobs deleted
    bytes: int  # their total size


def _chunks(items: list[str]) -> list[list[str]]:
    return [items[i : i + _BATCH] for i in range(0, len(items), _BATCH)]


def prune(s: Session, before: datetime, statuses: tuple[str, ...], dry_run: bool) -> PruneReport:
    """Delete the runs created before `before` whose status is one of `statuses` (never a running one), and the
    blobs only they referenced; with `dry_run`, only say what would go."""
    wanted = tuple(st for st in statuses if st != "running")
    run_ids = list(s.scalars(select(Run.run_id).where((Run.created_at < before) & Run.status.in_(wanted))))
    shas: set[str] = set()
    for chunk in _chunks(run_ids):
        shas |= set(s.scalars(select(Artifact.sha256).where(Artifact.run_id.in_(chunk)).distinct()))
    doomed_runs = set(run_ids)
    kept = set()
    for chunk in _chunks(sorted(shas)):
        rows = s.execute(select(Artifact.sha256, Artifact.run_id).where(Artifact.sha256.in_(chunk)))
        kept |= {sha for sha, run in rows if run not in doomed_runs}
    orphans = sorted(shas - kept)
    freed = 0
    for chunk in _chunks(orphans):
        freed += int(s.scalar(select(func.coalesce(func.sum(Blob.size), 0)).where(Blob.sha256.in_(chunk))) or 0)
    if not dry_run:
        for chunk in _chunks(run_ids):
            for model in (Event, Usage, Artifact, Step, ApproverRole):
                s.execute(delete(model).where(model.run_id.in_(chunk)))
            s.execute(delete(Run).where(Run.run_id.in_(chunk)))
        for chunk in _chunks(orphans):
            s.execute(delete(Blob).where(Blob.sha256.in_(chunk)))
    return PruneReport(runs=len(run_ids), documents=len(orphans), bytes=freed)
