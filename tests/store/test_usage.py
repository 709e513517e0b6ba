from __future__ import annotations

from datetime import UTC

from store import Store, UsageRow
from tests.store.helpers import new_run


def test_record_usage_is_idempotent_on_call_key(store: Store) -> None:
    run_id = new_run(store)
    store.record_usage(run_id, "02-pm-prd", f"{run_id}/02-pm-prd/1/0", "openai", "gpt-4o-mini", 120, 30)
    store.record_usage(run_id, "02-pm-prd", f"{run_id}/02-pm-prd/1/0", "openai", "gpt-4o-mini", 999, 999)
    store.record_usage(run_id, "02-pm-prd", f"{run_id}/02-pm-prd/1/1", "openai", "gpt-4o-mini", 80, 20)

    rows = store.usage_for_run(run_id)

    assert all(isinstance(r, UsageRow) and r.created_at.tzinfo == UTC for r in rows)
    assert [(r.call_key[-3:], r.prompt_tokens, r.completion_tokens) for r in rows] == [
        ("1/0", 120, 30),
        ("1/1", 80, 20),
    ]
    assert {(r.step_key, r.provider, r.model) for r in rows} == {("02-pm-prd", "openai", "gpt-4o-mini")}


def test_usage_is_per_run(store: Store) -> None:
    a, b = new_run(store), new_run(store)
    store.record_usage(a, "01", "a-call", "offline", "offline", 1, 1)
    assert store.usage_for_run(b) == []
