"""`make bench`: BotArmy against bare Temporal on a private dev server; prints JSON, regenerates bench/RESULTS.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.baseline import build_bare_worker, shell_step
from bench.engine import Bench
from bench.history import history_bytes, measure_size, parse_size
from bench.machine import BENCH_DIR, OUT_DIR, machine_info
from bench.phases import SHAPE_ROUNDS, linear_latency, shape_latency, step_latency, throughput, validate_time
from bench.report import write_results_md
from bench.scale import ScaleOptions, add_arguments, from_args, scale_phases
from bench.server import UNTHROTTLED, dev_server
from botarmy.logging import configure_logging
from botarmy.settings import Settings
from botarmy.temporal import connect, ensure_search_attributes
from store import Store
from worker import build_worker

GREENFIELD_INPUTS = {"for_each_epic": 2}


@dataclass
class Options:
    rounds: int = 5
    concurrency: int = 100
    throughput_rounds: int = 3  # rounds of the throughput phase (median)
    shape_rounds: int = SHAPE_ROUNDS  # rounds of the shapes phase (each runs every shape, engine and bare)
    api_clients: int = 50
    sizes: list[str] = field(default_factory=lambda: ["1KB", "100KB", "1MB"])
    validate_repeats: int = 5
    address: str | None = None  # an existing Temporal server; None starts a private dev server
    database_url: str | None = None  # None: a temporary SQLite file
    profile: bool = False
    profile_runs: int = 3
    providers_runs: int = 50  # runs against the rate-limited fake provider; 0 skips the providers phase
    providers_rpm: int | None = None  # the fake's limit; None: half of providers_runs
    fault_runs: int = 30  # runs against the fake that faults 30 % of requests
    unthrottled: bool = True  # step latency again on a dev server without the 20/s transfer-queue read limit
    only_shapes: bool = False  # just the shapes phase (engine ÷ plain chain per workflow shape), printed as JSON
    # bench/scale.py: LLM-bound, waiting, followers; off unless asked (`make bench` asks: its CLI defaults are full)
    scale: ScaleOptions = field(default_factory=ScaleOptions.off)


@asynccontextmanager
async def bench_on(address: str, database_url: str | None) -> AsyncIterator[tuple[Bench, Path]]:
    """A store (a temporary SQLite file unless `database_url`), a client of the server at `address` with our search
    attributes, and fresh task queues; yields the bench and its temporary folder, and closes the store after."""
    with tempfile.TemporaryDirectory(prefix="botarmy-bench-") as tmp:
        settings = Settings(
            database_url=database_url or f"sqlite:///{tmp}/bench.db",
            task_queue=f"bench-{uuid.uuid4().hex[:8]}",
            temporal_address=address,
            model="offline",
            offline_latency_ms=0,
        )
        store = Store(settings.database_url)
        await asyncio.to_thread(store.migrate)
        try:
            client = await connect(address, settings.temporal_namespace)
            await ensure_search_attributes(client)
            yield Bench(client, settings, store, bare_queue=f"bench-bare-{uuid.uuid4().hex[:8]}",
                        shell_queue=f"bench-shell-{uuid.uuid4().hex[:8]}"), Path(tmp)
        finally:
            store.close()


@asynccontextmanager
async def workers(bench: Bench) -> AsyncIterator[None]:
    """The engine's worker, the bare baseline's and the engine shell's, in this process, while the block runs."""
    async with build_worker(bench.client, bench.settings, bench.store), \
            build_bare_worker(bench.client, bench.settings, bench.bare_queue), \
            build_worker(bench.client, bench.settings, bench.store, bench.shell_queue, agent_step=shell_step):
        yield


async def run_bench(opts: Options, address: str, out_dir: Path | None = None) -> dict[str, Any]:
    """Every measurement on the server at `address`, with an in-process worker; returns the figures."""
    async with bench_on(address, opts.database_url) as (bench, tmp):
        async with workers(bench):
            figures = await _measure(bench, opts, out_dir)
        if opts.api_clients:
            from bench.api_latency import api_latency

            figures["api"] = await api_latency(bench.settings.database_url, address, bench.settings.task_queue,
                                               clients=opts.api_clients, log_dir=out_dir)
        if opts.providers_runs:
            from bench.providers_load import ProviderLoadOptions, providers_load

            figures["providers"] = await providers_load(bench.client, bench.settings, bench.store, tmp,
                                                        ProviderLoadOptions(runs=opts.providers_runs,
                                                                            rpm=opts.providers_rpm,
                                                                            fault_runs=opts.fault_runs))
        figures.update(await scale_phases(bench.client, bench.settings, bench.store, tmp, address, opts.scale,
                                          out_dir))
        database = bench.settings.database_url.split(":", 1)[0]
    if opts.unthrottled and opts.address is None:
        figures["unthrottled"] = await unthrottled_latency(opts)
    figures["validate"] = await asyncio.to_thread(validate_time, opts.validate_repeats)
    from bench.store_writes import store_writes

    figures["store_writes"] = await asyncio.to_thread(store_writes, 200, opts.database_url)
    return {
        "machine": machine_info(),
        "params": {**asdict(opts), "database": database},
        **figures,
    }


