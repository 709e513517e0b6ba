"""Pruning: old finished runs go with their events, steps, usage and artifacts; a document another run still
references survives, one only they referenced is freed; running runs and newer runs stay; --dry-run deletes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from store import Store, UsageCall
from store.models import Blob, utcnow


def _run(store: Store, run_id: str, status: str, docs: dict[str, bytes]) -> None:
    store.create_run(run_id, "wf", f"bmad-wf-{run_id}", "h", {})
    for name, content in docs.items():
        store.put_artifact(run_id, name, content, "01-step")
    store.append_event(run_id, "run.started", {})
    store.fail_step(run_id, "01-step", "failed", "x", ("step.failed", {}),
                    [UsageCall(f"{run_id}:1", "openai", "m", 1, 1)])
    if status != "running":
        store.finish_run(run_id, status)


def test_prune_keeps_documents_still_referenced_and_frees_the_rest(store: Store) -> None:
    shared, own = b"# shared\n", b"# only the old run's, longer\n"
    _run(store, "old", "completed", {"a.md": shared, "b.md": own})
    _run(store, "busy", "running", {"c.md": b"# in flight\n"})
    cutoff = utcnow()
    _run(store, "new", "failed", {"a.md": shared})
    assert store.get_run("new").created_at > cutoff  # type: ignore[union-attr]

    dry = store.prune(cutoff, ("completed", "failed"), dry_run=True)
    assert (dry.runs, dry.documents, dry.bytes) == (1, 1, len(own))
    assert store.get_run("old") is not None

    done = store.prune(cutoff, ("completed", "failed", "running"))
    assert (done.runs, done.documents, done.bytes) == (1, 1, len(own))
    assert store.get_run("old") is None and store.list_events("old") == [] and store.usage_for_run("old") == []
    assert store.get_run("busy") is not None  # running: never pruned
    kept = store.get_run("new")
    assert kept is not None and store.read_artifact(kept.artifacts[0].id, kept.artifacts[0].sha256) == shared
    with store._read() as s:
        assert len(list(s.scalars(select(Blob.sha256)))) == 2  # shared + in flight
    assert store.prune(cutoff + timedelta(days=1), ("completed",)).runs == 0
