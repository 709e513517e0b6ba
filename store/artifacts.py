"""Queries for artifacts: versioned, named outputs of steps, stored as content-addressed blobs."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.db import insert_for
from store.models import Artifact, Blob
from store.types import ArtifactRef


def find(s: Session, run_id: str, step_key: str, name: str) -> ArtifactRef | None:
    row = s.scalar(
        select(Artifact).where(Artifact.run_id == run_id, Artifact.step_key == step_key, Artifact.name == name)
    )
    return None if row is None else artifact_ref(row)


def latest(s: Session, run_id: str, name: str) -> ArtifactRef | None:
    row = s.scalar(
        select(Artifact)
        .where(Artifact.run_id == run_id, Artifact.name == name)
        .order_by(Artifact.version.desc())
        .limit(1)
    )
    return None if row is None else artifact_ref(row)


def list_for_run(s: Session, run_id: str) -> list[ArtifactRef]:
    rows = s.scalars(select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.id))
    return [artifact_ref(row) for row in rows]


def read(s: Session, artifact_id: int) -> bytes | None:
    query = select(Blob.content).join(Artifact, Artifact.sha256 == Blob.sha256)
    return s.scalar(query.where(Artifact.id == artifact_id))


def put_blob(s: Session, sha256: str, content: bytes) -> None:
    if s.scalar(select(Blob.sha256).where(Blob.sha256 == sha256)) is not None:
        return  # known content: don't ship the bytes again
    stmt = insert_for(s, Blob).values(sha256=sha256, size=len(content), content=content)
    s.execute(stmt.on_conflict_do_nothing(index_elements=[Blob.sha256]))


def insert_next_version(
    s: Session, run_id: str, name: str, step_key: str, sha256: str, size: int, media_type: str
) -> ArtifactRef:
    """Insert as version max+1; a concurrent writer may take that version first (unique violation)."""
    previous = s.scalar(
        select(func.coalesce(func.max(Artifact.version), 0)).where(Artifact.run_id == run_id, Artifact.name == name)
    )
    row = Artifact(
        run_id=run_id,
        name=name,
        version=(previous or 0) + 1,
        step_key=step_key,
        sha256=sha256,
        bytes=size,
        media_type=media_type,
    )
    s.add(row)
    s.flush()
    return artifact_ref(row)


def artifact_ref(row: Artifact) -> ArtifactRef:
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
