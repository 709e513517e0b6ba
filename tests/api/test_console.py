"""The console's API side: static files at / (built or not), the client's paths against the OpenAPI document,
and the endpoints the console reads (a workflow's run inputs, daily usage, a run's cost in the list)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from botarmy.settings import Settings
from store import Store, UsageCall
from tests.api.conftest import api_client, assert_problem
from tests.conftest import ROOT
from tests.store.helpers import begin

STEP = ("s1", "s1", "pm", None)

CLIENT_PATHS = ROOT / "web" / "src" / "api" / "paths.json"


def fake_dist(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text('<!doctype html><div id="root"></div><script src="/assets/app.js"></script>')
    (root / "assets" / "app.js").write_text("console.log('botarmy')")
    (root / "favicon.svg").write_text("<svg/>")
    (root.parent / "secret.txt").write_text("not an asset")
    return root


async def test_the_built_console_is_served_at_root_with_its_assets(settings: Settings, bmad_dir: Path,
                                                                   tmp_path: Path):
    async with api_client(settings, [bmad_dir]) as (app, client):
        app.state.console_dist = fake_dist(tmp_path / "dist")
        index = await client.get("/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert '<div id="root">' in index.text
        script = await client.get("/assets/app.js")
        assert script.status_code == 200 and script.text == "console.log('botarmy')"
        assert "immutable" in script.headers["cache-control"]
        assert (await client.get("/favicon.svg")).headers["content-type"] == "image/svg+xml"
        assert_problem(await client.get("/assets/../secret.txt"), 404)
        assert_problem(await client.get("/assets/%2e%2e/secret.txt"), 404)
        assert_problem(await client.get("/assets/nope.js"), 404)
        # the SPA never shadows the API: /runs is still the runs list
        assert (await client.get("/runs")).json()["items"] == []


async def test_without_a_build_root_says_how_to_build_the_console(settings: Settings, bmad_dir: Path,
                                                                  tmp_path: Path):
    async with api_client(settings, [bmad_dir]) as (app, client):
        app.state.console_dist = tmp_path / "not-built"
        page = await client.get("/")
        assert page.status_code == 200
        assert "make install" in page.text and "npm run build" in page.text
        assert (await client.get("/favicon.ico")).status_code == 204


async def test_every_operation_the_console_calls_is_in_the_openapi_document(settings: Settings, bmad_dir: Path):
    operations = json.loads(CLIENT_PATHS.read_text())["operations"]
    async with api_client(settings, [bmad_dir]) as (_, client):
        spec = (await client.get("/openapi.json")).json()
    missing = [f"{method} {path}" for method, path in operations
               if method.lower() not in spec["paths"].get(path, {})]
    assert missing == [], f"the console calls operations the API does not have: {missing}"
    assert not [p for p in spec["paths"] if p == "/" or p.startswith("/assets")], "static routes leak into OpenAPI"


def test_the_client_calls_only_listed_paths():
    """Each path template client.ts uses is in paths.json (the list the OpenAPI test checks)."""
    source = (ROOT / "web" / "src" / "api" / "client.ts").read_text()
    paths = json.loads(CLIENT_PATHS.read_text())
    listed = {path for _, path in paths["operations"] + paths["optional"]}
    used = set(re.findall(r'"(/[a-z][^"?`$]*)"', source)) | set(re.findall(r"`(/[a-z][^`?$]*)", source))
    assert used and used <= listed, f"client.ts uses paths not in paths.json: {sorted(used - listed)}"


async def test_a_workflows_run_inputs_are_typed_with_defaults(settings: Settings, bmad_dir: Path):
    async with api_client(settings, [bmad_dir]) as (_, client):
        body = (await client.get("/catalog/workflows/greenfield-service/inputs")).json()
        kinds = {i["name"]: (i["kind"], i["default"]) for i in body["inputs"]}
        assert kinds["for_each_epic"][0] == "count"
        assert kinds["project_name"] == ("text", None)
        assert any(kind == "condition" and default is False for kind, default in kinds.values())
        assert "pm" in body["agents"] and body["workflow"] == "greenfield-service"
        assert not {"_team", "_approve", "skip", "skip_optional"} & set(kinds)
        assert_problem(await client.get("/catalog/workflows/no-such/inputs"), 404)


def usage_call(key: str, model: str, cost: str | None, tokens: int = 10) -> UsageCall:
    return UsageCall(key, "openai", model, tokens, tokens, None if cost is None else Decimal(cost))


@pytest.fixture
def two_runs_with_usage(store: Store) -> dict[str, str]:
    runs = {w: begin(store, [STEP], w) for w in ("quick-fix", "greenfield-service")}
    store.fail_step(runs["quick-fix"], "s1", "retrying", "x", ("step.retrying", {}),
                    [usage_call("a1", "gpt-4o", "0.25"), usage_call("a2", "gpt-4o", None)])
    store.fail_step(runs["greenfield-service"], "s1", "retrying", "x", ("step.retrying", {}),
                    [usage_call("b1", "gpt-4o-mini", "0.01", tokens=100)])
    return runs


async def test_usage_per_day_workflow_and_model_and_each_runs_cost(settings: Settings, bmad_dir: Path,
                                                                   two_runs_with_usage: dict[str, str]):
    today = datetime.now(UTC).date().isoformat()
    async with api_client(settings, [bmad_dir]) as (_, client):
        daily = (await client.get("/usage/daily", params={"since": "2000-01-01T00:00:00Z"})).json()
        got = {(d["day"], d["workflow"], d["model"]): (d["calls"], d["cost_usd"], d["prompt_tokens"])
               for d in daily["items"]}
        assert got == {(today, "quick-fix", "gpt-4o"): (2, 0.25, 20),
                       (today, "greenfield-service", "gpt-4o-mini"): (1, 0.01, 100)}
        future = (await client.get("/usage/daily", params={"since": "2999-01-01"})).json()
        assert future["items"] == []
        assert_problem(await client.get("/usage/daily", params={"since": "3"}), 422)
        runs = (await client.get("/runs")).json()["items"]
        ids = two_runs_with_usage
        assert {r["run_id"]: r["cost_usd"] for r in runs} == {ids["quick-fix"]: 0.25, ids["greenfield-service"]: 0.01}
