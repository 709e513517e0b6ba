"""Small builders shared by the store tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from store import ArtifactRef, StepCompletion, Store, UsageCall


def new_run(store: Store, workflow_id: str = "greenfield-fullstack") -> str:
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    store.save_plan("hash-1", workflow_id, '{"steps": []}')
    store.create_run(run_id, workflow_id, f"bmad-{workflow_id}-{run_id[-8:]}", "hash-1", {"idea": "todo app"})
    return run_id


def begin(store: Store, steps: list[tuple[str, str, str | None, int | None]],
          workflow_id: str = "greenfield-fullstack") -> str:
    """A run begun as the workflow begins one: the run row, its pending `steps` and `run.started`."""
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    store.save_plan("hash-1", workflow_id, '{"steps": []}')
    store.begin_run(run_id, workflow_id, f"bmad-{workflow_id}-{run_id[-8:]}", "hash-1", {"idea": "todo app"}, steps,
                    ("run.started", {}))
    return run_id


def completion(run_id: str, key: str, name: str, content: bytes, calls: Sequence[UsageCall] = (),
               output_key: str | None = None, **more: Any) -> StepCompletion:
    """A step's completion with `artifact.created` and `step.completed` events naming the stored version."""

    def events_for(ref: ArtifactRef) -> list[tuple[str, dict[str, Any]]]:
        return [("artifact.created", {"version": ref.version}), ("step.completed", {"version": ref.version})]

    return StepCompletion(run_id=run_id, key=key, output_key=output_key or key, name=name, content=content,
                          calls=calls, events_for=events_for, **more)


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine sends while the block runs."""
    seen: list[str] = []

    def hook(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", hook)
