"""The web console: the built single-page app from web/dist at `/` (index.html, /assets/*, the favicon).

Included without the auth dependency: the static files hold no data, and the sign-in page must load before
anyone has a session. Its pages are hash routes (`/#/runs/ID`), so they never collide with API paths."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.problems import Problem

DIST = Path(__file__).resolve().parents[2] / "web" / "dist"
router = APIRouter(include_in_schema=False)
AssetPath = Annotated[str, PathParam(min_length=1, max_length=300)]

NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>BotArmy</title></head>
<body style="font-family:sans-serif;max-width:40rem;margin:3rem auto">
<h1>BotArmy API</h1>
<p>The web console is not built. With Node.js 20+ installed, run <code>make install</code>
(or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>) and reload this page.</p>
<p>The API itself works: see <a href="/docs">/docs</a>.</p></body></html>"""


def dist_dir(request: Request) -> Path:
    return getattr(request.app.state, "console_dist", None) or DIST


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> Response:
    page = dist_dir(request) / "index.html"
    if not page.is_file():
        return HTMLResponse(NOT_BUILT)
    # no-cache: a rebuilt console's new asset names are picked up at once (the assets themselves are immutable)
    return FileResponse(page, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})


@router.get("/assets/{path:path}")
def asset(path: AssetPath, request: Request) -> Response:
    root = (dist_dir(request) / "assets").resolve()
    file = (root / path).resolve()
    if not file.is_relative_to(root) or not file.is_file():
        raise Problem(404, f"no console asset {path!r}")
    return FileResponse(file, headers={"Cache-Control": "public, max-age=31536000, immutable"})


@router.get("/favicon.svg")
@router.get("/favicon.ico")
def favicon(request: Request) -> Response:
    file = dist_dir(request) / "favicon.svg"
    if not file.is_file():
        return Response(status_code=204)
    return FileResponse(file, media_type="image/svg+xml")