async def _measure(bench: Bench, opts: Options, out_dir: Path | None) -> dict[str, Any]:
    greenfield = await asyncio.to_thread(bench.compile_own, "greenfield-service")
    quick_fix = await asyncio.to_thread(bench.compile_own, "quick-fix")
    latency = await step_latency(bench, greenfield, GREENFIELD_INPUTS, opts.rounds)
    latency["linear"] = await linear_latency(bench, quick_fix, opts.rounds)
    latency["shapes"] = await shape_latency(bench, opts.shape_rounds)  # issue 16: engine ÷ plain chain ≤ 1.2
    # an amortised figure over a real workflow: all events of a greenfield run and its children, per step
    sample = await bench.engine_run(greenfield, GREENFIELD_INPUTS)
    sizes = await history_bytes(bench.client, sample.workflow_id)
    latency["greenfield_history_bytes_per_step"] = sizes.total / sample.steps
    concurrent = await throughput(bench, quick_fix, opts.concurrency, opts.throughput_rounds)
    history = {label: await measure_size(bench, label, parse_size(label)) for label in opts.sizes}
    result: dict[str, Any] = {"latency": latency, "concurrency": concurrent, "history": history}
    if opts.profile:
        from bench.profiling import profile_runs

        result["profile"] = await profile_runs(bench, greenfield, GREENFIELD_INPUTS, opts.profile_runs, out_dir)
    return result


async def unthrottled_latency(opts: Options) -> dict[str, Any]:
    """The step latency phases again on a dev server whose transfer queue is read without the default 20/s limit:
    Temporal's own floor per step drops from ~50 ms to a few ms, and what the engine's CPU costs per step shows."""
    with dev_server(dynamic_config=UNTHROTTLED) as address:
        async with bench_on(address, None) as (bench, _), workers(bench):
            greenfield = await asyncio.to_thread(bench.compile_own, "greenfield-service")
            quick_fix = await asyncio.to_thread(bench.compile_own, "quick-fix")
            latency = await step_latency(bench, greenfield, GREENFIELD_INPUTS, opts.rounds)
            latency["linear"] = await linear_latency(bench, quick_fix, opts.rounds)
    return {"dynamic_config": UNTHROTTLED, **latency}


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument("--rounds", type=int, help="measured rounds of the latency phases (default 5; a warm-up round is "
                   "added); with --only-shapes, of the shapes phase")
    p.add_argument("--concurrency", type=int, default=100, help="concurrent runs in the throughput phase")
    p.add_argument("--throughput-rounds", type=int, default=3, help="rounds of the throughput phase (median)")
    p.add_argument("--shape-rounds", type=int,
                   help=f"rounds of the shapes phase (default {SHAPE_ROUNDS}; a warm-up round is added)")
    p.add_argument("--sizes", default="1KB,100KB,1MB", help="document sizes for the history phase")
    p.add_argument("--validate-repeats", type=int, default=5)
    p.add_argument("--api-clients", type=int, default=50, help="concurrent API clients (0 skips the API phase)")
    p.add_argument("--address", help="use this Temporal server instead of starting a private dev server")
    p.add_argument("--database-url", help="e.g. postgresql+psycopg://... (default: a temporary SQLite file)")
    p.add_argument("--profile", action="store_true", help="profile a few engine runs (needs pyinstrument)")
    p.add_argument("--profile-runs", type=int, default=3)
    p.add_argument("--providers-runs", type=int, default=50,
                   help="runs against a rate-limited fake provider (0 skips the providers phase)")
    p.add_argument("--providers-rpm", type=int, help="the fake provider's requests/minute (default: half the runs)")
    p.add_argument("--fault-runs", type=int, default=30, help="runs against a fake provider faulting 30%% of requests")
    p.add_argument("--no-unthrottled", dest="unthrottled", action="store_false",
                   help="skip the step latency phase on a dev server with unthrottled workflow-task dispatch")
    p.add_argument("--only-shapes", action="store_true",
                   help="only the shapes phase (no loop, loop 2x3, loop 8x1); prints JSON, leaves RESULTS.md as is")
    add_arguments(p)
    a = p.parse_args(argv)
    return Options(scale=from_args(a),
        rounds=a.rounds or 5, concurrency=a.concurrency, throughput_rounds=a.throughput_rounds,
        shape_rounds=a.shape_rounds or (a.rounds if a.only_shapes and a.rounds else SHAPE_ROUNDS),
        sizes=[s.strip() for s in a.sizes.split(",") if s.strip()],
        validate_repeats=a.validate_repeats, api_clients=a.api_clients, address=a.address, database_url=a.database_url,
        profile=a.profile, profile_runs=a.profile_runs, providers_runs=a.providers_runs,
        providers_rpm=a.providers_rpm, fault_runs=a.fault_runs, unthrottled=a.unthrottled, only_shapes=a.only_shapes,
    )


async def shapes_only(opts: Options, address: str) -> dict[str, Any]:
    async with bench_on(address, opts.database_url) as (bench, _), workers(bench):
        return {"machine": machine_info(), "rounds": opts.shape_rounds,
                "shapes": await shape_latency(bench, opts.shape_rounds)}


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    configure_logging("WARNING")  # structlog would otherwise print to stdout, where the JSON goes
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if opts.only_shapes:
        with dev_server() as address:
            json.dump(asyncio.run(shapes_only(opts, opts.address or address)), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if opts.address:
        results = asyncio.run(run_bench(opts, opts.address, OUT_DIR))
    else:
        with dev_server() as address:
            results = asyncio.run(run_bench(opts, address, OUT_DIR))
    (OUT_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_results_md(results, BENCH_DIR / "RESULTS.md")
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
