"""Documents by content hash in memory: a step reads what its worker just wrote without a query."""

from __future__ import annotations

import hashlib

from store import Store
from store.cache import ContentCache
from tests.store.helpers import new_run, statements


def test_what_a_store_wrote_is_read_back_without_a_query(store: Store) -> None:
    run_id = new_run(store)
    ref = store.put_artifact(run_id, "prd.md", b"# PRD\n", "02-pm-prd")
    with statements() as seen:
        assert store.read_artifact(ref.id, ref.sha256) == b"# PRD\n"
    assert seen == []


def test_another_process_reads_the_database_once_then_memory(store: Store, database_url: str) -> None:
    run_id = new_run(store)
    ref = store.put_artifact(run_id, "prd.md", b"# PRD\n", "02-pm-prd")
    other = Store(database_url)  # a second worker: its cache is cold
    try:
        with statements() as first:
            assert other.read_artifact(ref.id, ref.sha256) == b"# PRD\n"
        with statements() as second:
            assert other.read_artifact(ref.id, ref.sha256) == b"# PRD\n"
    finally:
        other.close()
    assert first and second == []


def test_the_id_decides_when_the_hash_is_not_in_memory(store: Store) -> None:
    run_id = new_run(store)
    ref = store.put_artifact(run_id, "prd.md", b"# PRD\n", "02-pm-prd")
    assert store.read_artifact(ref.id, "0" * 64) == b"# PRD\n"


def test_a_retried_write_that_found_the_first_answer_keeps_only_that_in_memory(store: Store) -> None:
    run_id = new_run(store)
    first = store.put_artifact(run_id, "prd.md", b"attempt 1", "02-pm-prd")
    again = store.put_artifact(run_id, "prd.md", b"attempt 2", "02-pm-prd")
    assert again.id == first.id
    assert store.contents.get(hashlib.sha256(b"attempt 2").hexdigest()) is None
    assert store.read_artifact(again.id, again.sha256) == b"attempt 1"


def test_least_recently_used_goes_first_and_the_total_stays_under_the_limit() -> None:
    cache = ContentCache(max_bytes=100)
    for key in "abcd":
        cache.put(key, key.encode() * 25)
    assert cache.get("a") == b"a" * 25  # now b is the least recently used
    cache.put("e", b"e" * 25)
    assert [k for k in "abcde" if cache.get(k) is not None] == ["a", "c", "d", "e"]
    assert cache.bytes == 100 and len(cache) == 4


def test_a_document_over_a_quarter_of_the_limit_is_not_kept() -> None:
    cache = ContentCache(max_bytes=100)
    cache.put("big", b"x" * 26)
    cache.put("small", b"x" * 25)
    assert cache.get("big") is None and cache.get("small") == b"x" * 25
