"""Failures of the real SDK clients, classified for Temporal: what is retried, after how long, and what it says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_core.models import UserMessage

from activities.errors import (
    EmptyOutputError,
    TruncatedOutputError,
    check_output,
    classify,
    sanitize,
    to_application_error,
    validate_output,
)
from botarmy.settings import Settings
from providers.config import ProvidersConfig, ProviderSettings
from providers.factory import build_client
from providers.guard import FallbackExhausted
from providers.types import ModelChoice, ModelConfigError, parse_model
from testkit.fakes.scripted import Fault
from tests.providers.conftest import KEY_ENVS, Provider

PROMPT = [UserMessage(content="Write the PRD.", source="user")]


async def _fail(provider: Provider, fault: Fault, timeout_s: float = 5.0) -> BaseException:
    provider.fake.script.append(fault)
    provider.timeout_s = timeout_s
    client = provider.client()
    try:
        await client.create(PROMPT)
    except Exception as exc:  # noqa: BLE001 - the test inspects whatever the client raised
        return exc
    finally:
        await client.close()
    raise AssertionError("the call did not fail")


@pytest.mark.parametrize(
    ("fault", "kind", "retryable"),
    [
        (Fault(500, "internal error"), "ProviderUnavailable", True),
        (Fault(503, "overloaded"), "ProviderUnavailable", True),
        (Fault(401, "invalid x-api-key"), "AuthenticationFailed", False),
        (Fault(403, "not allowed"), "PermissionDenied", False),
        (Fault(404, "model not found"), "ModelNotFound", False),
        (Fault(400, "temperature must be between 0 and 2"), "InvalidRequest", False),
        (Fault(400, "prompt is too long: 250000 tokens > 200000 maximum", code="context_length_exceeded"),
         "ContextTooLong", False),
        (Fault(400, "The response was filtered", code="content_policy_violation"), "ContentPolicy", False),
    ],
    ids=["500", "503", "401", "403", "404", "400", "context", "policy"],
)
async def test_http_faults_are_classified_and_named(provider: Provider, fault: Fault, kind: str, retryable: bool):
    exc = await _fail(provider, fault)
    err = to_application_error(exc, provider.choice)
    assert (err.type, err.non_retryable) == (kind, not retryable)
    assert provider.name in err.message and provider.choice.model in err.message
    assert f"HTTP {fault.status}" in err.message and fault.message in err.message
    if fault.status == 401:
        assert KEY_ENVS[provider.name] in err.message
    assert len(provider.fake.calls) == 1  # the client itself never retried


async def test_429_is_retried_after_the_delay_the_provider_asked_for(provider: Provider):
    exc = await _fail(provider, Fault(429, "rate limit reached", {"retry-after": "7"}))
    err = to_application_error(exc, provider.choice)
    assert (err.type, err.non_retryable, err.next_retry_delay) == ("RateLimited", False, timedelta(seconds=7))
    assert "HTTP 429" in err.message and provider.choice.model in err.message and "7s" in err.message
    assert len(provider.fake.calls) == 1


async def test_429_without_retry_after_is_retried_with_temporal_backoff(provider: Provider):
    exc = await _fail(provider, Fault(429, "rate limit reached"))
    err = to_application_error(exc, provider.choice)
    assert (err.type, err.non_retryable, err.next_retry_delay) == ("RateLimited", False, None)


async def test_retry_after_ms_is_honoured_to_the_millisecond(provider: Provider):
    exc = await _fail(provider, Fault(429, "slow down", {"retry-after-ms": "1500"}))
    assert to_application_error(exc, provider.choice).next_retry_delay == timedelta(seconds=1.5)


async def test_exhausted_quota_is_not_retried(provider: Provider):
    exc = await _fail(provider, Fault(429, "You exceeded your current quota", code="insufficient_quota"))
    err = to_application_error(exc, provider.choice)
    assert (err.type, err.non_retryable) == ("QuotaExhausted", True)


async def test_answer_slower_than_the_timeout_is_a_retryable_timeout(provider: Provider):
    exc = await _fail(provider, Fault.slow(1.5), timeout_s=0.3)
    err = to_application_error(exc, provider.choice)
    assert (err.type, err.non_retryable) == ("ProviderTimeout", False)
    assert provider.choice.model in err.message and "timeout_s" in err.message


async def test_unreachable_endpoint_is_retryable(provider: Provider):
    provider.fake.stop()
    exc = await _fail(provider, Fault())
    err = to_application_error(exc, provider.choice)
    assert (err.type, err.non_retryable) == ("ProviderUnreachable", False)


async def test_failures_come_out_of_the_agent_unwrapped(provider: Provider):
    provider.fake.script.append(Fault(401, "bad key"))
    client = provider.client()
    agent = AssistantAgent("pm", model_client=client)
    with pytest.raises(Exception) as info:
        await agent.run(task="Write the PRD.")
    await client.close()
    assert to_application_error(info.value, provider.choice).type == "AuthenticationFailed"


async def test_key_variable_from_the_providers_file_is_named_in_the_hint(provider: Provider):
    exc = await _fail(provider, Fault(401, "bad key"))
    err = to_application_error(exc, provider.choice, {provider.name: "TEAM_LLM_KEY"})
    assert "TEAM_LLM_KEY" in err.message


async def test_truncated_answer_reaches_the_check_as_finish_reason_length(provider: Provider):
    provider.fake.script.append(Fault.cut_off())
    client = provider.client()
    result = await client.create(PROMPT)
    await client.close()
    assert result.finish_reason == "length"
    assert isinstance(result.content, str)
    assert "cut off" in (validate_output(result.content, result.finish_reason, []) or "")
    with pytest.raises(TruncatedOutputError) as info:
        check_output(result.content, result.finish_reason, [])
    err = to_application_error(info.value, provider.choice)
    assert (err.type, err.non_retryable) == ("TruncatedOutput", False)


async def test_empty_answer_is_a_retryable_empty_output(provider: Provider):
    provider.fake.script.append(Fault.empty())
    client = provider.client()
    result = await client.create(PROMPT)
    await client.close()
    text = result.content if isinstance(result.content, str) else ""
    assert validate_output(text, result.finish_reason, []) == "The answer was empty. Write the complete document."
    with pytest.raises(EmptyOutputError) as info:
        check_output(text, result.finish_reason, [])
    err = to_application_error(info.value, provider.choice)
    assert (err.type, err.non_retryable) == ("EmptyOutput", False)


def test_missing_sections_are_named_and_headings_match_loosely():
    text = "# PRD\n\n## Goals and Background\n\ntext\n\n### **Requirements**\n"
    assert validate_output(text, "stop", ["## Goals and background", "Requirements"]) is None
    problem = validate_output(text, "stop", ["Goals and Background", "Epic List", "## Risks"])
    assert problem == "The answer lacks these required sections: Epic List, ## Risks. Write the complete document."


def test_sanitize_keeps_newlines_and_tabs_and_drops_other_control_characters():
    assert sanitize("a\tb\nc\x00d\x1be\r\nf\x7fg\x85") == "a\tb\ncd" + "e\nfg"
    assert check_output("ok\x07\n", "stop", []) == "ok\n"


def test_missing_key_is_a_non_retryable_config_error_naming_the_variable():
    with pytest.raises(ModelConfigError) as info:
        build_client(Settings(), parse_model("anthropic:claude-test"), ProvidersConfig(), environ={})
    err = to_application_error(info.value, parse_model("anthropic:claude-test"))
    assert err.non_retryable and "ANTHROPIC_API_KEY" in err.message


def test_local_server_needs_no_key():
    config = ProvidersConfig(providers={"openai": ProviderSettings(base_url="http://127.0.0.1:1/v1")})
    assert build_client(Settings(), parse_model("openai:llama3"), config, environ={}) is not None


async def test_when_every_fallback_fails_the_last_failure_decides(provider: Provider):
    first = await _fail(provider, Fault(503, "overloaded"))
    last = await _fail(provider, Fault(401, "bad key"))
    other = ModelChoice("offline", "offline")
    failure = classify(FallbackExhausted([(other, first), (provider.choice, last)]), provider.choice)
    assert (failure.kind, failure.retryable) == ("AuthenticationFailed", False)
    assert failure.message.startswith(f"tried offline, {provider.choice.label}")
