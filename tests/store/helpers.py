"""Small builders shared by the store tests."""

from __future__ import annotations

import uuid

from store import Store


def new_run(store: Store, workflow_id: str = "greenfield-fullstack") -> str:
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    store.save_plan("hash-1", workflow_id, '{"steps": []}')
    store.create_run(run_id, workflow_id, f"bmad-{workflow_id}-{run_id[-8:]}", "hash-1", {"idea": "todo app"})
    return run_id
