"""Replay guards every workflow change: recorded histories must replay without non-determinism."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.workflows.record_histories import load, record
from worker import workflow_runner
from workflows.run import BmadIterationWorkflow, BmadRunWorkflow
from workflows.scheduled import BmadScheduledLaunchWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def _replayer(sandbox: bool) -> Replayer:
    # the worker's own runner: unsandboxed by default, the sandbox with BOTARMY_WORKFLOW_SANDBOX=true
    return Replayer(workflows=[BmadRunWorkflow, BmadIterationWorkflow, BmadScheduledLaunchWorkflow],
                    data_converter=pydantic_data_converter,
                    workflow_runner=workflow_runner(sandbox))


RUNNERS = pytest.mark.parametrize("sandbox", [False, True], ids=["unsandboxed", "sandboxed"])


def test_committed_histories_exist():
    assert len(HISTORIES) >= 4


@RUNNERS
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_committed_history_replays_without_nondeterminism(path: Path, sandbox: bool):
    history = load(path)
    result = await _replayer(sandbox).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_fresh_histories_of_current_code_replay(tmp_path: Path):
    # the time-skipping server is started by record(); same code records and replays, under both runners
    for path in await record(tmp_path):
        history = load(path)
        for sandbox in (False, True):
            result = await _replayer(sandbox).replay_workflow(history, raise_on_replay_failure=False)
            assert result.replay_failure is None, (path.name, sandbox, result.replay_failure)
