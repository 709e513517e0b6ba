"""The app: routers per resource, problem-details errors, a body size limit, CORS, and a lifespan that opens
the store and the catalog (Temporal is connected on first need, so the API starts even when it is down)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import docs, problems
from api.cache import TtlCache
from api.deps import AppState
from api.guard import Guard, include, rules_of
from api.middleware import BodyLimit, CatchAll
from api.routes import (
    approvals,
    artifacts,
    audit,
    auth,
    catalog,
    console,
    events,
    health,
    inbox,
    pauses,
    reruns,
    runs,
    schedules,
    usage,
)
from api.views import VIEW_PATHS, ViewCache
from botarmy.settings import Settings
from store import Store


def create_app(
    settings: Settings,
    bmad_dirs: Sequence[Path | str],
    cors_origins: Sequence[str] | None = None,
    *,
    store: Store | None = None,
    max_body_bytes: int | None = None,
    health_cache_s: float = 0.0,
    store_threads: int | None = None,
) -> FastAPI:
    """The API over `settings` (database, Temporal, Redis) and the bmad folders (the first one is writable).

    `health_cache_s` > 0 answers GET /health from a copy at most that old (`botarmy serve` uses 1 s): each
    answer asks Temporal, the task queue and the database, which under load costs more than every other route.

    `store_threads` sets how many threads run the routes' blocking store calls (`asyncio.to_thread`, the event
    loop's default executor; `botarmy serve` uses 2). Python's default is cpu count + 4, which on 2 cores is
    one thread more than SQLite's connection pool keeps (5): under load each extra checkout opened and closed a
    connection, and the threads' fight for the GIL cost more than the queries (per request, ~0.9 ms of CPU with
    the default against ~0.55 ms with 1–2 threads)."""
    if not bmad_dirs:
        raise ValueError("create_app needs at least one bmad folder")
    state = AppState(settings, bmad_dirs, store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        # the loop's executor while the app runs; put back after, so a loop the app shares (tests, an embedding
        # process) keeps its own threads: asyncio has no public getter for it
        previous = getattr(loop, "_default_executor", None)
        executor = ThreadPoolExecutor(store_threads, thread_name_prefix="api-store") if store_threads else None
        if executor is not None:
            loop.set_default_executor(executor)
        await state.open()
        try:
            yield
        finally:
            state.close()
            if executor is not None:
                loop._default_executor = previous  # type: ignore[attr-defined]
                executor.shutdown(wait=False)

    app = FastAPI(
        title="BotArmy",
        version="0.1.0",
        description="BMAD workflows as durable Temporal runs: start and follow runs, decide approvals, "
        "download artifacts, browse and edit the catalog. Errors are `application/problem+json`.",
        lifespan=lifespan,
        docs_url=None,  # api/docs.py serves /docs and /redoc with their assets, no CDN
        redoc_url=None,
    )
    app.state.botarmy = state
    problems.install(app)
    # Sign-in is needed everywhere except the routers included with public=True; the API documentation (pages
    # and OpenAPI document, no data) stays readable so a person can find out how to sign in.
    docs.install(app)
    for path in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", f"{docs.ASSETS_URL}/{{path:path}}"):
        rules_of(app).public_path(path)
    for public in (health.public, auth.public, console.router):  # the console's static files: no data
        include(app, public, public=True)
    # every other route needs a signed-in viewer at least; mutations name a stronger role (require in api/deps.py)
    for module in (runs, reruns, pauses, approvals, inbox, artifacts, events, catalog, health, usage, auth, audit,
                   schedules):
        include(app, module.router, role="viewer")
    # Added last = outermost: CORS answers preflights first; the catch-all sees everything the app raises.
    if health_cache_s > 0:
        app.add_middleware(TtlCache, ttl_s={"/health": health_cache_s})
    app.add_middleware(ViewCache, paths=VIEW_PATHS)  # inside the guard: every request is signed in and checked
    app.add_middleware(Guard, rules=rules_of(app))  # inside the body limit: a sign-in is checked before the body
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes or settings.max_request_bytes)
    app.add_middleware(CatchAll)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["Location"])
    return app
