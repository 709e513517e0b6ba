from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC
from pathlib import Path

from store import EventRow, Store
from tests.store.helpers import new_run

ROOT = Path(__file__).resolve().parents[2]


def test_events_are_numbered_per_run_and_listed_in_order(store: Store) -> None:
    a, b = new_run(store), new_run(store)
    assert [store.append_event(a, "step.started", {"step": f"0{i}"}) for i in range(1, 4)] == [1, 2, 3]
    assert store.append_event(b, "run.started", {}) == 1

    events = store.list_events(a)
    assert all(isinstance(e, EventRow) and e.created_at.tzinfo == UTC for e in events)
    assert [(e.seq, e.type, e.data) for e in events] == [
        (1, "step.started", {"step": "01"}),
        (2, "step.started", {"step": "02"}),
        (3, "step.started", {"step": "03"}),
    ]
    assert [e.seq for e in store.list_events(a, after_seq=2)] == [3]
    assert store.list_events(a, after_seq=3) == []


def test_concurrent_appends_get_gapless_unique_seqs(store: Store) -> None:
    run_id = new_run(store)
    threads_n, per_thread = 8, 15
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []
    seqs: list[int] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        barrier.wait()
        try:
            for i in range(per_thread):
                seq = store.append_event(run_id, "tick", {"thread": t, "i": i})
                with lock:
                    seqs.append(seq)
        except BaseException as exc:  # noqa: BLE001 - reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    assert errors == []
    total = threads_n * per_thread
    assert sorted(seqs) == list(range(1, total + 1))
    events = store.list_events(run_id)
    assert [e.seq for e in events] == list(range(1, total + 1))
    for t in range(threads_n):  # each thread's own events keep its order
        assert [e.data["i"] for e in events if e.data["thread"] == t] == list(range(per_thread))


def test_two_processes_append_to_one_run_at_once(store: Store, database_url: str) -> None:
    # A worker and the CLI writing together: on SQLite this leans on WAL + busy_timeout.
    run_id = new_run(store)
    start_at = time.time() + 2.5
    script = (
        "import sys, time; from store import Store; s = Store(sys.argv[1]); s.migrate(); "
        "time.sleep(max(0.0, float(sys.argv[3]) - time.time())); "
        "[s.append_event(sys.argv[2], 'tick', {'i': i}) for i in range(40)]"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url, run_id, str(start_at)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    assert [e.seq for e in store.list_events(run_id)] == list(range(1, 81))
