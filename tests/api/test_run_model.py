"""The API starts runs pinned to its own model setting: an unusable one is refused, a run shows its pin."""

from __future__ import annotations

from pathlib import Path

from botarmy.settings import Settings
from providers.pin import resolve_run_model
from store import Store
from tests.api.conftest import api_client, assert_problem


async def test_an_unusable_model_setting_is_a_422_before_anything_is_stored(
    down_settings: Settings, bmad_dir: Path, sqlite_url: str
):
    bad = down_settings.model_copy(update={"model": "nonsense"})
    async with api_client(bad, [bmad_dir]) as (_, client):
        body = assert_problem(await client.post("/runs", json={"workflow": "quick-fix"}), 422)
        assert "BOTARMY_MODEL: model 'nonsense' is not understood" in body["detail"] and "\n" not in body["detail"]
        assert (await client.get("/runs")).json()["items"] == []


async def test_a_run_shows_its_pinned_model_and_unanswered_steps_show_none(
    down_settings: Settings, bmad_dir: Path, sqlite_url: str
):
    store = Store(sqlite_url)
    store.migrate()
    pin, _ = resolve_run_model(down_settings.model_copy(update={"model": "openai:gpt-4o-mini"}), environ={})
    store.pin_model("r-pin", pin.sha256, pin.spec, pin.body())  # started, not yet recorded by its workflow
    store.begin_run("r-pin", "quick-fix", "bmad-quick-fix-r-pin", "h" * 64, {}, [("s1", "s1", "dev", None)],
                    ("run.started", {}), pin.sha256)
    store.create_run("r-old", "quick-fix", "bmad-quick-fix-r-old", "h" * 64, {})  # a run from before pins
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        run = (await client.get("/runs/r-pin")).json()
        assert (run["model"], run["model_sha256"]) == ("openai:gpt-4o-mini", pin.sha256)
        assert [(s["status"], s["provider"], s["model"]) for s in run["steps"]] == [("pending", None, None)]
        assert (await client.get("/runs/r-old")).json()["model"] is None
        listed = {r["run_id"]: r["model"] for r in (await client.get("/runs")).json()["items"]}
        assert listed == {"r-pin": "openai:gpt-4o-mini", "r-old": None}
