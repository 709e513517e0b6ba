"""A step's writes land together, once: the activity's hot path."""

from __future__ import annotations

import pytest

from store import Store, UsageCall
from tests.store.helpers import begin, completion

PRD = ("02-pm-prd", "02-pm-prd", "pm", None)


def test_complete_step_writes_usage_artifact_status_and_events_once(store: Store):
    run_id = begin(store, [PRD])
    seq = store.start_step(run_id, "02-pm-prd", "02-pm-prd", "pm", None, 1, ("step.started", {"attempt": 1}))
    assert seq == 2  # after run.started
    calls = [UsageCall(f"{run_id}:02-pm-prd", "offline", "offline", 10, 20)]
    ref, stored = store.complete_step(completion(run_id, "02-pm-prd", "prd.md", b"# PRD\n", calls))
    again, stored_again = store.complete_step(completion(run_id, "02-pm-prd", "prd.md", b"# PRD (retry)\n", calls))
    assert again == ref and stored_again == []  # a retry after commit changes nothing
    assert [s[:2] for s in stored] == [(3, "artifact.created"), (4, "step.completed")]
    assert stored[0][2] == {"version": 1}
    assert [e.type for e in store.list_events(run_id)] == [
        "run.started", "step.started", "artifact.created", "step.completed"]
    assert [(u.prompt_tokens, u.completion_tokens) for u in store.usage_for_run(run_id)] == [(10, 20)]
    assert store.read_artifact(ref.id, ref.sha256) == b"# PRD\n"
    run = store.get_run(run_id)
    assert run is not None
    assert [(a.name, a.version) for a in run.artifacts] == [("prd.md", 1)]
    assert (run.steps[0].status, run.steps[0].attempts) == ("completed", 1)


def test_a_revision_is_a_new_version_with_its_own_usage_row(store: Store):
    run_id = begin(store, [PRD])
    store.complete_step(completion(run_id, "02-pm-prd", "prd.md", b"v1",
                                   [UsageCall(f"{run_id}:02-pm-prd", "offline", "offline", 1, 1)]))
    ref, _ = store.complete_step(completion(run_id, "02-pm-prd", "prd.md", b"v2",
                                            [UsageCall(f"{run_id}:02-pm-prd@r1", "offline", "offline", 1, 1)],
                                            output_key="02-pm-prd@r1"))
    assert ref.version == 2 and len(store.usage_for_run(run_id)) == 2
    assert store.artifact_version(run_id, "prd.md", 2) == ref


def test_extra_artifacts_and_their_events_land_with_the_output(store: Store):
    run_id = begin(store, [PRD])
    ref, stored = store.complete_step(completion(
        run_id, "02-pm-prd", "prd.md", b"# PRD\n", extra=[("prd.md.transcript.md", b"# Transcript\n")],
        extra_events_for=lambda refs: [("artifact.created", {"name": r.name}) for r in refs],
        answered_by=("anthropic", "claude-x"),
    ))
    transcript = store.artifact_version(run_id, "prd.md.transcript.md", 1)
    assert transcript is not None and transcript.step == ref.step == "02-pm-prd"
    assert store.read_artifact(transcript.id, transcript.sha256) == b"# Transcript\n"
    assert [t for _, t, _ in stored] == ["artifact.created", "step.completed", "artifact.created"]
    assert stored[-1][2] == {"name": "prd.md.transcript.md"}
    step = store.get_run(run_id).steps[0]  # type: ignore[union-attr]
    assert (step.provider, step.model) == ("anthropic", "claude-x")


def test_fail_step_records_status_error_event_and_billed_calls(store: Store):
    run_id = begin(store, [PRD])
    calls = [UsageCall(f"{run_id}:02-pm-prd:1:0", "openai", "gpt-4o-mini", 5, 0)]
    seq = store.fail_step(run_id, "02-pm-prd", "retrying", "HTTP 500", ("step.retrying", {"attempt": 1}), calls)
    assert seq == 2
    step = store.get_run(run_id).steps[0]  # type: ignore[union-attr]
    assert (step.status, step.error) == ("retrying", "HTTP 500")
    assert [e.type for e in store.list_events(run_id)] == ["run.started", "step.retrying"]
    assert [u.call_key for u in store.usage_for_run(run_id)] == [f"{run_id}:02-pm-prd:1:0"]


def test_reusing_a_stored_output_completes_the_step_and_names_who_answered(store: Store):
    run_id = begin(store, [PRD])
    store.start_step(run_id, "02-pm-prd", "02-pm-prd", "pm", None, 1, ("step.started", {}))
    store.complete_step(completion(run_id, "02-pm-prd", "prd.md", b"# PRD\n", answered_by=("openai", "gpt-4o")))
    store.fail_step(run_id, "02-pm-prd", "retrying", "worker lost", ("step.retrying", {}))  # e.g. a heartbeat loss

    assert store.reuse_step(run_id, "02-pm-prd", 3) == ("openai", "gpt-4o")
    assert store.reuse_step(run_id, "02-pm-prd", 2) == ("openai", "gpt-4o")  # a late duplicate
    step = store.get_run(run_id).steps[0]  # type: ignore[union-attr]
    assert (step.status, step.error, step.attempts) == ("completed", None, 3)  # attempts never drop
    assert step.finished_at is not None


def test_reusing_a_step_that_never_answered_names_nobody(store: Store):
    run_id = begin(store, [PRD])
    assert store.reuse_step(run_id, "02-pm-prd", 1) == (None, None)
    assert store.get_run(run_id).steps[0].status == "completed"  # type: ignore[union-attr]


def test_reusing_a_step_that_does_not_exist_raises_key_error(store: Store):
    run_id = begin(store, [PRD])
    with pytest.raises(KeyError):
        store.reuse_step(run_id, "99-ghost", 1)
