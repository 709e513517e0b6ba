"""The at-scale bench phases run end to end with tiny sizes against the session dev server, and report."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.scale import ScaleOptions, scale_phases, section
from botarmy.settings import Settings
from botarmy.temporal import connect, ensure_search_attributes
from store import Store


@pytest.mark.timeout(240)
async def test_scale_phases_report_engine_bare_waiting_and_followers(dev_server: str, tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/bench.db", temporal_address=dev_server,
                        provider_health_file=tmp_path / "health.json")
    store = Store(settings.database_url)
    store.migrate()
    client = await connect(dev_server)
    await ensure_search_attributes(client)
    opts = ScaleOptions(llm_runs=3, llm_latencies_s=[0.2], llm_big_runs=4, waiting_runs=3, waiting_decisions=3,
                        waiting_rate=10, followers=3, followers_idle_s=1.0)

    r = await scale_phases(client, settings, store, tmp_path, dev_server, opts)

    lat = r["llm"]["by_latency"]["0.2"]
    for side in ("engine", "bare"):
        assert (lat[side]["steps"], lat[side]["failed_runs"]) == (6, 0)
        assert lat[side]["cpu_ms_per_step"] > 0 and lat[side]["rss_mb"] > 0
    assert lat["ratio"] > 0
    assert (r["llm"]["big"]["runs"], r["llm"]["big"]["failed_runs"]) == (4, 0)
    w = r["waiting"]
    assert (w["runs"], w["decisions"], w["measured_runs"], w["failed_decisions"]) == (3, 3, 3, 0)
    assert 0 < w["decision_to_next_step_ms_p50"] <= w["decision_to_next_step_ms_p99"]
    f = r["followers"]
    assert f["followers"] == 3 and 0 < f["cross_process_delay_ms_p50"] <= f["cross_process_delay_ms_max"]
    text = section({"machine": {"load": "1.0"}, **r})
    assert text is not None
    for phrase in ("throughput ratio engine ÷ bare", "decision → next step started, p99", "idle SSE followers"):
        assert phrase in text
