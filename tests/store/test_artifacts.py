from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from datetime import UTC

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool

from store import ArtifactRef, Store
from store.models import Artifact, Blob
from tests.store.helpers import new_run, statements


def _count(url: str, model: type[Artifact] | type[Blob]) -> int:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        engine.dispose()


def test_put_artifact_returns_a_ref_to_its_content(store: Store) -> None:
    run_id = new_run(store)
    ref = store.put_artifact(run_id, "prd.md", b"# PRD\n", "02-pm-prd")
    assert isinstance(ref, ArtifactRef)
    assert (ref.run_id, ref.name, ref.version, ref.step) == (run_id, "prd.md", 1, "02-pm-prd")
    assert ref.sha256 == hashlib.sha256(b"# PRD\n").hexdigest()
    assert (ref.bytes, ref.media_type) == (6, "text/markdown")
    assert ref.created_at.tzinfo == UTC
    assert store.read_artifact(ref.id, ref.sha256) == b"# PRD\n"


def test_same_step_twice_is_one_row_and_the_first_content_wins(store: Store, database_url: str) -> None:
    run_id = new_run(store)
    first = store.put_artifact(run_id, "prd.md", b"attempt 1", "02-pm-prd")
    retried = store.put_artifact(run_id, "prd.md", b"attempt 2", "02-pm-prd")
    assert retried == first
    assert store.list_artifacts(run_id) == [first]
    assert store.read_artifact(first.id, first.sha256) == b"attempt 1"
    assert _count(database_url, Artifact) == 1


def test_a_later_step_writes_the_next_version(store: Store) -> None:
    run_id = new_run(store)
    v1 = store.put_artifact(run_id, "prd.md", b"draft", "02-pm-prd")
    v2 = store.put_artifact(run_id, "prd.md", b"revised", "06-pm-prd-revise")
    other = store.put_artifact(run_id, "architecture.md", b"arch", "03-architect")
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert store.artifact_version(run_id, "prd.md", 2) == v2
    assert store.artifact_version(run_id, "prd.md", 1) == v1
    assert store.find_artifact(run_id, "02-pm-prd", "prd.md") == v1
    assert store.find_artifact(run_id, "03-architect", "prd.md") is None
    assert store.artifact_version(run_id, "prd.md", 3) is None
    assert store.artifact_version(run_id, "missing.md", 1) is None
    assert store.artifact_version("no-such-run", "prd.md", 1) is None
    assert store.list_artifacts(run_id) == [v1, v2, other]


def test_versions_are_per_run(store: Store) -> None:
    a, b = new_run(store), new_run(store)
    store.put_artifact(a, "prd.md", b"a1", "s1")
    store.put_artifact(a, "prd.md", b"a2", "s2")
    assert store.put_artifact(b, "prd.md", b"b1", "s1").version == 1


def test_identical_content_is_stored_once(store: Store, database_url: str) -> None:
    run_a, run_b = new_run(store), new_run(store)
    refs = [
        store.put_artifact(run_a, "story.md", b"same bytes", "12-sm-story[1]"),
        store.put_artifact(run_a, "story.md", b"same bytes", "12-sm-story[2]"),
        store.put_artifact(run_b, "copy.md", b"same bytes", "01-x", media_type="text/plain"),
    ]
    assert len({r.sha256 for r in refs}) == 1
    assert [store.read_artifact(r.id, r.sha256) for r in refs] == [b"same bytes"] * 3
    assert _count(database_url, Artifact) == 3
    assert _count(database_url, Blob) == 1


def test_one_megabyte_artifact_round_trips(store: Store, database_url: str) -> None:
    run_id = new_run(store)
    content = os.urandom(1024 * 1024)
    ref = store.put_artifact(run_id, "bundle.bin", content, "09-dev", media_type="application/octet-stream")
    assert ref.bytes == len(content)
    other = Store(database_url)  # a cold cache: the bytes come from the database
    try:
        assert other.read_artifact(ref.id, ref.sha256) == content
    finally:
        other.close()


def test_one_version_is_one_query(store: Store) -> None:
    run_id = new_run(store)
    for i in range(3):
        store.put_artifact(run_id, "prd.md", f"v{i}".encode(), f"step-{i}")
    with statements() as seen:
        found = store.artifact_version(run_id, "prd.md", 2)
    assert found is not None and found.step == "step-1"
    queries = [q for q in seen if not q.startswith("BEGIN")]  # SQLite's explicit BEGIN is no query
    assert len(queries) == 1 and "FROM artifacts" in queries[0] and "artifacts.version =" in queries[0]


def test_reading_an_unknown_artifact_raises_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        store.read_artifact(424242, "0" * 64)


def test_artifact_for_unknown_run_is_refused(store: Store) -> None:
    with pytest.raises(Exception, match="(?i)foreign key"):
        store.put_artifact("no-such-run", "prd.md", b"x", "01")


def _in_threads(n: int, fn: Callable[[int], object]) -> list[object]:
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n
    errors: list[BaseException] = []

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001 - reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    return results


def test_concurrent_retries_of_one_step_create_one_row(store: Store, database_url: str) -> None:
    run_id = new_run(store)
    refs = _in_threads(8, lambda i: store.put_artifact(run_id, "prd.md", f"try {i}".encode(), "02-pm-prd"))
    assert len(set(refs)) == 1  # type: ignore[arg-type]
    assert _count(database_url, Artifact) == 1


def test_concurrent_steps_get_distinct_consecutive_versions(store: Store) -> None:
    run_id = new_run(store)
    refs = _in_threads(8, lambda i: store.put_artifact(run_id, "notes.md", f"n{i}".encode(), f"step-{i}"))
    versions = sorted(r.version for r in refs)  # type: ignore[attr-defined]
    assert versions == list(range(1, 9))
