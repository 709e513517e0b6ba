"""Usage and cost: exact per call, summed per step, run, provider and model; in the step result, events, API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from botarmy.runview import run_object
from tests.activities.conftest import events_of, openai_at, run_plan, step_results, with_providers
from tests.api.conftest import api_client, assert_problem
from tests.conftest import OWN_BMAD
from tests.workflows.plans import pipeline_plan

BRIEF = "# Project Brief\n\n## Executive Summary\n\nS.\n\n## Target Users\n\nU.\n"


async def test_usage_and_cost_are_exact_per_step_run_provider_and_model(
    time_env, settings, store, tmp_path, openai_fake
):
    openai_fake.reply, openai_fake.prompt_tokens, openai_fake.completion_tokens = BRIEF, 123, 45
    config = openai_at(openai_fake, "gpt-priced")
    config["pricing"] = {"openai:gpt-priced": {"prompt": 3.0, "completion": 15.0}}
    settings = with_providers(settings, tmp_path, config)
    before = datetime.now(UTC) - timedelta(seconds=1)
    handle, result = await run_plan(time_env, settings, store, pipeline_plan(), {"for_each_epic": 1})

    assert result.status == "completed"
    per_call = Decimal("0.001044")  # 123 × $3/1M + 45 × $15/1M
    rows = store.usage_for_run(result.run_id)
    assert len(rows) == 6 and all(r.cost_usd == per_call for r in rows)
    summary = store.usage_summary(result.run_id)
    assert summary.totals.cost_usd == per_call * 6 == Decimal("0.006264")
    assert (summary.totals.prompt_tokens, summary.totals.completion_tokens) == (738, 270)
    assert [(g.provider, g.model, g.calls, g.cost_usd) for g in summary.by_model] == [
        ("openai", "gpt-priced", 6, Decimal("0.006264"))]
    assert {g.step: g.cost_usd for g in summary.by_step}["02-pm-prd"] == per_call

    results = await step_results(time_env, handle)  # every step, the epic's too: loops run in the run itself
    assert len(results) == 6
    assert all((r.cost_usd, r.provider, r.model, r.prompt_tokens) == (0.001044, "openai", "gpt-priced", 123)
               for r in results)
    recorded = events_of(store, result.run_id, "usage.recorded")
    assert sum(e["cost_usd"] for e in recorded) == sum([0.001044] * 6) and recorded[0]["calls"] == 1

    shown = run_object(store.get_run(result.run_id))["usage"]
    assert (shown["cost_usd"], shown["prompt_tokens"], shown["completion_tokens"]) == (0.006264, 738, 270)
    assert shown["by_model"][0]["model"] == "gpt-priced"

    async with api_client(settings, [OWN_BMAD]) as (_, client):
        body = (await client.get(f"/runs/{result.run_id}/usage")).json()
        since = (await client.get("/usage", params={"since": before.isoformat()})).json()
        future = (await client.get("/usage", params={"since": "2999-01-01T00:00:00"})).json()
        missing = await client.get("/runs/nope/usage")
        bad = await client.get("/usage", params={"since": "yesterday"})
    assert len(body["calls"]) == 6 and body["calls"][0]["cost_usd"] == 0.001044
    assert body["totals"]["cost_usd"] == 0.006264 and body["totals"]["calls"] == 6
    assert [g["provider"] for g in body["by_provider"]] == ["openai"]
    assert len(body["by_step"]) == 6
    assert since["totals"]["cost_usd"] == 0.006264 and since["by_model"][0]["model"] == "gpt-priced"
    assert future["totals"]["calls"] == 0
    assert_problem(missing, 404)
    assert_problem(bad, 422)


async def test_a_model_without_a_price_records_tokens_and_no_cost(time_env, settings, store, tmp_path, openai_fake):
    openai_fake.reply = BRIEF
    settings = with_providers(settings, tmp_path, openai_at(openai_fake, "gpt-unlisted"))
    _, result = await run_plan(time_env, settings, store, pipeline_plan(), {"for_each_epic": 0})
    summary = store.usage_summary(result.run_id)
    assert summary.totals.calls > 0 and summary.totals.unpriced_calls == summary.totals.calls
    assert summary.totals.cost_usd == 0
