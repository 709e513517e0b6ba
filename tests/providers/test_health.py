"""Provider health over the last calls, and the fallback loop that skips an unhealthy provider until it recovers."""

from __future__ import annotations

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_core.models import UserMessage

from activities.errors import classify, to_application_error
from providers.guard import FallbackExhausted, GuardedClient, call_with_fallback
from providers.health import ProviderHealth, read_snapshot
from providers.types import ModelChoice
from testkit.fakes.anthropic_server import FakeAnthropic
from testkit.fakes.gemini_server import FakeGemini
from testkit.fakes.scripted import Fault
from tests.providers.conftest import Provider

PROMPT = [UserMessage(content="Write the PRD.", source="user")]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_provider_turns_unhealthy_below_the_success_rate_and_recovers_after_the_cooldown():
    clock = Clock()
    health = ProviderHealth(window=4, min_calls=4, min_success_rate=0.5, cooldown_s=30, clock=clock)
    for ok in (True, False, False):
        health.record("openai", ok, 0.1)
    assert health.is_healthy("openai")  # too few calls to judge
    health.record("openai", False, 0.1)
    assert not health.is_healthy("openai")
    assert health.stats("openai").cooldown_left_s == 30
    clock.now = 30
    assert health.is_healthy("openai")  # on probation: the next call decides
    health.record("openai", False, 2.0)
    assert not health.is_healthy("openai")
    clock.now = 60
    health.record("openai", True, 0.2)
    health.record("openai", False, 0.2)
    assert health.is_healthy("openai")  # a success ended the probation; one failure in two is not below 50%


def test_stats_report_rate_and_latency_of_the_last_n_calls():
    health = ProviderHealth(window=3, min_calls=10)
    for ok, latency in ((False, 9.0), (True, 1.0), (True, 2.0), (False, 3.0)):
        health.record("gemini", ok, latency)
    stats = health.stats("gemini")
    assert (stats.calls, stats.success_rate, stats.avg_latency_s, stats.max_latency_s) == (3, 2 / 3, 2.0, 3.0)


def test_snapshot_file_carries_health_to_the_cli(tmp_path):
    health = ProviderHealth()
    health.record("anthropic", True, 0.5)
    health.write_snapshot(tmp_path / "h.json")
    assert read_snapshot(tmp_path / "h.json")["anthropic"].success_rate == 1.0
    assert read_snapshot(tmp_path / "missing.json") == {}


async def _agent_call(client) -> str:
    agent = AssistantAgent("pm", model_client=client)
    try:
        result = await agent.run(task="Write the PRD.")
    finally:
        await client.close()
    return str(result.messages[-1].content)


async def test_fallback_moves_on_after_a_retryable_failure_and_skips_the_provider_once_unhealthy():
    clock = Clock()
    health = ProviderHealth(window=2, min_calls=2, min_success_rate=0.5, cooldown_s=60, clock=clock)
    with FakeAnthropic() as down, FakeGemini(reply="# From Gemini\n") as backup:
        primary = Provider("anthropic", down)
        secondary = Provider("gemini", backup)
        by_provider = {"anthropic": primary, "gemini": secondary}
        down.script.extend([Fault(529, "overloaded")] * 2)

        def falls_back(exc: BaseException) -> bool:
            return classify(exc, primary.choice).retryable

        async def call(choice: ModelChoice) -> str:
            p = by_provider[choice.provider]
            return await _agent_call(GuardedClient(p.client(), p.name, health=health, is_fault=falls_back))

        choices = [primary.choice, secondary.choice]
        for _ in range(2):
            text, used = await call_with_fallback(choices, call, falls_back, health)
            assert (text, used) == ("# From Gemini\n", secondary.choice)
        assert not health.is_healthy("anthropic") and len(down.calls) == 2
        await call_with_fallback(choices, call, falls_back, health)
        assert len(down.calls) == 2  # skipped while cooling down
        clock.now = 61
        text, used = await call_with_fallback(choices, call, falls_back, health)
        assert used == primary.choice and len(down.calls) == 3 and health.is_healthy("anthropic")


async def test_non_retryable_failure_does_not_fall_back_and_does_not_mark_the_provider_down(provider: Provider):
    health = ProviderHealth(min_calls=1)
    provider.fake.script.append(Fault(400, "bad temperature"))

    def falls_back(exc: BaseException) -> bool:
        return classify(exc, provider.choice).retryable

    async def call(choice: ModelChoice) -> str:
        if choice.provider == "offline":
            raise AssertionError("fell back on a bad request")
        client = GuardedClient(provider.client(), provider.name, health=health, is_fault=falls_back)
        return await _agent_call(client)

    with pytest.raises(Exception) as info:
        await call_with_fallback([provider.choice, ModelChoice("offline", "offline")], call, falls_back, health)
    assert to_application_error(info.value, provider.choice).type == "InvalidRequest"
    assert health.is_healthy(provider.name) and health.stats(provider.name).calls == 0


async def test_all_fallbacks_failing_raise_one_error_naming_every_model_tried():
    with FakeAnthropic() as a, FakeGemini() as g:
        a.script.append(Fault(500))
        g.script.append(Fault(503))
        providers = {"anthropic": Provider("anthropic", a), "gemini": Provider("gemini", g)}

        async def call(choice: ModelChoice) -> str:
            return await _agent_call(providers[choice.provider].client())

        choices = [p.choice for p in providers.values()]
        with pytest.raises(FallbackExhausted) as info:
            await call_with_fallback(choices, call, lambda e: classify(e, choices[0]).retryable)
    err = to_application_error(info.value, choices[0])
    assert not err.non_retryable and err.type == "ProviderUnavailable"
    assert "anthropic:claude-test, gemini:gemini-2.5-flash" in err.message and "HTTP 503" in err.message


async def test_guarded_client_keeps_the_finish_reason_for_the_output_check(provider: Provider):
    provider.fake.script.append(Fault.cut_off())
    client = GuardedClient(provider.client(), provider.name)
    await _agent_call(client)
    assert client.last_result is not None and client.last_result.finish_reason == "length"
    assert client.last_result.usage.prompt_tokens == provider.fake.prompt_tokens
