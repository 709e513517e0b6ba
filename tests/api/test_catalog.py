"""The catalog endpoints and template CRUD in the first bmad folder."""

from __future__ import annotations

import os
from pathlib import Path

from botarmy.settings import Settings
from tests.api.conftest import api_client, assert_problem

NEW_TEMPLATE = """\
template:
  id: release-notes-template-v1
  name: Release Notes
  version: 1.0
  output:
    format: markdown
    filename: docs/release-notes.md
    title: "Release notes"
sections:
  - id: summary
    title: Summary
    instruction: Say what changed.
"""


async def test_catalog_lists_workflows_agents_teams_templates_and_a_compiled_plan(
    down_settings: Settings, bmad_dir: Path
):
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        workflows = (await client.get("/catalog/workflows")).json()
        assert {"quick-fix", "greenfield-service"} <= {w["id"] for w in workflows}
        plan = (await client.get("/catalog/workflows/quick-fix")).json()
        assert plan["workflow_id"] == "quick-fix" and len(plan["definition_hash"]) == 64
        assert [s["agent"] for s in plan["steps"] if s["kind"] == "agent"] == ["pm", "dev", "qa"]
        assert {"pm", "dev", "qa"} <= {a["id"] for a in (await client.get("/catalog/agents")).json()}
        assert "team-core" in {t["id"] for t in (await client.get("/catalog/teams")).json()}
        assert "prd-tmpl" in {t["id"] for t in (await client.get("/catalog/templates")).json()}


async def test_template_round_trip_create_read_replace_delete(down_settings: Settings, bmad_dir: Path):
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        created = await client.put("/catalog/templates/release-notes-tmpl", content=NEW_TEMPLATE,
                                   headers={"content-type": "application/yaml"})
        assert created.status_code == 201, created.text
        assert created.json()["name"] == "release-notes-tmpl.yaml"
        assert (bmad_dir / "templates" / "release-notes-tmpl.yaml").read_text() == NEW_TEMPLATE
        assert not [p for p in (bmad_dir / "templates").iterdir() if p.name.startswith(".tmp-")]

        read = await client.get("/catalog/templates/release-notes-tmpl.yaml")
        assert read.status_code == 200 and read.text == NEW_TEMPLATE
        assert read.headers["content-type"].startswith("application/yaml")
        listed = {t["id"]: t for t in (await client.get("/catalog/templates")).json()}
        assert listed["release-notes-tmpl"]["name"] == "Release Notes"

        replaced = await client.put("/catalog/templates/release-notes-tmpl.yaml",
                                    content=NEW_TEMPLATE.replace("Release Notes", "Changes"))
        assert replaced.status_code == 200 and replaced.json()["created"] is False
        listed = {t["id"]: t for t in (await client.get("/catalog/templates")).json()}
        assert listed["release-notes-tmpl"]["name"] == "Changes"

        assert (await client.delete("/catalog/templates/release-notes-tmpl")).status_code == 204
        assert not (bmad_dir / "templates" / "release-notes-tmpl.yaml").exists()
        assert_problem(await client.get("/catalog/templates/release-notes-tmpl"), 404)
        assert_problem(await client.delete("/catalog/templates/release-notes-tmpl"), 404)
        assert "release-notes-tmpl" not in {t["id"] for t in (await client.get("/catalog/templates")).json()}


async def test_template_names_that_would_escape_the_templates_folder_are_422(
    down_settings: Settings, bmad_dir: Path, tmp_path: Path
):
    outside = tmp_path / "outside.yaml"
    os.symlink(outside, bmad_dir / "templates" / "link.yaml")
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        for name in ("..%2F..%2Fescape.yaml", "..%2Fescape", "sub%2Fx.yaml", "%2Fetc%2Fpasswd", "a%20b", "...",
                     "link.yaml"):
            body = assert_problem(await client.put(f"/catalog/templates/{name}", content=NEW_TEMPLATE), 422)
            assert body["errors"][0]["loc"] == ["path", "name"]
            assert_problem(await client.delete(f"/catalog/templates/{name}"), 422)
    assert not outside.exists()
    assert not (tmp_path / "escape.yaml").exists() and not (bmad_dir / "escape.yaml").exists()


async def test_an_invalid_template_is_422_with_the_loader_messages_and_is_not_written(
    down_settings: Settings, bmad_dir: Path
):
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        body = assert_problem(await client.put("/catalog/templates/bad-tmpl", content="template: [unclosed\n"), 422)
        assert body["detail"].startswith("templates/bad-tmpl.yaml:")
        assert "YAML" in body["detail"] and body["errors"]
        body = assert_problem(await client.put("/catalog/templates/bad-tmpl", content="sections: 3\n"), 422)
        assert "templates/bad-tmpl.yaml" in body["detail"]
        assert_problem(await client.put("/catalog/templates/bad-tmpl", content=b"\xff\xfe"), 422)
    assert not (bmad_dir / "templates" / "bad-tmpl.yaml").exists()
