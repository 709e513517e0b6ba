"""A step far above the usual usage for its agent and model is reported: event, log line, GET /health."""

from __future__ import annotations

import json
import time

from tests.activities.conftest import events_of, openai_at, run_plan, with_providers
from tests.api.conftest import api_client
from tests.conftest import OWN_BMAD
from tests.workflows.plans import single_step_plan


async def test_a_step_ten_times_the_median_after_five_normal_runs_is_an_anomaly(
    time_env, settings, store, tmp_path, openai_fake
):
    config = openai_at(openai_fake, "gpt-priced")
    config["pricing"] = {"openai:gpt-priced": {"prompt": 1.0, "completion": 2.0}}
    settings = with_providers(settings, tmp_path, config)
    plan = single_step_plan()
    for n in range(5):
        _, normal = await run_plan(time_env, settings, store, plan)
        # the baseline needs 5 earlier runs: none of the first five is an anomaly
        assert events_of(store, normal.run_id, "anomaly.detected") == [], n
    openai_fake.prompt_tokens, openai_fake.completion_tokens = 1230, 450
    _, big = await run_plan(time_env, settings, store, plan)

    found = {e["metric"]: e for e in events_of(store, big.run_id, "anomaly.detected")}
    assert set(found) == {"tokens", "cost_usd"}
    assert (found["tokens"]["value"], found["tokens"]["median"], found["tokens"]["samples"]) == (1680, 168, 5)
    assert found["tokens"]["ratio"] == 10.0 and found["tokens"]["agent"] == "pm"
    assert found["cost_usd"]["ratio"] == 10.0

    async with api_client(settings, [OWN_BMAD]) as (_, client):
        health = (await client.get("/health")).json()
    assert health["status"] == "degraded"
    assert health["checks"]["anomalies"]["status"] == "down"
    assert f"run {big.run_id} step 01-pm-prd: tokens 1680" in health["checks"]["anomalies"]["detail"]


async def test_health_providers_reports_the_snapshot_and_an_unhealthy_provider_degrades_health(
    settings, tmp_path
):
    path = tmp_path / "provider-health.json"
    stats = {"provider": "openai", "calls": 4, "success_rate": 0.25, "avg_latency_s": 0.5, "max_latency_s": 1.0,
             "healthy": False, "cooldown_left_s": 60.0}
    path.write_text(json.dumps({"written_at": time.time(), "providers": {"openai": stats}}))
    settings = settings.model_copy(update={"provider_health_file": path})
    async with api_client(settings, [OWN_BMAD]) as (_, client):
        providers = (await client.get("/health/providers")).json()
        health = (await client.get("/health")).json()
        path.write_text(json.dumps({"written_at": time.time() - 120, "providers": {"openai": stats}}))
        later = (await client.get("/health")).json()
    assert [(p["provider"], p["healthy"], p["calls"]) for p in providers["providers"]] == [("openai", False, 4)]
    assert providers["snapshot"] == str(path) and providers["age_s"] < 60
    assert health["checks"]["providers"]["status"] == "down"
    assert "openai unhealthy: 25%" in health["checks"]["providers"]["detail"]
    assert "providers" not in later["checks"]  # its cool-down is over by now, however old the snapshot
