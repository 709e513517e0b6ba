"""API latency under load: the real API server in its own process(es), N concurrent clients on GET endpoints.

The load generator is a minimal keep-alive HTTP/1.1 client over asyncio transports (`_Connection`), one
connection per client, each client sending its next request as soon as the answer has arrived (a closed loop:
latency ≈ clients ÷ throughput). It shares the machine with the server, so it must cost little: httpx took
~0.5 ms of CPU per request, half the 2-core machine at 50 clients; this one takes ~7 % of one core at
2,000 req/s (reported as `generator_cpu_share`), about what `wrk` takes, and it still times every request
per endpoint and counts each 5xx and failed connection as an error."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from statistics import median, quantiles
from typing import Any

import httpx

from bench.procstat import cpu_s
from bench.server import stop
from store import Store

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = "asyncio keep-alive HTTP/1.1 client (bench/api_latency.py)"
# `botarmy serve --workers 2`: one process per core of the 2-core reference machine (one process tops out near
# 1,000-1,300 req/s, which at 50 clients means ~40-50 ms of queueing alone)
DEFAULT_WORKERS = 2
REQUESTS_PER_CLIENT = 400  # 20,000 requests at 50 clients: seconds of load, so a p99 is 200 requests deep
WRITES_PER_S = 50  # the third load: commits while it runs, about what a worker finishing 20 steps/s makes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(database_url: str, address: str, task_queue: str, auth: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTARMY_")}
    env.update(DATABASE_URL=database_url, TEMPORAL_ADDRESS=address, BOTARMY_TASK_QUEUE=task_queue,
               BOTARMY_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT), BOTARMY_AUTH="on" if auth else "off")
    return env


def _start_api(database_url: str, address: str, task_queue: str, port: int, log: Path,
               workers: int = 1, auth: bool = False) -> subprocess.Popen:
    """`botarmy serve` on 127.0.0.1:`port`; `auth` False: BOTARMY_AUTH=off (a loopback server may)."""
    env = _env(database_url, address, task_queue, auth)
    return subprocess.Popen(
        [sys.executable, "-m", "botarmy.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--no-access-log"],
        cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )


def create_token(database_url: str, user: str = "bench-viewer", role: str = "viewer") -> str:
    """A bearer token made the way users make one: `botarmy token create USER --role ROLE` on the database."""
    done = subprocess.run(
        [sys.executable, "-m", "botarmy.cli", "token", "create", user, "--role", role, "--json"],
        cwd=ROOT, env=_env(database_url, "127.0.0.1:1", "unused", True), capture_output=True, text=True,
        timeout=120, check=True)
    token: str = json.loads(done.stdout.strip().splitlines()[-1])["token"]
    return token


async def _wait_ready(base: str, timeout_s: float = 30, token: str | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/runs?limit=1")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the API at {base} did not answer in {timeout_s:.0f} s")


def _paths(store: Store) -> list[str]:
    runs = store.list_runs(limit=5)
    if not runs:
        raise RuntimeError("the API phase needs runs in the database: run it after the engine phases")
    paths = ["/health", "/runs?limit=20", "/catalog/workflows"]
    for run in runs:
        paths += [f"/runs/{run.run_id}", f"/runs/{run.run_id}/artifacts"]
    return paths


class HttpError(Exception):
    """The server's answer could not be read as HTTP/1.1 (or the connection closed in the middle of it)."""


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time: `get(path)` returns the status once the whole
    body has arrived. A few dozen lines over a transport instead of a client library, so that the load generator,
    which shares the machine's cores with the server it measures, spends microseconds per request, not the
    ~0.5 ms of CPU httpx spent (at 50 clients it took half the CPU and the figures measured it, not the server)."""

    def __init__(self, host: str, token: str | None = None) -> None:
        self._host = host.encode()
        self._auth = b"Authorization: Bearer %s\r\n" % token.encode() if token else b""
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self._closed: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = exc or HttpError("the server closed the connection")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._closed)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None or self._waiter.done():
            return
        try:
            status = _parse_response(self._buffer)
        except HttpError as err:
            self._waiter.set_exception(err)
            return
        if status is not None:
            self._waiter.set_result(status)

    async def get(self, path: str) -> int:
        if self._closed is not None or self._transport is None:
            raise HttpError(f"the connection is closed: {self._closed}")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(b"GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path.encode(), self._host, self._auth))
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _parse_response(buffer: bytearray) -> int | None:
    """The status of the complete response at the start of `buffer`, which is then removed from it; None while
    it is incomplete. Bodies are framed by Content-Length or chunked transfer encoding."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).split(b"\r\n")
    try:
        status = int(head[0].split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise HttpError(f"not an HTTP status line: {head[0][:80]!r}") from None
    length, chunked = None, False
    for line in head[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    start = end + 4
    if chunked:
        done = _chunked_end(buffer, start)
        if done is None:
            return None
        del buffer[:done]
        return status
    if length is None:
        raise HttpError("a response without Content-Length or chunked encoding")
    if len(buffer) < start + length:
        return None
    del buffer[:start + length]
    return status


def _chunked_end(buffer: bytearray, pos: int) -> int | None:
    """Where the chunked body starting at `pos` ends (after the last chunk and trailers), None if not there yet."""
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buffer[pos:line_end]).split(b";")[0], 16)
        if size == 0:
            trailers_end = buffer.find(b"\r\n\r\n", line_end)
            return None if trailers_end < 0 else trailers_end + 4
        pos = line_end + 2 + size + 2
        if len(buffer) < pos:
            return None


