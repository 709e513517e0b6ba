"""Templates through the API: declared names only, ordinary file modes, and statements refused with file:line."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.templates import NAME_PATTERN
from botarmy.settings import Settings
from tests.api.conftest import api_client, assert_problem
from tests.api.test_catalog import NEW_TEMPLATE


@pytest.fixture
def umask() -> Iterator[None]:
    """Restores the process umask a test sets."""
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640)], ids=["umask-022", "umask-027"])
async def test_a_written_template_gets_the_mode_of_an_ordinary_new_file(
    down_settings: Settings, bmad_dir: Path, umask: None, mask: int, expected: int
) -> None:
    os.umask(mask)
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        created = await client.put("/catalog/templates/release-notes-tmpl", content=NEW_TEMPLATE)
        assert created.status_code == 201, created.text
    written = bmad_dir / "templates" / "release-notes-tmpl.yaml"
    assert mode(written) == expected  # under the usual umask 022, 0644: the mode of the shipped templates


async def test_a_replaced_template_keeps_its_mode(down_settings: Settings, bmad_dir: Path, umask: None) -> None:
    os.umask(0o022)
    shipped = bmad_dir / "templates" / "prd-tmpl.yaml"
    shipped.chmod(0o664)
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        text = shipped.read_text().replace("Product Requirements Document", "Requirements")
        replaced = await client.put("/catalog/templates/prd-tmpl", content=text)
        assert replaced.status_code == 200, replaced.text
    assert mode(shipped) == 0o664 and "Requirements" in shipped.read_text()


@pytest.mark.parametrize("name", [".hidden", "-rf", ".hidden.yaml", "-", "_ok%00"])
async def test_names_outside_the_declared_pattern_are_422(down_settings: Settings, bmad_dir: Path, name: str) -> None:
    before = sorted(p.name for p in (bmad_dir / "templates").iterdir())
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        body = assert_problem(await client.put(f"/catalog/templates/{name}", content=NEW_TEMPLATE), 422)
        assert body["errors"][0]["loc"] == ["path", "name"]
        assert_problem(await client.get(f"/catalog/templates/{name}"), 422)
        assert_problem(await client.delete(f"/catalog/templates/{name}"), 422)
    assert sorted(p.name for p in (bmad_dir / "templates").iterdir()) == before


async def test_openapi_declares_the_name_pattern(down_settings: Settings, bmad_dir: Path) -> None:
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        paths = (await client.get("/openapi.json")).json()["paths"]
    operations = paths["/catalog/templates/{name}"]
    for method in ("get", "put", "delete"):
        (param,) = [p for p in operations[method]["parameters"] if p["name"] == "name"]
        assert param["in"] == "path" and param["schema"]["pattern"] == NAME_PATTERN


async def test_a_template_with_a_statement_is_422_naming_its_line_and_is_not_written(
    down_settings: Settings, bmad_dir: Path
) -> None:
    hostile = NEW_TEMPLATE.replace('title: "Release notes"',
                                   'title: "R[\\0{% for x in range(3) %}\\0X\\0{% endfor %}\\0] {{version}}"')
    hostile += "    template: |\n      Changes: {{ changes|join(', ') }}\n"
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        body = assert_problem(await client.put("/catalog/templates/evil-tmpl", content=hostile), 422)
    lines = body["detail"].splitlines()
    assert [line.split(": ")[0] for line in lines] == ["templates/evil-tmpl.yaml:8:12"] * 2 + [
        "templates/evil-tmpl.yaml:14:16"]
    assert "is a template statement" in lines[0] and "is not a placeholder" in lines[2]
    assert not (bmad_dir / "templates" / "evil-tmpl.yaml").exists()
