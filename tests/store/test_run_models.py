"""Model pins: stored once by hash, and a run keeps the first pin it was pointed at (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from store import Store


def test_a_pin_is_stored_once_and_a_run_keeps_its_first_pin(store: Store) -> None:
    store.pin_model("r-1", "a" * 64, "openai:gpt-x", '{"spec": "openai:gpt-x"}')  # before the run row exists
    store.begin_run("r-1", "wf", "bmad-wf-r-1", "h", {}, [], ("run.started", {}), "a" * 64)
    store.pin_model("r-1", "a" * 64, "openai:gpt-x", '{"spec": "openai:gpt-x"}')  # a retried start
    store.pin_model("r-1", "b" * 64, "offline", '{"spec": "offline"}')
    store.begin_run("r-1", "wf", "bmad-wf-r-1", "h", {}, [], ("run.started", {}), "b" * 64)
    run = store.get_run("r-1")
    assert run is not None and (run.model, run.model_sha256) == ("openai:gpt-x", "a" * 64)
    assert store.load_run_model("a" * 64) == '{"spec": "openai:gpt-x"}'
    assert [(r.run_id, r.model) for r in store.list_runs()] == [("r-1", "openai:gpt-x")]


def test_a_run_created_before_it_was_pinned_gets_its_pin_and_an_unknown_pin_is_a_key_error(store: Store) -> None:
    store.create_run("r-2", "wf", "bmad-wf-r-2", "h", {})
    assert store.get_run("r-2").model is None  # type: ignore[union-attr]
    store.pin_model("r-2", "c" * 64, "gemini:g", "{}")
    assert store.get_run("r-2").model == "gemini:g"  # type: ignore[union-attr]
    with pytest.raises(KeyError):
        store.load_run_model("d" * 64)
