"""A step's database writes: the original nine transactions against today's two, on the same database."""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any

from store import ArtifactRef, Store


def _events(ref: ArtifactRef) -> list[tuple[str, dict[str, Any]]]:
    return [("usage.recorded", {}), ("artifact.created", {"version": ref.version}), ("step.completed", {})]


def store_writes(steps: int = 200, database_url: str | None = None) -> dict[str, float]:
    """Median ms per step of (a) the first design: step_started, event, usage, artifact, step_finished and three
    events, each its own transaction; (b) start_step + complete_step (two transactions, events batched)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(database_url or f"sqlite:///{tmp}/writes.db")
        store.migrate()
        store.save_plan("bench", "bench", "{}")
        store.create_run("bench-writes", "bench", "bench", "bench", {})
        store.ensure_steps("bench-writes", [(f"k{i}", f"k{i}", "pm", None) for i in range(2 * steps)])
        old, new = [], []
        for i in range(steps):
            key, started = f"k{i}", time.perf_counter()
            store.step_started("bench-writes", key, key, "pm", None, 1)
            store.append_event("bench-writes", "step.started", {})
            store.record_usage("bench-writes", key, f"bench:{key}", "offline", "offline", 1, 1)
            store.put_artifact("bench-writes", f"old-{i}.md", b"x" * 1000, key)
            store.step_finished("bench-writes", key, "completed")
            for type_ in ("usage.recorded", "artifact.created", "step.completed"):
                store.append_event("bench-writes", type_, {})
            old.append(time.perf_counter() - started)
            key, started = f"k{steps + i}", time.perf_counter()
            store.start_step("bench-writes", key, key, "pm", None, 1, ("step.started", {}))
            store.complete_step("bench-writes", key, key, f"new-{i}.md", b"y" * 1000,
                                ("offline", "offline", 1, 1), _events)
            new.append(time.perf_counter() - started)
        store.close()
    o, n = statistics.median(old) * 1000, statistics.median(new) * 1000
    return {"nine_transactions_ms": round(o, 2), "two_transactions_ms": round(n, 2),
            "saved_ms": round(o - n, 2), "saved_share": round(1 - n / o, 3)}
