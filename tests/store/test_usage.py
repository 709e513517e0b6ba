from __future__ import annotations

from datetime import UTC, datetime, timedelta

from store import Store, UsageCall, UsageRow
from tests.store.helpers import begin, completion

PRD = ("02-pm-prd", "02-pm-prd", "pm", None)


def test_usage_is_idempotent_on_call_key(store: Store) -> None:
    run_id = begin(store, [PRD])
    first = UsageCall(f"{run_id}/02-pm-prd/1/0", "openai", "gpt-4o-mini", 120, 30)
    # attempt 1 was billed for one call, then failed; the activity retried the failure's write
    for _ in range(2):
        store.fail_step(run_id, "02-pm-prd", "retrying", "HTTP 500", ("step.retrying", {}), [first])
    # the completing attempt reports the same call again (with other numbers) and one new call
    again = UsageCall(first.call_key, "openai", "gpt-4o-mini", 999, 999)
    second = UsageCall(f"{run_id}/02-pm-prd/1/1", "openai", "gpt-4o-mini", 80, 20)
    store.complete_step(completion(run_id, "02-pm-prd", "prd.md", b"# PRD\n", [again, second]))

    rows = store.usage_for_run(run_id)

    assert all(isinstance(r, UsageRow) and r.created_at.tzinfo == UTC for r in rows)
    assert [(r.call_key[-3:], r.prompt_tokens, r.completion_tokens) for r in rows] == [
        ("1/0", 120, 30),
        ("1/1", 80, 20),
    ]
    assert {(r.step_key, r.provider, r.model) for r in rows} == {("02-pm-prd", "openai", "gpt-4o-mini")}
    assert store.usage_summary(run_id).totals.prompt_tokens == 200


def test_usage_is_per_run(store: Store) -> None:
    a, b = begin(store, [PRD]), begin(store, [PRD])
    store.fail_step(a, "02-pm-prd", "failed", "HTTP 400", ("step.failed", {}),
                    [UsageCall("a-call", "offline", "offline", 1, 1)])
    assert store.usage_for_run(b) == []
    assert [r.call_key for r in store.usage_for_run(a)] == ["a-call"]


def test_usage_summary_since_counts_every_run_from_that_time(store: Store) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    a, b = begin(store, [PRD]), begin(store, [PRD])
    store.fail_step(a, "02-pm-prd", "failed", "x", ("step.failed", {}), [UsageCall("a", "openai", "m", 3, 4)])
    store.complete_step(completion(b, "02-pm-prd", "prd.md", b"#", [UsageCall("b", "openai", "m", 10, 1)]))
    summary = store.usage_summary_since(before)
    assert (summary.totals.calls, summary.totals.prompt_tokens, summary.totals.completion_tokens) == (2, 13, 5)
    assert summary.by_step == []
    assert store.usage_summary_since(datetime.now(UTC) + timedelta(hours=1)).totals.calls == 0
