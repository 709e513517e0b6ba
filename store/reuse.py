"""Queries for steps that take over a stored output instead of calling a model: a rerun's carried steps (the
parent's documents by reference: same sha256, same versions) and the step cache (an earlier output whose input
hashed the same)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.orm import Session

from store.artifacts import insert_next_version
from store.models import Artifact, Blob, Step, UTCDateTime, utcnow
from store.types import ArtifactRef

_ART = Artifact.__table__.c
_STEPS = Step.__table__.c
_OF_RUN = select(*_ART).where(_ART.run_id == bindparam("run_id")).order_by(_ART.id)
_CACHED = (
    select(*_ART)
    .where((_ART.input_sha256 == bindparam("h")) & (_ART.run_id != bindparam("run_id")))
    .order_by(_ART.id.desc())
    .limit(1)
)
_ANSWERED = select(_STEPS.provider, _STEPS.model).where(
    (_STEPS.run_id == bindparam("run_id")) & (_STEPS.key == bindparam("key")))
_TAKEN_OVER = (
    update(Step)
    .where((_STEPS.run_id == bindparam("b_run")) & (_STEPS.key == bindparam("b_key")))
    .values(status="completed", error=None, finished_at=bindparam("finished_at", type_=UTCDateTime()),
            reused_from=bindparam("reused_from"), provider=bindparam("provider"), model=bindparam("model"))
)


def base_key(step_key: str) -> str:
    """The step an output belongs to: `02-pm-prd@r1` (a revision) and `02-pm-prd@amend1` are `02-pm-prd`'s."""
    return step_key.split("@", 1)[0]


def outputs_of_step(s: Session, run_id: str, key: str) -> list[Row[Any]]:
    """Every stored output of one step of a run (its revisions and amendments too), oldest first."""
    rows = s.connection().execute(_OF_RUN, {"run_id": run_id})
    return [r for r in rows if base_key(r.step_key) == key]


def outputs_with_key(s: Session, run_id: str, output_key: str) -> list[Row[Any]]:
    return [r for r in s.connection().execute(_OF_RUN, {"run_id": run_id}) if r.step_key == output_key]


def cached(s: Session, input_sha256: str, run_id: str) -> Row[Any] | None:
    """The newest output of another run whose input hashed to `input_sha256`."""
    return s.connection().execute(_CACHED, {"h": input_sha256, "run_id": run_id}).first()


def answered_by(s: Session, run_id: str, key: str) -> tuple[str | None, str | None]:
    row = s.connection().execute(_ANSWERED, {"run_id": run_id, "key": key}).first()
    return (None, None) if row is None else (row[0], row[1])


def blob_size(s: Session, sha256: str) -> int | None:
    return s.scalar(select(Blob.size).where(Blob.sha256 == sha256))


def copy_outputs(
    s: Session, run_id: str, sources: Sequence[tuple[Row[Any], str]], replacements: dict[str, str], edit_key: str
) -> list[ArtifactRef]:
    """Record `sources` (artifact rows, each with the step key it is stored under here) as this run's next
    versions by reference (no bytes copied), then each replacement (name -> sha256 of a stored blob) as the next
    version of its document under `edit_key`."""
    refs = [insert_next_version(s, run_id, row.name, key, row.sha256, row.bytes, row.media_type, row.input_sha256)
            for row, key in sources]
    for name, sha256 in replacements.items():
        size = blob_size(s, sha256)
        if size is None:
            raise KeyError(f"blob {sha256} of the edited {name} is not stored")
        media = next((r.media_type for r in refs if r.name == name), "text/markdown")
        refs.append(insert_next_version(s, run_id, name, edit_key, sha256, size, media))
    return refs


def mark_taken_over(s: Session, run_id: str, key: str, reused_from: str, answered: tuple[str | None, str | None]
                    ) -> None:
    s.connection().execute(_TAKEN_OVER, {"b_run": run_id, "b_key": key, "finished_at": utcnow(),
                                         "reused_from": reused_from, "provider": answered[0], "model": answered[1]})
