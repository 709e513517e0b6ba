"""Queries for the run aggregate: plans, runs and their steps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, literal, select, update
from sqlalchemy.orm import Session

from store.artifacts import list_for_run as list_artifacts
from store.db import insert_for
from store.models import Plan, Run, Step, UTCDateTime, utcnow
from store.types import STEP_STATUSES, TERMINAL_STEP_STATUSES, ArtifactRef, RunView, StepView

StepSpec = tuple[str, str, str | None, int | None]  # key, step_id, agent, iteration


def save_plan(s: Session, definition_hash: str, workflow_id: str, body: str) -> None:
    stmt = insert_for(s, Plan).values(definition_hash=definition_hash, workflow_id=workflow_id, body=body)
    s.execute(stmt.on_conflict_do_nothing(index_elements=[Plan.definition_hash]))


def load_plan(s: Session, definition_hash: str) -> str | None:
    return s.scalar(select(Plan.body).where(Plan.definition_hash == definition_hash))


def create_run(
    s: Session,
    run_id: str,
    workflow_id: str,
    temporal_workflow_id: str,
    definition_hash: str,
    inputs: dict[str, Any],
    status: str,
) -> None:
    stmt = insert_for(s, Run).values(
        run_id=run_id,
        workflow_id=workflow_id,
        temporal_workflow_id=temporal_workflow_id,
        definition_hash=definition_hash,
        status=status,
        inputs=inputs,
        decisions=[],
    )
    s.execute(stmt.on_conflict_do_nothing(index_elements=[Run.run_id]))


def finish_run(s: Session, run_id: str, status: str, error: str | None, decisions: list[Any] | None) -> bool:
    values: dict[str, Any] = {
        "status": status,
        "error": error,
        # a repeated call (retried activity) keeps the first finish time
        "finished_at": func.coalesce(Run.finished_at, literal(utcnow(), UTCDateTime())),
    }
    if decisions is not None:
        values["decisions"] = decisions
    result = s.execute(update(Run).where(Run.run_id == run_id).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def get_run(s: Session, run_id: str) -> RunView | None:
    run = s.get(Run, run_id)
    if run is None:
        return None
    steps = s.scalars(select(Step).where(Step.run_id == run_id).order_by(Step.id)).all()
    return run_view(run, [step_view(step) for step in steps], list_artifacts(s, run_id))


def list_runs(s: Session, status: str | None, workflow_id: str | None, limit: int, offset: int) -> list[RunView]:
    query = select(Run).order_by(Run.created_at.desc(), Run.run_id.desc()).limit(limit).offset(offset)
    if status is not None:
        query = query.where(Run.status == status)
    if workflow_id is not None:
        query = query.where(Run.workflow_id == workflow_id)
    return [run_view(run, [], []) for run in s.scalars(query)]


def ensure_steps(s: Session, run_id: str, steps: list[StepSpec]) -> None:
    if not steps:
        return
    rows = [
        {
            "run_id": run_id,
            "key": key,
            "step_id": step_id,
            "agent": agent,
            "iteration": iteration,
            "status": "pending",
            "attempts": 0,
        }
        for key, step_id, agent, iteration in steps
    ]
    stmt = insert_for(s, Step).values(rows)
    s.execute(stmt.on_conflict_do_nothing(index_elements=[Step.run_id, Step.key]))


def step_started(
    s: Session, run_id: str, key: str, step_id: str, agent: str | None, iteration: int | None, attempt: int
) -> None:
    stmt = insert_for(s, Step).values(
        run_id=run_id,
        key=key,
        step_id=step_id,
        agent=agent,
        iteration=iteration,
        status="running",
        attempts=attempt,
        started_at=utcnow(),
    )
    new = stmt.excluded
    s.execute(
        stmt.on_conflict_do_update(
            index_elements=[Step.run_id, Step.key],
            set_={
                "step_id": new.step_id,
                "agent": new.agent,
                "iteration": new.iteration,
                "status": "running",
                # attempts only grow, whatever order retried calls arrive in
                "attempts": case((Step.attempts >= new.attempts, Step.attempts), else_=new.attempts),
                "started_at": func.coalesce(Step.started_at, new.started_at),
                "finished_at": None,
            },
        )
    )


def step_finished(s: Session, run_id: str, key: str, status: str, error: str | None) -> bool:
    check_step_status(status)
    result = s.execute(
        update(Step)
        .where(Step.run_id == run_id, Step.key == key)
        .values(status=status, error=error, finished_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def set_step_status(
    s: Session, run_id: str, key: str, step_id: str, agent: str | None, iteration: int | None, status: str
) -> None:
    check_step_status(status)
    finished_at = utcnow() if status in TERMINAL_STEP_STATUSES else None
    stmt = insert_for(s, Step).values(
        run_id=run_id,
        key=key,
        step_id=step_id,
        agent=agent,
        iteration=iteration,
        status=status,
        attempts=0,
        finished_at=finished_at,
    )
    new = stmt.excluded
    s.execute(
        stmt.on_conflict_do_update(
            index_elements=[Step.run_id, Step.key],
            set_={
                "step_id": new.step_id,
                "agent": new.agent,
                "iteration": new.iteration,
                "status": new.status,
                "finished_at": new.finished_at,
            },
        )
    )


def check_step_status(status: str) -> None:
    if status not in STEP_STATUSES:
        raise ValueError(f"unknown step status {status!r}; expected one of {sorted(STEP_STATUSES)}")


def step_view(step: Step) -> StepView:
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
    )


def run_view(run: Run, steps: list[StepView], artifacts: list[ArtifactRef]) -> RunView:
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
        steps=steps,
        artifacts=artifacts,
    )
