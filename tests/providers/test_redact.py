"""Secrets in a provider's error text: configured key values and key-shaped tokens are masked, nothing else."""

from __future__ import annotations

import httpx
import openai
import pytest

from activities.errors import classify, to_application_error
from botarmy.settings import Settings
from providers.config import ProvidersConfig, ProviderSettings
from providers.redact import MASK, redact, secret_values
from providers.types import parse_model


@pytest.mark.parametrize(("key", "shown"), [
    ("sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t", "sk-"),
    ("sk-ant-api03-Zy1xWv4uTs7rQp0oNm", "sk-ant-"),
    ("AIzaSyD3fAkEgOoGlEkEy0123456789abcdefg", "AIza"),
    ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "Bearer "),
])
def test_key_shaped_tokens_are_masked_keeping_only_their_kind(key, shown):
    text = redact(f"Incorrect API key provided: {key}. You can find your key at ...")
    assert key.removeprefix(shown) not in text
    assert f"Incorrect API key provided: {shown}{MASK}. You can" in text


def test_configured_values_are_masked_and_ordinary_words_are_not():
    text = redact("risk-assessment failed for task-0123456789 with token teamkey-42-xyz", ["teamkey-42-xyz", "x"])
    assert text == f"risk-assessment failed for task-0123456789 with token {MASK}"


def test_secret_values_are_the_conventional_and_configured_key_variables_and_the_settings_key():
    config = ProvidersConfig(providers={"openai": ProviderSettings(api_key_env="TEAM_KEY")})
    env = {"TEAM_KEY": "team-value-1", "ANTHROPIC_API_KEY": "anthropic-value", "OTHER": "not-a-key-value"}
    values = secret_values(Settings(openai_api_key="settings-value"), config, env)
    assert sorted(values) == ["anthropic-value", "settings-value", "team-value-1"]


def test_classify_masks_the_key_a_401_quotes():
    body = {"error": {"message": "Incorrect API key provided: team-value-1", "type": "invalid_request_error"}}
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(401, request=request, json=body)
    exc = openai.AuthenticationError("Error code: 401 - " + str(body), response=response, body=body)
    choice = parse_model("openai:gpt-test")
    failure = classify(exc, choice, {"openai": "TEAM_KEY"}, ["team-value-1"])
    assert "team-value-1" not in failure.message and f"provided: {MASK}" in failure.message
    assert "TEAM_KEY" in failure.message
    err = to_application_error(exc, choice, {"openai": "TEAM_KEY"}, ["team-value-1"])
    assert "team-value-1" not in err.message and err.non_retryable
