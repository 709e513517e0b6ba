"""Pause and resume a running run between steps: the one function the CLI and the API call. The run's workflow
holds before its next step (the `pause` Update is in its history, so a worker restart keeps it paused); the store
keeps a `run.paused` / `run.resumed` event, so the run object and the console say so."""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from store import RunView, Store
from workflows.contracts import (
    EVENT_RUN_PAUSED,
    EVENT_RUN_RESUMED,
    UPDATE_PAUSE,
    UPDATE_RESUME,
    PauseRequest,
    PauseState,
)


class PauseRefused(ValueError):
    """One line: why the run cannot be paused or resumed now (not running, paused already, not paused)."""


async def set_paused(client: Client, store: Store, view: RunView, paused: bool, by: str) -> PauseState:
    """Pause (or resume) the run; what its workflow says of it. PauseRefused when it may not be."""
    what = "paused" if paused else "resumed"
    if view.status != "running":
        raise PauseRefused(f"run {view.run_id} is not running: it is {view.status}")
    handle = client.get_workflow_handle(view.temporal_workflow_id)
    try:
        state = await handle.execute_update(UPDATE_PAUSE if paused else UPDATE_RESUME, PauseRequest(by=by),
                                            result_type=PauseState)
    except WorkflowUpdateFailedError as exc:  # the validator's reason, before anything entered the history
        cause = exc.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
        raise PauseRefused(f"run {view.run_id} cannot be {what}: {reason}") from None
    await asyncio.to_thread(store.append_event, view.run_id, EVENT_RUN_PAUSED if paused else EVENT_RUN_RESUMED,
                            {"by": by, "before": state.before})
    return state

