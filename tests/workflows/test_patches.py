"""Engine levels (workflows/patches.py): a run started by this code takes every folded patch without a marker or a
TemporalChangeVersion upsert; a run started before levels (engine 0) asks each patch as it always did."""

from __future__ import annotations

import re
from pathlib import Path

import pytest_asyncio
from temporalio.client import Client

from botarmy.settings import Settings
from botarmy.temporal import connect, ensure_search_attributes, start_run
from store import Store
from tests.conftest import running_worker, save_plan
from tests.workflows.plans import pipeline_plan
from tests.workflows.record_histories import load
from workflows.patches import ENGINE_LEVEL, FOLDED

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
HISTORIES = Path(__file__).parent / "histories"


@pytest_asyncio.fixture
async def dev_client(dev_server: str) -> Client:
    client = await connect(dev_server)
    await ensure_search_attributes(client)
    return client


def markers_and_upserts(events: list) -> tuple[list[str], int]:
    markers = [e.marker_recorded_event_attributes.marker_name for e in events if e.HasField(
        "marker_recorded_event_attributes")]
    upserts = sum(1 for e in events if e.HasField("upsert_workflow_search_attributes_event_attributes"))
    return markers, upserts


async def test_a_run_started_now_asks_no_patch_and_its_history_is_shorter(
        dev_client: Client, settings: Settings, store: Store) -> None:
    plan = save_plan(store, pipeline_plan())
    inputs = {"for_each_epic": 1, "architecture_suggests_prd_changes": False}
    async with running_worker(dev_client, settings, store):
        handle = await start_run(dev_client, plan, settings, inputs, task_queue=settings.task_queue)
        assert (await handle.result()).status == "completed"
        now = (await handle.fetch_history()).events
    markers, upserts = markers_and_upserts(now)
    assert "core_patch" not in markers and upserts == 0  # BotArmyWaiting was "no" from the start and stayed so
    started = now[0].workflow_execution_started_event_attributes.input.payloads[0].data
    assert f'"engine":{ENGINE_LEVEL}'.encode() in started

    # the same plan recorded before levels asked its patches: markers and their upserts
    before = load(HISTORIES / "inputs-by-reference-repeat-1.json").events
    old_markers, old_upserts = markers_and_upserts(before)
    assert old_markers.count("core_patch") >= 3 and old_upserts >= 3


def test_every_folded_patch_is_one_the_workflows_ask_for() -> None:
    source = "\n".join(p.read_text() for p in WORKFLOWS.glob("*.py") if p.name != "patches.py")
    constants = dict(re.findall(r'^\s*(\w+) = "([a-z0-9-]+)"', source, re.M))
    asked = set(re.findall(r'patched\((?:inp\.engine|engine|self\.engine), "([a-z0-9-]+)"\)', source))
    asked |= {constants[name] for name in re.findall(r"patched\((?:inp\.engine|engine|self\.engine), (\w+)\)", source)}
    assert set().union(*FOLDED.values()) == asked
    assert "workflow.patched(" not in source  # every patch goes through patches.patched, which knows the levels


def test_committed_level_1_histories_hold_no_patch_marker() -> None:
    """They replay in test_replay, like every committed history, under both runners."""
    paths = sorted(HISTORIES.glob("engine-1-*.json"))
    assert len(paths) >= 3
    for path in paths:
        markers, _ = markers_and_upserts(load(path).events)
        assert "core_patch" not in markers, path.name
