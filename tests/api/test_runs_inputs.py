"""POST /runs checks the body against the plan before Temporal is asked: 422 naming each field; unknown list
filters and signals are refused too. Temporal is down here: a check that let a request through would answer 503."""

from __future__ import annotations

from pathlib import Path

from botarmy.settings import Settings
from store import Store
from tests.api.conftest import api_client, assert_problem


async def test_every_problem_in_the_body_is_one_error_naming_its_field(down_settings: Settings, bmad_dir: Path):
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        body = {"workflow": "greenfield-service", "approve": ["pm", "ghost"], "artifacts": {"notes.md": "x"},
                "inputs": {"foo": 1, "for_each_epic": -1, "architecture_suggests_prd_changes": "maybe"}}
        problem = assert_problem(await client.post("/runs", json=body), 422)
    assert problem["type"] == "urn:botarmy:problem:validation"
    errors = {tuple(e["loc"]): e["msg"] for e in problem["errors"]}
    assert list(errors) == [("body", "inputs", "foo"), ("body", "inputs", "for_each_epic"),
                            ("body", "inputs", "architecture_suggests_prd_changes"), ("body", "artifacts", "notes.md"),
                            ("body", "approve")]
    assert errors[("body", "inputs", "foo")].startswith("unknown input; known inputs: ac_refs, ")
    assert errors[("body", "inputs", "architecture_suggests_prd_changes")] == (
        '"maybe" is not a condition value; use true or false')
    assert errors[("body", "artifacts", "notes.md")] == "unknown external document; greenfield-service takes none"
    assert errors[("body", "approve")].startswith("greenfield-service does not use ghost; use all, none, or agents")
    assert problem["detail"].startswith("inputs.foo: unknown input; ")
    assert "Error" not in problem["detail"]


async def test_a_team_is_checked_by_the_same_rule_as_the_cli(down_settings: Settings, bmad_dir: Path):
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        lacking = assert_problem(await client.post("/runs", json={"workflow": "greenfield-service",
                                                                  "team": "team-planning"}), 422)
        unknown = assert_problem(await client.post("/runs", json={"workflow": "quick-fix", "team": "team-x"}), 422)
        fine = await client.post("/runs", json={"workflow": "quick-fix", "team": "team-core",
                                                "inputs": {"project_name": "Acme"}})
    assert lacking["detail"] == "team 'team-planning' cannot run greenfield-service: it lacks sm, dev, qa"
    assert lacking["errors"][0]["loc"] == ["body", "team"]
    assert unknown["detail"] == "unknown team 'team-x'; available teams: team-core, team-planning"
    assert_problem(fine, 503)  # the body passed every check; only then was Temporal asked


async def test_an_unknown_status_filter_is_422_listing_the_valid_ones(down_settings: Settings, bmad_dir: Path):
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        problem = assert_problem(await client.get("/runs", params={"status": "done"}), 422)
        ok = await client.get("/runs", params={"status": "stopped"})
    assert problem["detail"] == "unknown status 'done'; use one of: running, completed, failed, cancelled, stopped"
    assert problem["errors"][0]["loc"] == ["query", "status"]
    assert ok.status_code == 200 and ok.json()["items"] == []


async def test_a_signal_the_workflow_does_not_define_is_404(down_settings: Settings, bmad_dir: Path):
    store = Store(down_settings.database_url)
    store.migrate()
    store.create_run("r1", "quick-fix", "bmad-quick-fix-r1", "h" * 64, {})
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        problem = assert_problem(await client.post("/runs/r1/signals/poke", json={"x": 1}), 404)
        known = await client.post("/runs/r1/signals/decide_signal", json={"step": "s", "decision": "approve"})
    assert problem["detail"] == ("the run's workflow has no signal 'poke'; its signals: child_resolved, "
                                 "child_waiting, decide_signal")
    assert_problem(known, 503)  # a signal it defines goes to Temporal (down here)
    store.close()
