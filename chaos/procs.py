"""The real processes a chaos scenario disturbs: a restartable Temporal dev server and `python -m worker`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPORAL = Path(sys.executable).parent / "temporal"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class DevServer:
    """`temporal server start-dev` on free ports; with `persistent`, its state lives in a SQLite file in `workdir`,
    so a stop and a start on the same port and file is a server restart that keeps every workflow."""

    def __init__(self, workdir: Path, persistent: bool = False) -> None:
        self.workdir = workdir
        self.port, self.ui_port = free_port(), free_port()
        self.db_file = workdir / "temporal.db" if persistent else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60) -> DevServer:
        args = [str(TEMPORAL), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port),
                "--ui-port", str(self.ui_port), "--headless", "--log-level", "error"]
        if self.db_file is not None:
            args += ["--db-filename", str(self.db_file)]
        self.starts += 1
        with open(self.workdir / f"temporal-{self.starts}.log", "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not listening(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"temporal dev server exited at start (see {log.name})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"temporal dev server did not listen on {self.port} within {timeout_s:.0f} s")
            time.sleep(0.1)
        return self

    def stop(self, timeout_s: float = 20) -> None:
        """SIGTERM, as an operator's restart would; SIGKILL only if it does not go in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


class WorkerProc:
    """`python -m worker` as an OS process of its own, so it can be SIGKILLed like a crashed host."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProc:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "worker"], cwd=ROOT, env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def worker_env(address: str, database_url: str, task_queue: str, latency_ms: int,
               redis_url: str | None = None) -> dict[str, str]:
    """The environment of a worker process: ours replaces any BOTARMY_*, DATABASE_URL or REDIS_URL inherited."""
    drop = ("BOTARMY_", "DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        TEMPORAL_ADDRESS=address,
        DATABASE_URL=database_url,
        BOTARMY_TASK_QUEUE=task_queue,
        BOTARMY_MODEL="offline",
        BOTARMY_OFFLINE_LATENCY_MS=str(latency_ms),
        BOTARMY_STEP_HEARTBEAT_S="2",
        BOTARMY_LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env
