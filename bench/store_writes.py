"""A step's database writes: the original nine transactions against today's two, on the same database."""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any

import store.runs as runs
import store.usage as usage
from store import ArtifactRef, StepCompletion, Store, UsageCall


def _events(ref: ArtifactRef) -> list[tuple[str, dict[str, Any]]]:
    return [("usage.recorded", {}), ("artifact.created", {"version": ref.version}), ("step.completed", {})]


def _first_design(store: Store, run_id: str, key: str, name: str, content: bytes) -> None:
    """A step's writes as the first design made them: each its own transaction (the store no longer offers the
    one-write methods; their queries are still the store's)."""
    with store._write() as s:
        runs.step_started(s, run_id, key, key, "pm", None, 1)
    store.append_event(run_id, "step.started", {})
    with store._write() as s:
        usage.record_calls(s, run_id, key, [UsageCall(f"bench:{key}", "offline", "offline", 1, 1)])
    store.put_artifact(run_id, name, content, key)
    with store._write() as s:
        runs.step_finished(s, run_id, key, "completed", None)
    for type_ in ("usage.recorded", "artifact.created", "step.completed"):
        store.append_event(run_id, type_, {})


def store_writes(steps: int = 200, database_url: str | None = None) -> dict[str, float]:
    """Median ms per step of (a) the first design: step_started, event, usage, artifact, step_finished and three
    events, each its own transaction; (b) start_step + complete_step (two transactions, events batched)."""
    run_id = "bench-writes"
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(database_url or f"sqlite:///{tmp}/writes.db")
        store.migrate()
        store.save_plan("bench", "bench", "{}")
        store.begin_run(run_id, "bench", "bench", "bench", {},
                        [(f"k{i}", f"k{i}", "pm", None) for i in range(2 * steps)], ("run.started", {}))
        old, new = [], []
        for i in range(steps):
            key, started = f"k{i}", time.perf_counter()
            _first_design(store, run_id, key, f"old-{i}.md", b"x" * 1000)
            old.append(time.perf_counter() - started)
            key, started = f"k{steps + i}", time.perf_counter()
            store.start_step(run_id, key, key, "pm", None, 1, ("step.started", {}))
            store.complete_step(StepCompletion(
                run_id=run_id, key=key, output_key=key, name=f"new-{i}.md", content=b"y" * 1000,
                calls=[UsageCall(f"{run_id}:{key}", "offline", "offline", 1, 1)], events_for=_events,
            ))
            new.append(time.perf_counter() - started)
        store.close()
    o, n = statistics.median(old) * 1000, statistics.median(new) * 1000
    return {"nine_transactions_ms": round(o, 2), "two_transactions_ms": round(n, 2),
            "saved_ms": round(o - n, 2), "saved_share": round(1 - n / o, 3)}