async def _connect(host: str, port: int, token: str | None = None) -> _Connection:
    _, conn = await asyncio.get_running_loop().create_connection(lambda: _Connection(host, token), host, port)
    return conn


async def _client(conn: _Connection, paths: list[str], requests: int, offset: int,
                  latencies: dict[str, list[float]], errors: list[str]) -> None:
    for i in range(requests):
        path = paths[(offset + i) % len(paths)]
        started = time.perf_counter()
        try:
            status = await conn.get(path)
        except (HttpError, OSError) as err:  # counted, and this client stops: its connection is gone
            errors.append(f"{path}: {err}")
            return
        elapsed = (time.perf_counter() - started) * 1000
        if status >= 500 or status in (401, 403):
            errors.append(f"{path}: {status}")
        latencies.setdefault(_route(path), []).append(elapsed)


async def _load(host: str, port: int, paths: list[str], clients: int, requests: int,
                latencies: dict[str, list[float]], errors: list[str], token: str | None = None) -> float:
    """`clients` concurrent clients, each with its own connection, `requests` GETs each with no pause between
    them; returns the wall time. The connections are opened before the clock starts."""
    pool = [await _connect(host, port, token) for _ in range(clients)]
    try:
        started = time.perf_counter()
        await asyncio.gather(*(_client(c, paths, requests, n, latencies, errors) for n, c in enumerate(pool)))
        return time.perf_counter() - started
    finally:
        for conn in pool:
            conn.close()


def _route(path: str) -> str:
    """The route template of a request path: /runs/abc/artifacts -> /runs/{id}/artifacts."""
    parts = path.split("?")[0].split("/")
    if len(parts) > 2 and parts[1] == "runs":
        parts[2] = "{id}"
    return "/".join(parts)


def _pct(values: list[float]) -> dict[str, float]:
    cuts = quantiles(values, n=100, method="inclusive")
    return {"p50_ms": round(median(values), 2), "p99_ms": round(cuts[98], 2), "n": len(values)}


async def api_latency(database_url: str, address: str, task_queue: str, clients: int = 50,
                      requests_per_client: int = REQUESTS_PER_CLIENT, log_dir: Path | None = None,
                      workers: int = DEFAULT_WORKERS) -> dict[str, Any]:
    """The same load three times on fresh servers: with auth off; with auth on and every request carrying a
    viewer token made by `botarmy token create` (a 401/403 counts as an error, so a refused token cannot pass for
    a fast server); and with auth on while this process commits WRITES_PER_S times a second (`_Writer`), which
    makes the servers compute their copies of the answers again. Issue 16's target is the auth-on p99 of the
    second load, read beside the other two of the same run."""
    token = await asyncio.to_thread(create_token, database_url)
    off = await api_load(database_url, address, task_queue, clients, requests_per_client, log_dir, workers)
    on = await api_load(database_url, address, task_queue, clients, requests_per_client, log_dir, workers,
                        token=token)
    writing = await api_load(database_url, address, task_queue, clients, requests_per_client, log_dir, workers,
                             token=token, writes_per_s=WRITES_PER_S)
    return {"clients": clients, "workers": workers, "generator": GENERATOR, "auth_off": off, "auth_on": on,
            "auth_on_writing": writing}


