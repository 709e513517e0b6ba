"""Activities ride out a database outage without using model attempts, and store their events once."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from temporalio.testing import ActivityEnvironment

from activities.events import EventSink
from activities.records import RecordActivities
from activities.storecalls import db_call, is_outage
from store import Store
from workflows.contracts import StartRunInput, StepRow


def _real_operational_error() -> OperationalError:
    """A genuine OperationalError from the driver: a database file that cannot be opened."""
    engine = create_engine("sqlite:////nonexistent-dir/x.db")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        return exc
    raise AssertionError("expected an OperationalError")


async def test_a_connection_error_is_retried_until_the_database_answers():
    error, calls = _real_operational_error(), []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise error
        return "ok"

    assert is_outage(error)
    assert await db_call(flaky, outage_s=10) == "ok" and len(calls) == 3


async def test_past_the_outage_window_the_error_is_raised():
    error = _real_operational_error()

    def down() -> None:
        raise error

    with pytest.raises(OperationalError):
        await db_call(down, outage_s=0.3)


async def test_a_query_error_is_not_an_outage_and_is_raised_at_once():
    calls = []

    def wrong() -> None:
        calls.append(1)
        raise IntegrityError("INSERT ...", {}, Exception("unique"))

    with pytest.raises(IntegrityError):
        await db_call(wrong, outage_s=10)
    assert len(calls) == 1


async def test_start_run_retried_after_its_commit_stores_run_started_once(store: Store):
    records = RecordActivities(store, EventSink(store))
    inp = StartRunInput(run_id="r1", workflow_id="w", temporal_workflow_id="bmad-w-r1", definition_hash="h",
                        inputs={}, steps=[StepRow(key="01", step_id="01", agent="pm")])
    store.save_plan("h", "w", "{}")
    env = ActivityEnvironment()
    await env.run(records.start_run, inp)
    await env.run(records.start_run, inp)  # the retry of an attempt whose completion was lost
    assert [e.type for e in store.list_events("r1")] == ["run.started"]
