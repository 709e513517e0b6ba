"""Raw download of one artifact version (the store's direct version lookup), and its 404s; no Temporal needed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from botarmy.settings import Settings
from store import Store
from tests.api.conftest import api_client, assert_problem


async def test_each_version_downloads_its_own_bytes_and_misses_are_404s_naming_them(
    down_settings: Settings, bmad_dir: Path, store: Store
):
    store.save_plan("h", "quick-fix", "{}")
    store.create_run("r-1", "quick-fix", "bmad-quick-fix-r-1", "h", {})
    store.put_artifact("r-1", "docs/prd.md", b"# PRD v1\n", "01-pm-prd")
    store.put_artifact("r-1", "docs/prd.md", b"# PRD v2\n", "01-pm-prd@r1")
    store.put_artifact("r-1", "notes.json", b"{}", "02-dev")
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        for version, body in ((1, b"# PRD v1\n"), (2, b"# PRD v2\n")):
            raw = await client.get(f"/runs/r-1/artifacts/docs/prd.md/versions/{version}/raw")
            assert raw.status_code == 200, raw.text
            assert raw.content == body
            assert raw.headers["etag"] == f'"{hashlib.sha256(body).hexdigest()}"'
            assert raw.headers["content-type"] == "text/markdown; charset=utf-8"
            assert "filename*=UTF-8''prd.md" in raw.headers["content-disposition"]

        missing = assert_problem(await client.get("/runs/r-1/artifacts/docs/prd.md/versions/3/raw"), 404)
        assert missing["detail"] == "run 'r-1' has no version 3 of artifact 'docs/prd.md'"
        other = assert_problem(await client.get("/runs/r-1/artifacts/nope.md/versions/1/raw"), 404)
        assert other["detail"] == "run 'r-1' has no version 1 of artifact 'nope.md'"
        unknown = assert_problem(await client.get("/runs/nope/artifacts/docs/prd.md/versions/1/raw"), 404)
        assert unknown["detail"] == "no run 'nope'"