class _Writer:
    """Commits to the database from this process at `per_s` while the load runs, as a busy worker does (an event
    appended to one of the runs the clients read, round robin): every commit moves the database's change stamp, so
    the servers' copies of GET answers (api/views.py) are computed again after each one."""

    def __init__(self, store: Store, run_ids: list[str], per_s: float) -> None:
        self.store, self.run_ids, self.per_s = store, run_ids, per_s
        self.done = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-writer", daemon=True)

    def __enter__(self) -> _Writer:
        if self.per_s > 0:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            run_id = self.run_ids[self.done % len(self.run_ids)]
            self.store.append_event(run_id, "bench.write", {"n": self.done})
            self.done += 1
            self._stop.wait(max(0.0, started + self.done / self.per_s - time.monotonic()))


async def api_load(database_url: str, address: str, task_queue: str, clients: int = 50,
                   requests_per_client: int = REQUESTS_PER_CLIENT, log_dir: Path | None = None,
                   workers: int = DEFAULT_WORKERS, token: str | None = None,
                   writes_per_s: float = 0) -> dict[str, Any]:
    """p50/p99 of GET endpoints with `clients` concurrent clients on `workers` server processes; every request
    counted, warm-up excluded. `token`: the server runs with auth on and every request carries
    `Authorization: Bearer <token>`; None: auth off. `writes_per_s`: commits made meanwhile (`_Writer`)."""
    port = _free_port()
    log = (log_dir or Path("/tmp")) / "bench-api.log"
    proc = _start_api(database_url, address, task_queue, port, log, workers, auth=token is not None)
    base = f"http://127.0.0.1:{port}"
    store = Store(database_url)
    try:
        await _wait_ready(base, token=token)
        paths = await asyncio.to_thread(_paths, store)
        run_ids = [p.split("/")[2] for p in paths if p.count("/") == 2 and p.startswith("/runs/")]
        await _load("127.0.0.1", port, paths, min(clients, 10), 5, {}, [], token)  # warm-up
        latencies: dict[str, list[float]] = {}
        errors: list[str] = []
        with _Writer(store, run_ids, writes_per_s) as writer:
            cpu, server_cpu = time.process_time(), cpu_s(proc.pid)
            load = os.getloadavg()[0]
            wall = await _load("127.0.0.1", port, paths, clients, requests_per_client, latencies, errors, token)
            cpu, server_cpu = time.process_time() - cpu, cpu_s(proc.pid) - server_cpu
    finally:
        stop(proc)
        store.close()
    everything = [v for vs in latencies.values() for v in vs]
    return {
        "clients": clients,
        "workers": workers,
        "auth": bool(token),
        "generator": GENERATOR,
        "load_average_1m": round(load, 2),
        "writes_per_s": round(writer.done / wall, 1),
        "requests": len(everything),
        "requests_per_s": round(len(everything) / wall, 1),
        "server_errors": len(errors),
        "generator_cpu_share": round(cpu / wall, 2),
        # the server processes' CPU per request (from /proc): what the load average moves least
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(len(everything), 1), 3),
        **_pct(everything),
        "by_endpoint": {name: _pct(vs) for name, vs in sorted(latencies.items())},
    }


async def _alone(clients: int, requests_per_client: int, seed_runs: int) -> dict[str, Any]:
    from bench.run import bench_on, workers
    from bench.server import dev_server

    with dev_server() as address:
        async with bench_on(address, None) as (bench, _):
            async with workers(bench):
                plan = await asyncio.to_thread(bench.compile_own, "quick-fix")
                for _ in range(seed_runs):  # the runs the GET endpoints read
                    await bench.engine_run(plan, {}, count_steps=False)
            return await api_latency(bench.settings.database_url, address, bench.settings.task_queue, clients,
                                     requests_per_client, log_dir=None)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from bench.alone import publish
    from botarmy.logging import configure_logging

    p = argparse.ArgumentParser(prog="python -m bench.api_latency", description="the API phase of `make bench` "
                                "alone (auth off and on), merged into the last results")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--requests", type=int, default=REQUESTS_PER_CLIENT, help="requests per client")
    p.add_argument("--seed-runs", type=int, default=5, help="offline runs stored first, for the GET endpoints")
    a = p.parse_args(argv)
    configure_logging("WARNING")
    publish("api", asyncio.run(_alone(a.clients, a.requests, a.seed_runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
