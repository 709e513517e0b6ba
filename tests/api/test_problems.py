"""Errors are problem details: 404, 413, 422 (validation, unknown workflow, definition errors), 503, 500."""

from __future__ import annotations

from pathlib import Path

from botarmy.settings import Settings
from store import Store
from tests.api.conftest import PROBLEM_JSON, api_client, assert_problem

BROKEN_WORKFLOW = """\
workflow:
  id: broken
  name: Broken
  sequence:
    - agent: nobody-we-know
      creates: thing.md
"""


async def test_unknown_run_and_unknown_route_are_404_problems(down_settings: Settings, bmad_dir: Path):
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        for path in ("/runs/nope", "/runs/nope/artifacts", "/runs/nope/artifacts.zip", "/runs/nope/events",
                     "/no/such/route", "/catalog/workflows/nope", "/catalog/templates/nope"):
            assert_problem(await client.get(path), 404)
        assert_problem(await client.post("/runs/nope/cancel"), 404)
        assert_problem(await client.post("/runs/nope/signals/go", json={}), 404)
        assert_problem(await client.post("/runs/nope/approvals/s1", json={"decision": "approve"}), 404)


async def test_body_over_one_mebibyte_is_413(down_settings: Settings, bmad_dir: Path):
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        big = {"workflow": "quick-fix", "artifacts": {"brief.md": "x" * 1_100_000}}
        assert_problem(await client.post("/runs", json=big), 413)

        async def chunks():  # no Content-Length: the limit applies while the body is read
            for _ in range(20):
                yield b"x" * 100_000

        assert_problem(await client.put("/catalog/templates/huge", content=chunks()), 413)


async def test_validation_errors_are_422_with_an_errors_list(down_settings: Settings, bmad_dir: Path):
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        body = assert_problem(await client.post("/runs", json={"inputs": []}), 422)
        assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "workflow"), ("body", "inputs")}

        body = assert_problem(await client.post("/runs", json={"workflow": "no-such-flow"}), 422)
        assert "no-such-flow" in body["detail"] and "quick-fix" in body["detail"]

        body = assert_problem(await client.post("/runs", json={"workflow": "quick-fix", "approve": ["ghost"]}), 422)
        assert "ghost" in body["detail"]
        body = assert_problem(await client.post("/runs", json={"workflow": "quick-fix", "team": "team-x"}), 422)
        assert "team-x" in body["detail"]
        body = assert_problem(
            await client.post("/runs", json={"workflow": "greenfield-service", "inputs": {"for_each_epic": -1}}), 422
        )
        assert "for_each_epic" in body["detail"]

        amend = {"decision": "amend", "comment": "shorter"}
        body = assert_problem(await client.post("/runs/r1/approvals/s1", json=amend), 422)
        assert "content" in body["detail"]
        assert_problem(await client.post("/runs/r1/approvals/s1", json={"decision": "maybe"}), 422)
        assert_problem(await client.get("/runs", params={"limit": 0}), 422)


async def test_a_workflow_with_definition_errors_is_422_with_its_messages(down_settings: Settings, bmad_dir: Path):
    (bmad_dir / "workflows" / "broken.yaml").write_text(BROKEN_WORKFLOW)
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        body = assert_problem(await client.post("/runs", json={"workflow": "broken"}), 422)
        assert body["errors"] and all({"path", "line", "col", "message"} <= set(e) for e in body["errors"])
        assert any("nobody-we-know" in e["message"] for e in body["errors"])
        assert_problem(await client.get("/catalog/workflows/broken"), 422)


async def test_temporal_down_is_503_for_what_needs_it_and_reads_still_work(
    down_settings: Settings, bmad_dir: Path, sqlite_url: str
):
    store = Store(sqlite_url)
    store.migrate()
    store.create_run("r-down", "quick-fix", "bmad-quick-fix-r-down", "h" * 64, {})
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        body = assert_problem(await client.post("/runs", json={"workflow": "quick-fix"}), 503)
        assert down_settings.temporal_address in body["detail"]
        assert (await client.get("/runs")).json()["items"][0]["run_id"] == "r-down"  # nothing was stored by the 503
        assert len((await client.get("/runs")).json()["items"]) == 1
        assert_problem(await client.post("/runs/r-down/cancel"), 503)
        assert_problem(await client.get("/approvals"), 503)
        run = await client.get("/runs/r-down")
        assert run.status_code == 200 and run.json()["pending_approvals"] is None


async def test_an_unexpected_error_is_a_500_problem_without_traceback(down_settings: Settings, bmad_dir: Path):
    async with api_client(down_settings, [bmad_dir]) as (app, client):
        def explode() -> None:
            raise RuntimeError("secret internals")

        app.state.botarmy.store.list_runs = lambda **_: explode()
        response = await client.get("/runs")
        body = assert_problem(response, 500)
        assert "secret internals" not in response.text and "RuntimeError" not in response.text
        assert body["detail"]
        assert response.headers["content-type"].startswith(PROBLEM_JSON)


async def test_database_down_is_503_with_retry_after_on_every_route_that_reads_it_and_ready_says_unavailable(
    settings: Settings, bmad_dir: Path
):
    from httpx import ASGITransport, AsyncClient

    from api.main import create_app
    from tests.conftest import free_port

    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"  # nothing listens there
    app = create_app(settings.model_copy(update={"database_url": dead}), [bmad_dir])
    # no lifespan: it migrates, which the API does while the database is up; here it has gone away since
    # a token cannot be checked either (tokens live in the database): 503, not 401 or 500
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://botarmy.test",
                           headers={"Authorization": "Bearer bat_unverifiable"}) as client:
        for path in ("/runs", "/runs/r1", "/runs/r1/artifacts", "/runs/r1/artifacts.zip", "/runs/r1/usage",
                     "/runs/r1/artifacts/prd.md", "/runs/r1/artifacts/prd.md/versions/1/raw",
                     "/usage?since=2026-01-01T00:00:00Z", "/runs/r1/events"):
            response = await client.get(path)
            body = assert_problem(response, 503)
            assert response.headers["retry-after"].isdigit(), path
            assert body["type"] == "urn:botarmy:problem:database-unavailable" and "127.0.0.1" not in response.text
        # /health needs a signed-in viewer, which a local token cannot prove now; the public probe says why
        assert_problem(await client.get("/health"), 503)
        ready = await client.get("/health/ready", headers={"Authorization": ""})
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"


async def test_a_wrong_method_is_405_whose_allow_lists_every_method_of_the_path(
    down_settings: Settings, bmad_dir: Path
):
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        for method, path, allowed in (("DELETE", "/runs", {"GET", "POST"}),
                                      ("PATCH", "/catalog/templates/prd-tmpl", {"GET", "PUT", "DELETE"})):
            response = await client.request(method, path)
            assert_problem(response, 405)
            assert allowed <= set(response.headers["allow"].replace(" ", "").split(",")) <= allowed | {"HEAD"}


async def test_usage_since_takes_an_iso_8601_date_time_and_refuses_numbers_and_durations(
    down_settings: Settings, bmad_dir: Path
):
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        for nonsense in ("0.5", "0", "1767225600", "P1D", "yesterday"):
            body = assert_problem(await client.get("/usage", params={"since": nonsense}), 422)
            assert "ISO 8601" in body["detail"] or "datetime" in body["detail"], nonsense
        ok = await client.get("/usage", params={"since": "2026-01-31T09:00:00+02:00"})
        assert ok.status_code == 200 and ok.json()["since"] == "2026-01-31T09:00:00+02:00"
