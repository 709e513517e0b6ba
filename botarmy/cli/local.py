"""CLI commands over the processes we start on this machine (Temporal dev server, worker, API): `dev`, `up`,
`stop`. Registered on the main app by `register`."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from botarmy import devserver
from botarmy.cli.common import fail, out
from botarmy.cli.tokens import admin_token_line
from botarmy.settings import Settings, get_settings

WORKER_START_S = 30.0


async def _worker_polls(settings: Settings, wait_s: float) -> bool:
    """Whether our worker polls the task queue within `wait_s`; raises DevServerError when it exited."""
    from botarmy.temporal import connect, has_pollers

    client = await connect(settings.temporal_address, settings.temporal_namespace)
    deadline = asyncio.get_running_loop().time() + wait_s
    while asyncio.get_running_loop().time() < deadline:
        if devserver.worker_exited(settings):
            log = devserver.log_file(settings, "worker")
            raise devserver.DevServerError(f"the worker exited at start: {_last_line(log)} (see {log})")
        if await has_pollers(client, settings.task_queue):
            return True
        await asyncio.sleep(0.3)
    return False


def _last_line(path: object) -> str:
    try:
        lines = [line for line in open(str(path), encoding="utf-8", errors="replace").read().splitlines() if line]
    except OSError:
        return "no log"
    return lines[-1][-300:] if lines else "no output"


def _server_line(settings: Settings, started: bool) -> str:
    if not started:
        return f"Temporal already running at {settings.temporal_address}"
    rec = devserver.record(settings, "temporal")
    where = f" (data in {rec.data}, log {rec.log})" if rec else ""
    return f"Temporal dev server started at {settings.temporal_address}{where}"


def _worker_line(settings: Settings, started: bool) -> str:
    log = devserver.log_file(settings, "worker")
    if not started:
        return f"worker already running (log {log})"
    if asyncio.run(_worker_polls(settings, WORKER_START_S)):
        return f"worker polls task queue {settings.task_queue!r} (log {log})"
    return f"worker is starting; it does not poll task queue {settings.task_queue!r} yet (log {log})"


def dev(
    detach: Annotated[bool, typer.Option("--detach", help="start both in the background and return")] = False,
) -> None:
    """Start the Temporal dev server (data under .botarmy/) and a worker; print the Web UI URL."""
    settings = get_settings()
    try:
        started = devserver.ensure_server(settings)
    except devserver.DevServerError as exc:
        raise fail(str(exc)) from None
    out.print(_server_line(settings, started), highlight=False)
    out.print(f"Web UI: {settings.web_ui_url}", highlight=False)
    out.print(admin_token_line(settings), highlight=False)
    if detach:
        out.print(_worker_line(settings, devserver.ensure_worker(settings)), highlight=False)
        out.print("`botarmy stop` stops both", highlight=False)
        return
    from worker import run_worker

    try:
        asyncio.run(run_worker(settings))
    except KeyboardInterrupt:
        out.print("worker stopped; the Temporal server keeps running (`botarmy stop` stops it)")


def up(
    host: Annotated[str, typer.Option("--host", help="the API's address")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="the API's port")] = 8000,
) -> None:
    """Start Temporal, a worker and the REST API in the background; print their addresses."""
    settings = get_settings()
    try:
        server = devserver.ensure_server(settings)
        worker = _worker_line(settings, devserver.ensure_worker(settings))
        api = devserver.ensure_api(settings, host, port)
    except devserver.DevServerError as exc:
        raise fail(str(exc)) from None
    state = {True: "started", False: "already running"}
    out.print(f"Temporal  {settings.temporal_address} ({state[server]})", highlight=False)
    out.print(f"Web UI    {settings.web_ui_url}", highlight=False)
    out.print(f"worker    {worker}", highlight=False)
    out.print(f"API       http://{host}:{port}  docs: http://{host}:{port}/docs ({state[api]})", highlight=False)
    out.print(f"console   http://{host}:{port}/", highlight=False)
    out.print(f"token     {admin_token_line(settings)}", highlight=False)
    out.print(f"logs in {devserver.logs_dir(settings)}/; `make stop` (or `botarmy stop`) stops all three",
              highlight=False)


def stop() -> None:
    """Stop the Temporal dev server, worker and API that `up`/`dev --detach`/`run`/`make demo` started, whatever
    address each serves."""
    settings = get_settings()
    for label, stopper in (("API", devserver.stop_api), ("worker", devserver.stop_worker),
                           ("Temporal dev server", devserver.stop)):
        rec = stopper(settings)
        where = f" at {rec.address}" if rec and rec.address else ""
        out.print(f"{label}: stopped (pid {rec.pid}{where})" if rec else f"{label}: not running",
                  highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `botarmy` app."""
    app.command("dev")(dev)
    app.command("up")(up)
    app.command("stop")(stop)
