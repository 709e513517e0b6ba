from __future__ import annotations

from datetime import UTC

import pytest

from store import RunOpening, RunView, StepView, Store
from tests.store.helpers import begin, completion, new_run


def test_plan_round_trips_and_saving_twice_keeps_one(store: Store) -> None:
    store.save_plan("abc123", "greenfield-fullstack", '{"a": 1}')
    store.save_plan("abc123", "greenfield-fullstack", '{"a": 1}')
    assert store.load_plan("abc123") == '{"a": 1}'


def test_loading_an_unknown_plan_raises_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        store.load_plan("nope")


def test_create_run_twice_is_a_no_op(store: Store) -> None:
    store.create_run("r-1", "wf", "bmad-wf-1", "h", {"idea": "first"})
    store.create_run("r-1", "wf", "bmad-wf-1", "h", {"idea": "second"}, status="queued")
    run = store.get_run("r-1")
    assert run is not None
    assert run.inputs == {"idea": "first"}
    assert run.status == "running"


def test_get_run_returns_the_full_shape(store: Store) -> None:
    run_id = begin(store, [("01-analyst-brief", "brief", "analyst", None), ("02-pm-prd", "prd", "pm", None)])
    store.start_step(run_id, "01-analyst-brief", "brief", "analyst", None, 1, ("step.started", {}))
    store.complete_step(completion(run_id, "01-analyst-brief", "brief.md", b"# Brief"))

    run = store.get_run(run_id)

    assert isinstance(run, RunView)
    assert run.run_id == run_id
    assert run.workflow_id == "greenfield-fullstack"
    assert run.temporal_workflow_id.startswith("bmad-greenfield-fullstack-")
    assert run.definition_hash == "hash-1"
    assert run.inputs == {"idea": "todo app"}
    assert run.decisions == []
    assert run.status == "running" and run.error is None and run.finished_at is None
    assert run.created_at.tzinfo == UTC
    assert [s.key for s in run.steps] == ["01-analyst-brief", "02-pm-prd"]
    assert [s.status for s in run.steps] == ["completed", "pending"]
    assert [(a.name, a.version, a.step) for a in run.artifacts] == [("brief.md", 1, "01-analyst-brief")]


def test_get_run_of_unknown_id_is_none(store: Store) -> None:
    assert store.get_run("missing") is None


def test_begin_run_twice_keeps_one_run_one_pending_step_and_one_event(store: Store) -> None:
    key = "12-sm-story[2]"
    run_id = begin(store, [(key, "story", "sm", 2)])
    again = store.begin_run(run_id, "greenfield-fullstack", "other", "hash-1", {"idea": "second"},
                            [(key, "story", "sm", 2)], ("run.started", {}))  # a retried activity
    assert again is None
    run = store.get_run(run_id)
    assert run is not None and run.inputs == {"idea": "todo app"}
    assert [(s.key, s.status, s.attempts) for s in run.steps] == [(key, "pending", 0)]
    assert [e.type for e in store.list_events(run_id)] == ["run.started"]


def test_open_run_writes_plan_pin_inputs_run_and_steps_once(store: Store) -> None:
    opening = RunOpening(
        run_id="r-open", workflow_id="wf", temporal_workflow_id="bmad-wf-r-open", definition_hash="h-open",
        plan_body='{"p": 1}', inputs={"idea": "todo app", "for_each_epic": 2}, model=("m" * 64, "offline", "{}"),
        steps=[("01-pm-prd", "01-pm-prd", "pm", None), ("02-sm-story[1]", "02-sm-story", "sm", 1)],
        event=("run.started", {"workflow": "wf"}),
    )
    ref, seq = store.open_run(opening)
    again = store.open_run(opening)  # a repeated launch writes nothing twice

    assert seq is not None and again == (ref, None)
    assert store.load_inputs(ref) == {"idea": "todo app", "for_each_epic": 2}
    assert store.load_plan("h-open") == '{"p": 1}' and store.load_run_model("m" * 64) == "{}"
    run = store.get_run("r-open")
    assert run is not None
    assert (run.status, run.temporal_workflow_id, run.model_sha256) == ("running", "bmad-wf-r-open", "m" * 64)
    assert [(s.key, s.status, s.iteration) for s in run.steps] == [("01-pm-prd", "pending", None),
                                                                   ("02-sm-story[1]", "pending", 1)]
    assert [e.type for e in store.list_events("r-open")] == ["run.started"]


