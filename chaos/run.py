"""`make chaos`: run the chaos scenarios against real processes and print what survived.

    python -m chaos.run [--runs 20] [--scenarios kill,temporal,postgres,redis] [--database-url URL]

Exits non-zero when any run was lost, written twice, or came out different from an undisturbed run.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from botarmy.logging import configure_logging
from chaos.checks import Summary
from chaos.harness import Config
from chaos.kill import MODES, kill_scenario
from chaos.postgres_restart import postgres_scenario
from chaos.redis_stop import redis_scenario
from chaos.temporal_restart import temporal_scenario

SCENARIOS = ("kill", "temporal", "postgres", "redis")


@dataclass
class Options:
    runs: int = 20  # kill scenario
    restart_runs: int = 3  # temporal, postgres and redis scenarios: each run sees one outage
    scenarios: tuple[str, ...] = SCENARIOS
    database_url: str | None = None  # None: a SQLite file per scenario (postgres always uses its own schema)
    seed: int = 1
    latency_ms: int = 300
    kill_modes: tuple[str, ...] = MODES
    run_timeout_s: float = 180.0
    strike_timeout_s: float = 60.0
    parallel: bool = False  # scenarios at once: faster, and each still has its own server, queue and database
    keep: bool = False  # keep the scenario directories (logs, databases) even when all went well


async def run_scenario(name: str, opts: Options, root: Path) -> Summary:
    workdir = root / name
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = Config(workdir=workdir, database_url=opts.database_url or f"sqlite:///{workdir}/botarmy.db",
                 latency_ms=opts.latency_ms, seed=opts.seed, run_timeout_s=opts.run_timeout_s,
                 strike_timeout_s=opts.strike_timeout_s)
    scenario: dict[str, Callable[[], Awaitable[Summary]]] = {
        "kill": lambda: kill_scenario(opts.runs, cfg, opts.kill_modes),
        "temporal": lambda: temporal_scenario(opts.restart_runs, cfg),
        "postgres": lambda: postgres_scenario(opts.restart_runs, cfg),
        "redis": lambda: redis_scenario(opts.restart_runs, cfg),
    }
    started = time.monotonic()
    try:
        summary = await scenario[name]()
    except Exception as exc:  # noqa: BLE001 - one scenario's crash is its failure, the others still run
        summary = Summary(name, problems=[f"scenario crashed: {type(exc).__name__}: {exc}"])
    summary.seconds = time.monotonic() - started
    if not summary.ok:
        summary.problems.append(f"logs and databases kept in {workdir}")
    return summary


async def run_scenarios(opts: Options) -> list[Summary]:
    unknown = set(opts.scenarios) - set(SCENARIOS)
    if unknown:
        raise ValueError(f"unknown scenarios: {', '.join(sorted(unknown))} (known: {', '.join(SCENARIOS)})")
    root = Path(tempfile.mkdtemp(prefix="botarmy-chaos-"))
    if opts.parallel:
        summaries = list(await asyncio.gather(*(run_scenario(n, opts, root) for n in opts.scenarios)))
    else:
        summaries = [await run_scenario(n, opts, root) for n in opts.scenarios]
    if all(s.ok for s in summaries) and not opts.keep:
        shutil.rmtree(root, ignore_errors=True)
    return summaries


def table(summaries: list[Summary]) -> str:
    head = ("scenario", "runs", "completed", "lost", "duplicated", "diverged", "seconds")
    rows = [head] + [(s.scenario, str(s.runs), str(s.completed), str(s.lost), str(s.duplicated), str(s.diverged),
                      f"{s.seconds:.1f}") for s in summaries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(summaries: list[Summary]) -> str:
    out = []
    for s in summaries:
        out += [f"[{s.scenario}] {n}" for n in s.notes]
    for s in summaries:
        out += [f"[{s.scenario}] PROBLEM {p}" for p in s.problems]
    return "\n".join([*out, "", table(summaries)])


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(prog="python -m chaos.run", description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20, help="runs of the kill scenario (default 20)")
    p.add_argument("--restart-runs", type=int, default=3, help="runs of each server scenario (default 3)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of {', '.join(SCENARIOS)}")
    p.add_argument("--database-url", default=None, help="store for kill, temporal, redis (default: SQLite files)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--latency-ms", type=int, default=300, help="offline model latency per step")
    p.add_argument("--parallel", action="store_true", help="run the scenarios at the same time")
    p.add_argument("--keep", action="store_true", help="keep logs and databases even when all went well")
    a = p.parse_args(argv)
    scenarios = tuple(s.strip() for s in a.scenarios.split(",") if s.strip())
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown or not scenarios:
        p.error(f"unknown scenarios: {', '.join(unknown) or '(none given)'} (known: {', '.join(SCENARIOS)})")
    return Options(runs=a.runs, restart_runs=a.restart_runs, scenarios=scenarios,
                   database_url=a.database_url, seed=a.seed, latency_ms=a.latency_ms, parallel=a.parallel,
                   keep=a.keep)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    configure_logging("WARNING")
    started = time.monotonic()
    summaries = asyncio.run(run_scenarios(opts))
    print(report(summaries))  # noqa: T201 - the chaos report is this command's output
    print(f"\n{sum(s.runs for s in summaries)} runs in {time.monotonic() - started:.1f} s")  # noqa: T201
    return 0 if all(s.ok for s in summaries) else 1


if __name__ == "__main__":
    sys.exit(main())
