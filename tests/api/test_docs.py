"""/docs and /redoc work without internet: every asset they load is served by the app itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from botarmy.settings import Settings
from tests.api.conftest import api_client

_ASSET = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|(?:url|href)\s*:\s*["']([^"']+)["']""")
CONTENT_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",),
                 ".png": ("image/png",), ".json": ("application/json",)}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_loads_only_assets_the_app_serves(page: str, settings: Settings, bmad_dir: Path):
    async with api_client(settings, [bmad_dir]) as (_, client):
        html = await client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert "http://" not in html.text and "https://" not in html.text  # no CDN, no web font, no validator
        urls = {a or b for a, b in _ASSET.findall(html.text)}
        assert "/openapi.json" in urls
        scripts = [u for u in urls if u.endswith(".js")]
        assert scripts, html.text  # the page's UI is a script; it must be one of ours
        for url in urls:
            answer = await client.get(url)
            assert answer.status_code == 200, url
            suffix = Path(url).suffix
            assert answer.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], url
            assert len(answer.content) > 1000, url  # the asset itself, not an error page
