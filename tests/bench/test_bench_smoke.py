"""The bench entry point runs end to end with tiny parameters against the session dev server."""

from __future__ import annotations

from typing import Any

import pytest

from bench.api_latency import REQUESTS_PER_CLIENT
from bench.report import render
from bench.run import Options, run_bench

# RSS growth may legitimately be zero or negative when the allocator reuses freed memory
MAY_BE_NON_POSITIVE = {"rss_mb_per_100_runs"}
EXPECTED = {
    "latency": {"engine_step_ms", "bare_step_ms", "bare_shaped_step_ms", "step_time_ratio",
                "step_time_ratio_plain_chain", "engine_steps_per_run", "engine_children", "linear",
                "greenfield_history_bytes_per_step"},
    "concurrency": {"engine_concurrent_steps_per_s", "bare_concurrent_steps_per_s", "throughput_ratio",
                    "shell_concurrent_steps_per_s", "shell_throughput_ratio", "throughput_ratio_per_round",
                    "rss_mb_before", "rss_mb_after", "rss_mb_per_100_runs"},
    "validate": {"validate_bmad_v4_ms"},
    "unthrottled": {"engine_step_ms", "bare_step_ms", "bare_shaped_step_ms", "step_time_ratio", "linear"},
}


def _numbers(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _numbers(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in _numbers(v, f"{path}[{i}]")]
    return [(path, value)]


@pytest.mark.timeout(150)  # the API phase starts the server three times (auth off, on, on with writes)
async def test_bench_reports_every_figure_as_a_positive_number(dev_server: str) -> None:
    # two runs within a limit of two per minute: the providers phase without a minute of queueing
    opts = Options(rounds=1, shape_rounds=2, concurrency=3, throughput_rounds=2, sizes=["1KB"], validate_repeats=1,
                   api_clients=3, providers_runs=2, providers_rpm=2, fault_runs=2)

    results = await run_bench(opts, dev_server)

    for section, keys in EXPECTED.items():
        assert keys <= set(results[section]), (section, keys - set(results[section]))
    assert set(results["history"]) == {"1KB"}
    assert {"history_bytes_per_step", "history_bytes_total", "output_bytes"} <= set(results["history"]["1KB"])
    assert results["latency"]["engine_steps_per_run"] == 10
    # greenfield with for_each_epic=2: 4 steps in the run, 3 in each iteration child; the baseline copies the shape
    assert results["latency"]["engine_children"] == [3, 3]
    assert results["latency"]["linear"]["workflow"] == "quick-fix" and results["latency"]["linear"]["steps"] == 3
    # auth on: every request carries a token of `botarmy token create`; the third load has commits landing meanwhile
    for auth in ("auth_off", "auth_on", "auth_on_writing"):
        api = results["api"][auth]
        assert api["server_errors"] == 0 and api["requests"] == 3 * REQUESTS_PER_CLIENT
        assert 0 < api["p50_ms"] <= api["p99_ms"] and api["server_cpu_ms_per_request"] > 0
        assert api["auth"] is (auth != "auth_off") and (api["writes_per_s"] > 0) is (auth == "auth_on_writing")
        assert set(api["by_endpoint"]) == {"/health", "/runs", "/catalog/workflows", "/runs/{id}",
                                           "/runs/{id}/artifacts"}
    limited, faulty = results["providers"]["rate_limit"], results["providers"]["faults"]
    assert (limited["rpm"], limited["completed"], limited["failed_steps"], limited["rate_limited_429"]) == (2, 2, 0, 0)
    assert limited["accepted_requests"] == limited["fake_calls"] == 2 and limited["used_share"] > 0.99
    # faults are random: the figures must add up, whatever was drawn
    assert faulty["runs"] == 2 and 2 * faulty["completed"] <= faulty["steps"] <= 4
    assert faulty["fake_calls"] >= faulty["attempts"] >= faulty["steps"] > 0
    assert faulty["faults_injected"] == sum(faulty["faults_by_kind"].values())
    shapes = results["latency"]["shapes"]
    assert set(shapes) == {"no-loop", "loop-2x3", "loop-8x1"}
    assert all(len(v["ratio_rounds"]) == 2 and v["ratio_spread"]["min"] <= v["ratio"] for v in shapes.values())
    assert {"engine", "bare"} <= set(shapes["no-loop"]["timeline"])
    table = render(results, None)
    assert "shape loop-8x1" in table and "where a run's time goes" in table
    assert "fake limited to 2 requests/min" in table and "faulted at random" in table
    assert "unthrottled dispatch" in table and "auth off · auth on (a viewer token" in table
    assert "commits/s landing" in table
    assert "engine shell" in table and len(results["concurrency"]["shell_throughput_ratio_per_round"]) == 2
    for section in ("latency", "concurrency", "history", "validate", "unthrottled"):
        for path, value in _numbers(results[section], section):
            if path.endswith(".workflow"):  # the name of the workflow a figure is about
                continue
            assert isinstance(value, int | float) and not isinstance(value, bool), path
            if path.rsplit(".", 1)[-1] not in MAY_BE_NON_POSITIVE:
                assert value > 0, path
