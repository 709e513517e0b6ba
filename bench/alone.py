"""A bench phase run alone (`python -m bench.<phase>`): its own fresh store on a dev server, and its figures merged
into the last full `make bench` results (so RESULTS.md keeps every other figure) and printed as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client

from botarmy.settings import Settings
from store import Store

Phase = Callable[[Client, Settings, Store, Path], Awaitable[dict[str, Any]]]


async def on_fresh_store(
    address: str, prefix: str, phase: Phase, extra: Callable[[Path], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`phase(client, settings, store, tmp)` against a new SQLite store in a temporary folder and the dev server at
    `address` (search attributes registered); `extra(tmp)`: more Settings fields."""
    from botarmy.temporal import connect, ensure_search_attributes

    with tempfile.TemporaryDirectory(prefix=f"botarmy-bench-{prefix}-") as tmp:
        cfg = Settings(database_url=f"sqlite:///{tmp}/bench.db", temporal_address=address,
                       **(extra(Path(tmp)) if extra else {}))
        store = Store(cfg.database_url)
        await asyncio.to_thread(store.migrate)
        try:
            client = await connect(address, cfg.temporal_namespace)
            await ensure_search_attributes(client)
            return await phase(client, cfg, store, Path(tmp))
        finally:
            store.close()


def merge(out_dir: Path, bench_dir: Path, key: str, figures: dict[str, Any], write: Any) -> None:
    """Merge one phase run alone into the last full `make bench` results, so RESULTS.md keeps every other figure."""
    results_path = out_dir / "results.json"
    if results_path.exists():
        results = json.loads(results_path.read_text())
        results[key] = figures
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        write(results, bench_dir / "RESULTS.md")


def publish(key: str, figures: dict[str, Any]) -> None:
    """Stamp the figures with the machine's date, merge them under `key` and print them."""
    from bench.machine import BENCH_DIR, OUT_DIR, machine_info
    from bench.report import write_results_md

    figures["measured"] = machine_info()["date"]
    merge(OUT_DIR, BENCH_DIR, key, figures, write_results_md)
    json.dump(figures, sys.stdout, indent=2)
    sys.stdout.write("\n")
