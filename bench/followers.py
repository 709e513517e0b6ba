"""Idle followers: N SSE clients following quiet runs on the real API server (its own process, SQLite, no Redis),
the API's CPU over a quiet window against the same server's with no followers (measured first, same run), then
how late an event stored by ANOTHER process (this one, as a worker would) reaches each follower.

`python -m bench.followers [--followers 500 --idle-s 30]` runs it alone and merges it into bench/out/results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median, quantiles
from typing import Any

from bench.api_latency import _free_port, _start_api, _wait_ready
from bench.procstat import cpu_s, rss_mb
from bench.server import stop
from store import Store

TARGET_SHARE = 0.05  # of one core, for every idle follower together


@dataclass
class FollowersOptions:
    followers: int = 500
    idle_s: float = 30.0
    baseline_s: float = 10.0
    token: str | None = None  # Authorization: Bearer, for an API with auth on


class _Follower:
    """One SSE connection; records when each event frame arrives."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.arrivals: dict[int, float] = {}
        self.first = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None

    async def run(self, port: int, token: str | None) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        writer.write(f"GET /runs/{self.run_id}/events HTTP/1.1\r\nHost: bench\r\n{auth}\r\n".encode())
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                if line.startswith(b"id: "):
                    self.arrivals[int(line[4:])] = time.perf_counter()
                    if not self.first.done():
                        self.first.set_result(None)
        finally:
            writer.close()


async def _until(what: str, check: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"followers bench: {what} did not happen in {timeout_s:.0f} s")
        await asyncio.sleep(0.1)


async def followers_bench(address: str, opts: FollowersOptions, log_dir: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="botarmy-bench-followers-") as tmp:
        url = f"sqlite:///{tmp}/followers.db"
        store = Store(url)
        await asyncio.to_thread(store.migrate)
        run_ids = [f"follow-{i:04d}" for i in range(opts.followers)]

        def seed() -> None:
            for run_id in run_ids:
                store.create_run(run_id, "quick-fix", f"bmad-quick-fix-{run_id}", "h" * 64, {})
                store.append_event(run_id, "run.started", {})

        await asyncio.to_thread(seed)
        port = _free_port()
        proc = _start_api(url, address, "bench-followers", port, (log_dir or Path(tmp)) / "bench-followers-api.log")
        followers = [_Follower(r) for r in run_ids]
        try:
            await _wait_ready(f"http://127.0.0.1:{port}", token=opts.token)
            await asyncio.sleep(1.0)
            before = cpu_s(proc.pid)
            await asyncio.sleep(opts.baseline_s)
            baseline = (cpu_s(proc.pid) - before) / opts.baseline_s
            for f in followers:
                f.task = asyncio.create_task(f.run(port, opts.token))
            await asyncio.wait_for(asyncio.gather(*(f.first for f in followers)), 120)
            await asyncio.sleep(2.0)  # connections settled
            rss = rss_mb(proc.pid)
            before = cpu_s(proc.pid)
            await asyncio.sleep(opts.idle_s)
            idle = (cpu_s(proc.pid) - before) / opts.idle_s
            # another process stores one event per run, as a worker without Redis would
            stored: dict[str, float] = {}

            def append_all() -> None:
                for run_id in run_ids:
                    store.append_event(run_id, "step.started", {"step": "bench"})
                    stored[run_id] = time.perf_counter()

            await asyncio.to_thread(append_all)
            await _until("every follower receiving its event", lambda: all(2 in f.arrivals for f in followers), 60)
            delays = [1000 * (f.arrivals[2] - stored[f.run_id]) for f in followers]
            await asyncio.to_thread(lambda: [store.append_event(r, "run.completed", {}) for r in run_ids])
            await asyncio.wait_for(asyncio.gather(*(f.task for f in followers if f.task)), 60)
        finally:
            for f in followers:
                if f.task is not None:
                    f.task.cancel()
            stop(proc)
            store.close()
    cuts = quantiles(delays, n=100, method="inclusive") if len(delays) > 1 else delays * 99
    return {
        "followers": opts.followers,
        "idle_s": opts.idle_s,
        "baseline_s": opts.baseline_s,
        "api_cpu_share_idle_followers": round(idle, 4),
        "api_cpu_share_no_followers": round(baseline, 4),
        "api_cpu_share_per_100_followers": round((idle - baseline) * 100 / opts.followers, 4),
        "target_share": TARGET_SHARE,
        "api_rss_mb_with_followers": round(rss, 1),
        "cross_process_delay_ms_p50": round(median(delays), 1),
        "cross_process_delay_ms_p99": round(cuts[98], 1),
        "cross_process_delay_ms_max": round(max(delays), 1),
        "database": "sqlite",
        "redis": False,
    }


def main(argv: list[str] | None = None) -> int:
    from bench.alone import publish
    from bench.server import dev_server

    p = argparse.ArgumentParser(prog="python -m bench.followers", description=__doc__)
    p.add_argument("--followers", type=int, default=500)
    p.add_argument("--idle-s", type=float, default=30.0)
    p.add_argument("--baseline-s", type=float, default=10.0)
    p.add_argument("--token", help="send Authorization: Bearer TOKEN (an API with auth on)")
    a = p.parse_args(argv)
    opts = FollowersOptions(a.followers, a.idle_s, a.baseline_s, a.token)
    with dev_server() as address:
        figures = asyncio.run(followers_bench(address, opts))
    publish("followers", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