def test_step_lifecycle_pending_running_retrying_completed(store: Store) -> None:
    key = "12-sm-story[2]"
    run_id = begin(store, [(key, "story", "sm", 2)])
    assert _step(store, run_id, key).status == "pending"

    store.start_step(run_id, key, "story", "sm", 2, 1, ("step.started", {"attempt": 1}))
    first = _step(store, run_id, key)
    assert (first.status, first.attempts, first.finished_at) == ("running", 1, None)
    assert first.started_at is not None and first.started_at.tzinfo == UTC

    store.fail_step(run_id, key, "retrying", "provider timeout", ("step.retrying", {"attempt": 1}))
    retrying = _step(store, run_id, key)
    assert (retrying.status, retrying.error) == ("retrying", "provider timeout")

    store.start_step(run_id, key, "story", "sm", 2, 2, ("step.started", {"attempt": 2}))
    store.start_step(run_id, key, "story", "sm", 2, 1, ("step.started", {"attempt": 1}))  # a late duplicate
    second = _step(store, run_id, key)
    assert (second.status, second.attempts, second.finished_at) == ("running", 2, None)  # attempts never drop
    assert second.started_at == first.started_at

    store.complete_step(completion(run_id, key, "story.md", b"# Story", answered_by=("openai", "gpt-4o-mini")))
    done = _step(store, run_id, key)
    assert (done.status, done.attempts, done.error) == ("completed", 2, None)
    assert (done.agent, done.iteration, done.step_id) == ("sm", 2, "story")
    assert (done.provider, done.model) == ("openai", "gpt-4o-mini")
    assert done.finished_at is not None and done.finished_at >= done.started_at  # type: ignore[operator]


def test_start_step_creates_a_step_it_was_not_told_about(store: Store) -> None:
    run_id = new_run(store)
    store.start_step(run_id, "03-architect", "architecture", "architect", None, 3, ("step.started", {}))
    step = _step(store, run_id, "03-architect")
    assert (step.status, step.attempts, step.agent) == ("running", 3, "architect")


def test_end_run_marks_steps_skipped_even_ones_it_was_not_told_about(store: Store) -> None:
    run_id = begin(store, [("04-ux", "ux", "ux-expert", None)])
    store.end_run(run_id, "completed", None, [], [("04-ux", "ux", "ux-expert", None, "skipped"),
                                                  ("05-qa", "qa", "qa", None, "skipped")], ("run.completed", {}))
    run = store.get_run(run_id)
    assert run is not None
    assert [(s.key, s.status) for s in run.steps] == [("04-ux", "skipped"), ("05-qa", "skipped")]
    assert all(s.finished_at is not None for s in run.steps)
    assert run.status == "completed"


def test_unknown_step_status_is_rejected_and_nothing_is_written(store: Store) -> None:
    run_id = begin(store, [("01-a", "a", None, None)])
    with pytest.raises(ValueError, match="unknown step status 'done'"):
        store.fail_step(run_id, "01-a", "done", "x", ("step.done", {}))
    with pytest.raises(ValueError, match="unknown step status 'done'"):
        store.end_run(run_id, "completed", None, [], [("01-a", "a", None, None, "done")], ("run.completed", {}))
    run = store.get_run(run_id)
    assert run is not None and run.status == "running"
    assert [(s.status, s.error) for s in run.steps] == [("pending", None)]
    assert [e.type for e in store.list_events(run_id)] == ["run.started"]


def test_ending_an_unknown_run_raises_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        store.end_run("missing", "completed", None, [], [], ("run.completed", {}))


def test_finish_run_records_status_error_and_decisions(store: Store) -> None:
    run_id = new_run(store)
    store.finish_run(run_id, "failed", error="pm step failed", decisions=[{"step": "02-pm-prd", "approved": False}])
    first = store.get_run(run_id)
    store.finish_run(run_id, "failed", error="pm step failed")
    again = store.get_run(run_id)
    assert first is not None and again is not None
    assert (again.status, again.error) == ("failed", "pm step failed")
    assert again.decisions == [{"step": "02-pm-prd", "approved": False}]
    assert again.finished_at is not None and again.finished_at.tzinfo == UTC
    assert again.finished_at == first.finished_at


def test_finish_unknown_run_raises_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        store.finish_run("missing", "completed")


def test_list_runs_is_newest_first_and_filters(store: Store) -> None:
    a = new_run(store, "greenfield-fullstack")
    b = new_run(store, "brownfield-service")
    c = begin(store, [("01-a", "a", None, None)], "greenfield-fullstack")
    store.finish_run(b, "completed")

    assert [r.run_id for r in store.list_runs()] == [c, b, a]
    assert [r.run_id for r in store.list_runs(status="running")] == [c, a]
    assert [r.run_id for r in store.list_runs(workflow_id="brownfield-service")] == [b]
    assert [r.run_id for r in store.list_runs(limit=1, offset=1)] == [b]
    assert store.list_runs(status="running", workflow_id="brownfield-service") == []


def _step(store: Store, run_id: str, key: str) -> StepView:
    run = store.get_run(run_id)
    assert run is not None
    return next(s for s in run.steps if s.key == key)
