"""A step's writes land together, once: the activity's hot path."""

from __future__ import annotations

from store import ArtifactRef, Store
from tests.store.helpers import new_run


def _events(ref: ArtifactRef) -> list[tuple[str, dict]]:
    return [("artifact.created", {"version": ref.version}), ("step.completed", {"version": ref.version})]


def test_complete_step_writes_usage_artifact_status_and_events_once(store: Store):
    run_id = new_run(store)
    store.ensure_steps(run_id, [("02-pm-prd", "02-pm-prd", "pm", None)])
    seq = store.start_step(run_id, "02-pm-prd", "02-pm-prd", "pm", None, 1, ("step.started", {"attempt": 1}))
    assert seq == 1
    usage_row = ("offline", "offline", 10, 20)
    ref, stored = store.complete_step(run_id, "02-pm-prd", "02-pm-prd", "prd.md", b"# PRD\n", usage_row, _events)
    again, stored_again = store.complete_step(
        run_id, "02-pm-prd", "02-pm-prd", "prd.md", b"# PRD (retry)\n", usage_row, _events
    )
    assert again == ref and stored_again == []  # a retry after commit changes nothing
    assert [s[:2] for s in stored] == [(2, "artifact.created"), (3, "step.completed")]
    assert [e.type for e in store.list_events(run_id)] == ["step.started", "artifact.created", "step.completed"]
    assert len(store.usage_for_run(run_id)) == 1
    run = store.get_run(run_id)
    assert [(a.name, a.version) for a in run.artifacts] == [("prd.md", 1)]
    assert (run.steps[0].status, run.steps[0].attempts) == ("completed", 1)


def test_a_revision_is_a_new_version_with_its_own_usage_row(store: Store):
    run_id = new_run(store)
    store.ensure_steps(run_id, [("02-pm-prd", "02-pm-prd", "pm", None)])
    usage_row = ("offline", "offline", 1, 1)
    store.complete_step(run_id, "02-pm-prd", "02-pm-prd", "prd.md", b"v1", usage_row, _events)
    ref, _ = store.complete_step(run_id, "02-pm-prd", "02-pm-prd@r1", "prd.md", b"v2", usage_row, _events)
    assert ref.version == 2 and len(store.usage_for_run(run_id)) == 2


def test_fail_step_records_status_error_and_event(store: Store):
    run_id = new_run(store)
    store.ensure_steps(run_id, [("02-pm-prd", "02-pm-prd", "pm", None)])
    store.fail_step(run_id, "02-pm-prd", "retrying", "HTTP 500", ("step.retrying", {"attempt": 1}))
    step = store.get_run(run_id).steps[0]
    assert (step.status, step.error) == ("retrying", "HTTP 500")
    assert [e.type for e in store.list_events(run_id)] == ["step.retrying"]
