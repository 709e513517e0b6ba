"""Queries for the run aggregate: plans, runs and their steps."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Row, Select, bindparam, case, func, select, update
from sqlalchemy.orm import Session

import store.usage as usage
from store.artifacts import artifact_ref
from store.db import built, insert_for
from store.models import Artifact, Plan, Run, RunModelPin, Step, UTCDateTime, utcnow
from store.types import (
    STEP_STATUSES,
    TERMINAL_STEP_STATUSES,
    ArtifactRef,
    RunLineage,
    RunView,
    StepView,
    UsageSummary,
)

StepSpec = tuple[str, str, str | None, int | None]  # key, step_id, agent, iteration

# The read path (the API's hot path) selects plain rows with statements built once: building a statement and
# loading ORM entities cost several times the query itself on SQLite (see bench/RESULTS.md, API latency).
_RUNS, _STEPS, _ARTIFACTS = Run.__table__.c, Step.__table__.c, Artifact.__table__.c
_PINS = RunModelPin.__table__.c
# a run with its pinned model's spec (None for runs started before pins)
_WITH_MODEL = select(*_RUNS, _PINS.spec.label("model_spec")).select_from(
    Run.__table__.outerjoin(RunModelPin.__table__, _PINS.sha256 == _RUNS.model_sha256)
)
_RUN_BY_ID = _WITH_MODEL.where(_RUNS.run_id == bindparam("run_id"))
_STEPS_OF_RUN = select(*_STEPS).where(_STEPS.run_id == bindparam("run_id")).order_by(_STEPS.id)
_ARTIFACTS_OF_RUN = select(*_ARTIFACTS).where(_ARTIFACTS.run_id == bindparam("run_id")).order_by(_ARTIFACTS.id)
_NEWEST_RUNS = _WITH_MODEL.order_by(_RUNS.created_at.desc(), _RUNS.run_id.desc())


def save_plan(s: Session, definition_hash: str, workflow_id: str, body: str) -> None:
    stmt = insert_for(s, Plan).values(definition_hash=definition_hash, workflow_id=workflow_id, body=body)
    s.execute(stmt.on_conflict_do_nothing(index_elements=[Plan.definition_hash]))


def load_plan(s: Session, definition_hash: str) -> str | None:
    return s.scalar(select(Plan.body).where(Plan.definition_hash == definition_hash))


def save_run_model(s: Session, sha256: str, spec: str, body: str) -> None:
    stmt = insert_for(s, RunModelPin).values(sha256=sha256, spec=spec, body=body, created_at=utcnow())
    s.execute(stmt.on_conflict_do_nothing(index_elements=[RunModelPin.sha256]))


def load_run_model(s: Session, sha256: str) -> str | None:
    return s.scalar(select(RunModelPin.body).where(RunModelPin.sha256 == sha256))


_PIN_RUN = (
    update(Run)
    .where((_RUNS.run_id == bindparam("b_run")) & _RUNS.model_sha256.is_(None))
    .values(model_sha256=bindparam("model_sha256"))
)


def pin_run(s: Session, run_id: str, sha256: str) -> None:
    """Point the run at its model pin; a run keeps the first pin it was given (no-op before the run row exists)."""
    s.connection().execute(_PIN_RUN, {"b_run": run_id, "model_sha256": sha256})


def create_run(
    s: Session,
    run_id: str,
    workflow_id: str,
    temporal_workflow_id: str,
    definition_hash: str,
    inputs: dict[str, Any],
    status: str,
    lineage: RunLineage | None = None,
) -> None:
    stmt = built(s, "create_run", lambda ins: ins(Run).on_conflict_do_nothing(index_elements=["run_id"]))
    row: dict[str, Any] = {
        "run_id": run_id, "workflow_id": workflow_id, "temporal_workflow_id": temporal_workflow_id,
        "definition_hash": definition_hash, "status": status, "inputs": inputs, "decisions": [],
        "created_at": utcnow(),
    }
    if lineage is not None:
        row |= {"parent_run_id": lineage.parent_run_id, "rerun_from": lineage.rerun_from,
                "reuse": lineage.reuse.model_dump() if lineage.reuse else None}
    s.connection().execute(stmt, row)


def _finish_run_stmt(with_decisions: bool) -> Any:
    values: dict[str, Any] = {
        "status": bindparam("status"),
        "error": bindparam("error"),
        # a repeated call (retried activity) keeps the first finish time
        "finished_at": func.coalesce(_RUNS.finished_at, bindparam("now", type_=UTCDateTime())),
    }
    if with_decisions:
        values["decisions"] = bindparam("decisions", type_=Run.__table__.c.decisions.type)
    return update(Run).where(_RUNS.run_id == bindparam("b_run")).values(**values)


_FINISH_RUN = {True: _finish_run_stmt(True), False: _finish_run_stmt(False)}


def finish_run(s: Session, run_id: str, status: str, error: str | None, decisions: list[Any] | None) -> bool:
    params: dict[str, Any] = {"b_run": run_id, "status": status, "error": error, "now": utcnow()}
    if decisions is not None:
        params["decisions"] = decisions
    result = s.connection().execute(_FINISH_RUN[decisions is not None], params)
    return bool(result.rowcount)


def statuses(s: Session, run_ids: list[str]) -> dict[str, str]:
    """The status of each of these runs that exists."""
    found: dict[str, str] = {}
    for i in range(0, len(run_ids), 500):
        q = select(Run.run_id, Run.status).where(Run.run_id.in_(run_ids[i:i + 500]))
        found.update({run_id: status for run_id, status in s.execute(q)})
    return found


def get_run(s: Session, run_id: str) -> RunView | None:
    params, conn = {"run_id": run_id}, s.connection()  # Core statements skip the ORM's per-execute work
    run = conn.execute(_RUN_BY_ID, params).first()
    if run is None:
        return None
    steps = [step_view(row) for row in conn.execute(_STEPS_OF_RUN, params)]
    # a row carries the model's attribute names, which is all artifact_ref reads
    found = [artifact_ref(cast(Artifact, row)) for row in conn.execute(_ARTIFACTS_OF_RUN, params)]
    return run_view(run, steps, found, usage.summarize(usage.for_run(s, run_id)))


def list_runs(s: Session, status: str | None, workflow_id: str | None, limit: int, offset: int) -> list[RunView]:
    query: Select[Any] = _NEWEST_RUNS
    if status is not None:
        query = query.where(_RUNS.status == status)
    if workflow_id is not None:
        query = query.where(_RUNS.workflow_id == workflow_id)
    return [run_view(run, [], []) for run in s.connection().execute(query.limit(limit).offset(offset))]


def ensure_steps(s: Session, run_id: str, steps: list[StepSpec]) -> None:
    if not steps:
        return
    rows = [
        {"run_id": run_id, "key": key, "step_id": step_id, "agent": agent, "iteration": iteration,
         "status": "pending", "attempts": 0}
        for key, step_id, agent, iteration in steps
    ]
    stmt = built(s, "ensure_steps", lambda ins: ins(Step).on_conflict_do_nothing(index_elements=["run_id", "key"]))
    s.connection().execute(stmt, rows)  # executemany with a statement built once


def _step_started_stmt(insert_: Any) -> Any:
    stmt = insert_(Step)
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={
            "step_id": new.step_id,
            "agent": new.agent,
            "iteration": new.iteration,
            "status": "running",
            # attempts only grow, whatever order retried calls arrive in
            "attempts": case((_STEPS.attempts >= new.attempts, _STEPS.attempts), else_=new.attempts),
            "started_at": func.coalesce(_STEPS.started_at, new.started_at),
            "finished_at": None,
        },
    )


def step_started(
    s: Session, run_id: str, key: str, step_id: str, agent: str | None, iteration: int | None, attempt: int
) -> None:
    s.connection().execute(built(s, "step_started", _step_started_stmt), {
        "run_id": run_id, "key": key, "step_id": step_id, "agent": agent, "iteration": iteration,
        "status": "running", "attempts": attempt, "started_at": utcnow(),
    })


def step_finished(
    s: Session, run_id: str, key: str, status: str, error: str | None, answered_by: tuple[str, str] | None = None
) -> bool:
    """Set the step's final status (and the provider/model that answered, when given) in one UPDATE."""
    check_step_status(status)
    params: dict[str, Any] = {"b_run": run_id, "b_key": key, "status": status, "error": error,
                              "finished_at": utcnow()}
    if answered_by is not None:
        params["provider"], params["model"] = answered_by
    result = s.connection().execute(_STEP_FINISHED[answered_by is not None], params)
    return bool(result.rowcount)


