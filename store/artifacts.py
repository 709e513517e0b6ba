"""Queries for artifacts: versioned, named outputs of steps, stored as content-addressed blobs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, func, insert, select
from sqlalchemy.orm import Session

from store.db import built
from store.models import Artifact, Blob, utcnow
from store.types import ArtifactRef

_COLS = Artifact.__table__.c
_FIND = select(*_COLS).where(
    _COLS.run_id == bindparam("run_id"), _COLS.step_key == bindparam("step_key"), _COLS.name == bindparam("name")
)
_LAST_VERSION = select(func.coalesce(func.max(_COLS.version), 0)).where(
    _COLS.run_id == bindparam("run_id"), _COLS.name == bindparam("name")
)
_INSERT = insert(Artifact).returning(_COLS.id)


def find(s: Session, run_id: str, step_key: str, name: str) -> ArtifactRef | None:
    row = s.connection().execute(_FIND, {"run_id": run_id, "step_key": step_key, "name": name}).first()
    return None if row is None else artifact_ref(row)


_VERSION = select(*_COLS).where(
    _COLS.run_id == bindparam("run_id"), _COLS.name == bindparam("name"), _COLS.version == bindparam("version")
)


def version(s: Session, run_id: str, name: str, number: int) -> ArtifactRef | None:
    """One version of one artifact: a lookup on the (run_id, name, version) unique index."""
    row = s.connection().execute(_VERSION, {"run_id": run_id, "name": name, "version": number}).first()
    return None if row is None else artifact_ref(row)


_OF_RUN = select(*_COLS).where(_COLS.run_id == bindparam("run_id")).order_by(_COLS.id)


def list_for_run(s: Session, run_id: str) -> list[ArtifactRef]:
    return [artifact_ref(row) for row in s.connection().execute(_OF_RUN, {"run_id": run_id})]


_READ = (
    select(Blob.__table__.c.sha256, Blob.__table__.c.content)
    .join(Artifact.__table__, _COLS.sha256 == Blob.__table__.c.sha256)
    .where(_COLS.id == bindparam("id"))
)


def read(s: Session, artifact_id: int) -> tuple[str, bytes] | None:
    """(sha256, content) of an artifact version."""
    row = s.connection().execute(_READ, {"id": artifact_id}).first()
    return None if row is None else (row[0], row[1])


def put_blob(s: Session, sha256: str, content: bytes, lookup: bool = True) -> None:
    """Store content once by its hash. `lookup=False` skips the read that avoids shipping known bytes again: for
    content that is new almost always (a model's answer), the INSERT ... ON CONFLICT alone is one statement less."""
    if lookup and s.scalar(select(Blob.sha256).where(Blob.sha256 == sha256)) is not None:
        return  # known content: don't ship the bytes again
    stmt = built(s, "put_blob", lambda insert_: insert_(Blob).on_conflict_do_nothing(index_elements=["sha256"]))
    s.connection().execute(stmt, {"sha256": sha256, "size": len(content), "content": content})


def read_blob(s: Session, sha256: str) -> bytes | None:
    return s.scalar(select(Blob.content).where(Blob.sha256 == sha256))


def insert_next_version(
    s: Session, run_id: str, name: str, step_key: str, sha256: str, size: int, media_type: str,
    input_sha256: str | None = None,
) -> ArtifactRef:
    """Insert as version max+1; a concurrent writer may take that version first (unique violation)."""
    conn = s.connection()
    previous = conn.execute(_LAST_VERSION, {"run_id": run_id, "name": name}).scalar()
    version, created_at = (previous or 0) + 1, utcnow()
    # a Core INSERT ... RETURNING id (SQLite >= 3.35, PostgreSQL): no ORM object and flush for one row
    artifact_id = conn.execute(
        _INSERT,
        {"run_id": run_id, "name": name, "version": version, "step_key": step_key, "sha256": sha256,
         "bytes": size, "media_type": media_type, "created_at": created_at, "input_sha256": input_sha256},
    ).scalar_one()
    return ArtifactRef(id=artifact_id, run_id=run_id, name=name, version=version, step=step_key, sha256=sha256,
                       bytes=size, media_type=media_type, created_at=created_at)


def artifact_ref(row: Artifact | Row[Any]) -> ArtifactRef:
    return ArtifactRef(
        id=row.id,
        run_id=row.run_id,
        name=row.name,
        version=row.version,
        step=row.step_key,
        sha256=row.sha256,
        bytes=row.bytes,
        media_type=row.media_type,
        created_at=row.created_at,
    )
