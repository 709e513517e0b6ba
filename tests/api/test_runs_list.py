"""GET /runs: filters and pages, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from botarmy.settings import Settings
from store import Store
from tests.api.conftest import api_client


async def test_runs_are_listed_newest_first_filtered_and_paged(db_url: str, down_settings: Settings, bmad_dir: Path):
    store = Store(db_url)
    store.migrate()
    for i in range(5):
        workflow = "quick-fix" if i % 2 == 0 else "greenfield-service"
        store.create_run(f"run-{i}", workflow, f"bmad-{workflow}-run-{i}", "h" * 64, {"n": i})
    store.finish_run("run-4", "completed")
    settings = down_settings.model_copy(update={"database_url": db_url})
    try:
        async with api_client(settings, [bmad_dir]) as (_, client):
            everything = (await client.get("/runs")).json()
            assert len(everything["items"]) == 5 and everything["next_offset"] is None
            assert everything["items"][0]["web_ui"].endswith(everything["items"][0]["temporal_workflow_id"])

            quick = (await client.get("/runs", params={"workflow": "quick-fix"})).json()
            assert {r["run_id"] for r in quick["items"]} == {"run-0", "run-2", "run-4"}
            done = (await client.get("/runs", params={"status": "completed"})).json()
            assert [r["run_id"] for r in done["items"]] == ["run-4"]
            assert done["items"][0]["finished_at"] is not None

            seen: list[str] = []
            offset: int | None = 0
            while offset is not None:
                page = (await client.get("/runs", params={"limit": 2, "offset": offset})).json()
                assert len(page["items"]) <= 2
                seen += [r["run_id"] for r in page["items"]]
                offset = page["next_offset"]
            assert sorted(seen) == [f"run-{i}" for i in range(5)] and len(set(seen)) == 5
            assert seen == [r["run_id"] for r in everything["items"]]

            one = (await client.get("/runs/run-3")).json()
            assert one["inputs"] == {"n": 3} and one["steps"] == [] and "pending_approvals" in one
    finally:
        store.close()