_STEP_WHERE = (_STEPS.run_id == bindparam("b_run")) & (_STEPS.key == bindparam("b_key"))


def _step_finished_stmt(with_answer: bool) -> Any:
    values: dict[str, Any] = {"status": bindparam("status"), "error": bindparam("error"),
                              "finished_at": bindparam("finished_at", type_=UTCDateTime())}
    if with_answer:
        values["provider"], values["model"] = bindparam("provider"), bindparam("model")
    return update(Step).where(_STEP_WHERE).values(**values)


_STEP_FINISHED = {answer: _step_finished_stmt(answer) for answer in (False, True)}

_ATTEMPT: Any = bindparam("b_attempt")
_STEP_REUSED = (
    update(Step)
    .where(_STEP_WHERE)
    .values(status="completed", error=None, finished_at=bindparam("finished_at", type_=UTCDateTime()),
            # the attempt that found the output stored counts; attempts only grow
            attempts=case((_STEPS.attempts >= _ATTEMPT, _STEPS.attempts), else_=_ATTEMPT))
    .returning(_STEPS.provider, _STEPS.model)
)


def step_reused(s: Session, run_id: str, key: str, attempt: int) -> tuple[str | None, str | None] | None:
    """Mark completed a step whose output an earlier attempt stored, and return the (provider, model) that answered
    then, in one UPDATE ... RETURNING; None when there is no such step."""
    row = s.connection().execute(
        _STEP_REUSED, {"b_run": run_id, "b_key": key, "b_attempt": attempt, "finished_at": utcnow()}
    ).first()
    return None if row is None else (row[0], row[1])


