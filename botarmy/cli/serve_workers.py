"""`botarmy serve --workers N`: N uvicorn processes, each listening on its own SO_REUSEPORT socket.

uvicorn's own `--workers` shares one listening socket: whichever process wakes first accepts, so keep-alive
connections opened together landed unevenly (50 connections split 39/11, 44/6, even 50/0 in a measurement) and
the busier process set the latency for most clients. With one socket per process the kernel spreads connections
by a hash of their addresses. Where SO_REUSEPORT does not exist, `serve` falls back to uvicorn's workers.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("uvicorn.error")
RESTART_PAUSE_S = 1.0


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port with SO_REUSEPORT (the server listens on it when it starts)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(config_kwargs: dict[str, Any]) -> None:
    """One server process: its own socket, then uvicorn's server (which handles SIGTERM/SIGINT gracefully)."""
    import uvicorn

    config = uvicorn.Config(**config_kwargs)
    sock = listening_socket(config.host, config.port)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(workers: int, config_kwargs: dict[str, Any]) -> None:
    """Run `workers` server processes until SIGTERM/SIGINT, restarting any that dies; the app must be an import
    string (each process builds its own). The port is checked here first, so a taken port fails at once."""
    listening_socket(config_kwargs["host"], config_kwargs["port"]).close()
    ctx = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def start() -> BaseProcess:
        proc = ctx.Process(target=_worker, args=(config_kwargs,), name="botarmy-api")
        proc.start()
        return proc

    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    procs = [start() for _ in range(workers)]
    log.info("serving on http://%s:%d with %d processes (SO_REUSEPORT)", config_kwargs["host"],
             config_kwargs["port"], workers)
    try:
        while not stop.wait(0.5):
            for i, proc in enumerate(procs):
                if not proc.is_alive():
                    log.warning("server process %s exited with %s; starting another", proc.pid, proc.exitcode)
                    stop.wait(RESTART_PAUSE_S)  # a process that cannot start must not spin
                    if not stop.is_set():
                        procs[i] = start()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
