"""CLI command that serves the REST API. Registered on the main app by `register`."""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from fastapi import FastAPI

# How `serve --workers N` hands its options to the worker processes, which build the app themselves.
SERVE_ENV = "BOTARMY_SERVE_OPTIONS"  # set by `serve` for its own uvicorn worker processes; not configuration
INTERNAL_ENV_NAMES = (SERVE_ENV,)
# Threads for the routes' store calls: more only fight over the GIL (and, past 5, SQLite's connection pool).
STORE_THREADS = 2


def app_from_env() -> FastAPI:
    """The app as `serve` configured it (uvicorn's factory in each worker process)."""
    from api.main import create_app
    from botarmy.logging import configure_logging
    from botarmy.settings import get_settings

    options = json.loads(os.environ[SERVE_ENV])
    settings = get_settings()
    configure_logging(settings.log_level)
    origins = list(getattr(settings, "cors_origins", None) or [])
    app = create_app(settings, [Path(d) for d in options["bmad_dirs"]], origins,
                     health_cache_s=options["health_cache_s"], store_threads=options.get("store_threads"))
    # What is alive now (modules, classes, the app) lives as long as the process: keep it out of the collector,
    # whose full passes over it took ~100 ms each and showed as the API's slowest answers under load.
    gc.collect()
    gc.freeze()
    return app


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `botarmy` app."""

    @app.command()
    def serve(
        host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8000,
        bmad_dir: Annotated[
            list[Path] | None,
            typer.Option("--bmad-dir", help="A .bmad-core folder; repeat to layer (the first one receives template "
                                            "edits; later folders override earlier ones)."),
        ] = None,
        workers: Annotated[int, typer.Option("--workers", min=1, help="server processes sharing the port")] = 1,
        access_log: Annotated[
            bool, typer.Option("--access-log/--no-access-log", help="log every request (uvicorn's access log)")
        ] = True,
        health_cache_s: Annotated[
            float, typer.Option("--health-cache-s", min=0,
                                help="answer GET /health from a copy at most this old (0: ask every time)")
        ] = 1.0,
        store_threads: Annotated[
            int, typer.Option("--store-threads", min=1,
                              help="threads per server process for blocking database reads and writes")
        ] = STORE_THREADS,
    ) -> None:
        """Serve the REST API (OpenAPI docs at /docs). Temporal is connected on first need."""
        import uvicorn

        from botarmy.cli.common import bmad_dirs, err, fail
        from botarmy.settings import get_settings
        from store import Store

        settings = get_settings()
        if not settings.auth:
            if not is_loopback(host):
                raise fail(f"BOTARMY_AUTH=off serves without sign-in, so only on a loopback address; --host {host} "
                           "is not one (unset BOTARMY_AUTH, or use --host 127.0.0.1)")
            err.print(f"warning: BOTARMY_AUTH=off: no sign-in; anyone who reaches {host}:{port} is an admin",
                      highlight=False, markup=False)
        probe = Store(settings.database_url)  # a database that does not answer is one line here, not a traceback
        try:                                  # from inside the server's startup
            probe.ping()
        finally:
            probe.close()
        options = {"bmad_dirs": [str(d) for d in bmad_dirs(bmad_dir)], "health_cache_s": health_cache_s,
                   "store_threads": store_threads}
        os.environ[SERVE_ENV] = json.dumps(options)
        common: dict[str, Any] = {"host": host, "port": port, "log_level": settings.log_level.lower(),
                                  "access_log": access_log}
        if workers == 1:
            uvicorn.run(app_from_env(), **common)
            return
        # several workers: each process imports the factory and builds its own app (and store, and client)
        from botarmy.cli.serve_workers import reuse_port_supported, serve_workers

        if reuse_port_supported():  # one socket per process: the kernel spreads the connections evenly
            serve_workers(workers, {"app": "botarmy.cli.serve:app_from_env", "factory": True, **common})
        else:
            uvicorn.run("botarmy.cli.serve:app_from_env", factory=True, workers=workers, **common)
