"""Queries for the per-run event log: an append-only sequence numbered 1, 2, 3... per run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from store.models import Event, utcnow
from store.types import EventRow

_EVENTS = Event.__table__.c
_LAST_SEQ = select(func.coalesce(func.max(_EVENTS.seq), 0)).where(_EVENTS.run_id == bindparam("run_id"))
_INSERT = insert(Event)
_CHUNK = 500  # run ids per IN (...) list, well inside every database's bound-parameter limit
_DATA_OF_TYPE = select(_EVENTS.data).where(_EVENTS.run_id == bindparam("run_id"), _EVENTS.type == bindparam("type"))


def append(s: Session, run_id: str, type_: str, data: dict[str, Any]) -> int:
    """Take the next seq; a concurrent append may take it first (unique violation, caller retries)."""
    return append_many(s, run_id, [(type_, data)])[0]


def append_many(s: Session, run_id: str, items: list[tuple[str, dict[str, Any]]]) -> list[int]:
    """Consecutive seqs for several events with one read and one flush (a step's completion events)."""
    if not items:
        return []
    conn = s.connection()
    last = conn.execute(_LAST_SEQ, {"run_id": run_id}).scalar() or 0
    seqs = list(range(last + 1, last + 1 + len(items)))
    now = utcnow()  # one Core INSERT (executemany) built once: no ORM objects, no flush bookkeeping
    conn.execute(_INSERT, [{"run_id": run_id, "seq": seq, "type": t, "data": d, "created_at": now}
                           for seq, (t, d) in zip(seqs, items, strict=True)])
    return seqs


def append_once(s: Session, run_id: str, type_: str, data: dict[str, Any], match: dict[str, Any]) -> int | None:
    """Append unless an event of this type whose data has every `match` item exists (an activity retried after
    its commit must not store its event twice); None when it existed."""
    for (existing,) in s.connection().execute(_DATA_OF_TYPE, {"run_id": run_id, "type": type_}):
        if all((existing or {}).get(k) == v for k, v in match.items()):
            return None
    return append(s, run_id, type_, data)


def comment_bytes(s: Session, run_id: str, type_: str) -> int:
    """The bytes of the `comment` of every event of one type of a run (its decisions' comments)."""
    total = 0
    for (data,) in s.connection().execute(_DATA_OF_TYPE, {"run_id": run_id, "type": type_}):
        comment = (data or {}).get("comment")
        total += len(comment.encode()) if isinstance(comment, str) else 0
    return total


def heads(s: Session, run_ids: list[str]) -> dict[str, int]:
    """The last seq of each run that has events (one grouped read over the (run_id, seq) index)."""
    found: dict[str, int] = {}
    for i in range(0, len(run_ids), _CHUNK):
        q = select(_EVENTS.run_id, func.max(_EVENTS.seq)).where(_EVENTS.run_id.in_(run_ids[i:i + _CHUNK]))
        found.update({run_id: seq for run_id, seq in s.connection().execute(q.group_by(_EVENTS.run_id))})
    return found


def list_after(s: Session, run_id: str, after_seq: int) -> list[EventRow]:
    rows = s.scalars(select(Event).where(Event.run_id == run_id, Event.seq > after_seq).order_by(Event.seq))
    return [EventRow(seq=row.seq, type=row.type, data=row.data, created_at=row.created_at) for row in rows]


def recent(s: Session, type_: str, since: datetime, limit: int = 100) -> list[tuple[str, EventRow]]:
    """(run_id, event) of every run's events of one type since a time, newest first."""
    rows = s.scalars(
        select(Event).where(Event.type == type_, Event.created_at >= since).order_by(Event.id.desc()).limit(limit)
    )
    return [(row.run_id, EventRow(seq=row.seq, type=row.type, data=row.data, created_at=row.created_at))
            for row in rows]