def add_fallback(s: Session, run_id: str, key: str, entry: dict[str, Any]) -> bool:
    """Append one switch to the step's fallbacks (read-modify-write inside the caller's write transaction)."""
    step = s.scalar(select(Step).where(Step.run_id == run_id, Step.key == key))
    if step is None:
        return False
    step.fallbacks = [*(step.fallbacks or []), entry]
    s.flush()
    return True


def _set_step_status_stmt(ins: Any) -> Any:
    stmt = ins(Step)
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={"step_id": new.step_id, "agent": new.agent, "iteration": new.iteration, "status": new.status,
              "finished_at": new.finished_at},
    )


def set_step_statuses(s: Session, run_id: str, rows: list[tuple[str, str, str | None, int | None, str]]) -> None:
    """(key, step_id, agent, iteration, status) of several steps, one executemany."""
    if not rows:
        return
    now = utcnow()
    params = []
    for key, step_id, agent, iteration, status in rows:
        check_step_status(status)
        params.append({"run_id": run_id, "key": key, "step_id": step_id, "agent": agent, "iteration": iteration,
                       "status": status, "attempts": 0,
                       "finished_at": now if status in TERMINAL_STEP_STATUSES else None})
    s.connection().execute(built(s, "set_step_status", _set_step_status_stmt), params)


_OPEN_STEPS = ("pending", "running", "retrying")


def end_if_running(s: Session, run_id: str, status: str, error: str) -> bool:
    """End a run the store still shows running (`status`, `error`), closing its open steps: a started step
    failed with `error`, one that never started skipped. False when the run is not running (it ended itself)."""
    now = utcnow()
    ended = s.connection().execute(
        update(Run).where(_RUNS.run_id == run_id, _RUNS.status == "running")
        .values(status=status, error=error, finished_at=func.coalesce(_RUNS.finished_at, now)))
    if not ended.rowcount:
        return False
    s.connection().execute(
        update(Step).where(_STEPS.run_id == run_id, _STEPS.status.in_(_OPEN_STEPS))
        .values(status=case((_STEPS.status == "pending", "skipped"), else_="failed"),
                error=case((_STEPS.status == "pending", _STEPS.error), else_=error), finished_at=now))
    return True


def check_step_status(status: str) -> None:
    if status not in STEP_STATUSES:
        raise ValueError(f"unknown step status {status!r}; expected one of {sorted(STEP_STATUSES)}")


def step_view(step: Step | Row[Any]) -> StepView:
    return StepView(
        key=step.key,
        step_id=step.step_id,
        agent=step.agent,
        iteration=step.iteration,
        status=step.status,
        attempts=step.attempts,
        started_at=step.started_at,
        finished_at=step.finished_at,
        error=step.error,
        provider=step.provider,
        model=step.model,
        fallbacks=list(step.fallbacks or []),
        reused_from=step.reused_from,
    )


def run_view(
    run: Run | Row[*tuple[Any, ...]], steps: list[StepView], artifacts: list[ArtifactRef],
    summary: UsageSummary | None = None,
) -> RunView:
    return RunView(
        run_id=run.run_id,
        workflow_id=run.workflow_id,
        temporal_workflow_id=run.temporal_workflow_id,
        status=run.status,
        definition_hash=run.definition_hash,
        inputs=run.inputs,
        decisions=run.decisions,
        error=run.error,
        created_at=run.created_at,
        finished_at=run.finished_at,
        model=getattr(run, "model_spec", None),
        model_sha256=run.model_sha256,
        parent_run_id=run.parent_run_id,
        rerun_from=run.rerun_from,
        steps=steps,
        artifacts=artifacts,
        usage=summary,
    )


_REUSE_OF = select(_RUNS.reuse).where(_RUNS.run_id == bindparam("run_id"))


def reuse_of(s: Session, run_id: str) -> dict[str, Any] | None:
    """A run's ReusePlan as stored (None: its steps call their models)."""
    value = s.connection().execute(_REUSE_OF, {"run_id": run_id}).scalar()
    return cast(dict[str, Any] | None, value)
