"""The providers file: which models a step uses (with fallbacks), and what its tokens cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers.config import ProvidersConfig, cost_usd, from_model_spec, load_config, resolve
from providers.types import ModelChoice, ModelConfigError, parse_model

CONFIG = """
default:
  model: openai:gpt-4o-mini
  temperature: 0.7
  fallbacks: [gemini:gemini-2.5-flash]
agents:
  architect:
    model: anthropic:claude-sonnet-4-20250514
    max_tokens: 8000
    fallbacks: [openai:gpt-4o, offline]
  qa:
    fallbacks: []
steps:
  05-architect-review:
    model: gemini:gemini-2.5-pro
    temperature: 0.1
providers:
  anthropic:
    base_url: http://127.0.0.1:9999
    api_key_env: TEAM_ANTHROPIC_KEY
    max_concurrent: 2
    requests_per_minute: 50
    timeout_s: 90
pricing:
  openai:gpt-4o-mini: {prompt: 0.2, completion: 0.8}
  openai:my-finetune: {prompt: 3, completion: 12}
"""


@pytest.fixture
def config(tmp_path: Path) -> ProvidersConfig:
    path = tmp_path / "providers.yaml"
    path.write_text(CONFIG)
    return load_config(path)


def labels(choices: list[ModelChoice]) -> list[str]:
    return [c.label for c in choices]


def test_agent_override_with_its_fallbacks(config: ProvidersConfig):
    choices = resolve(config, "architect", "03-architect")
    assert labels(choices) == ["anthropic:claude-sonnet-4-20250514", "openai:gpt-4o", "offline"]
    assert {(c.temperature, c.max_tokens) for c in choices} == {(0.7, 8000)}


def test_step_override_wins_over_the_agent_and_keeps_the_agent_fallbacks(config: ProvidersConfig):
    choices = resolve(config, "architect", "05-architect-review")
    assert labels(choices) == ["gemini:gemini-2.5-pro", "openai:gpt-4o", "offline"]
    assert (choices[0].temperature, choices[0].max_tokens) == (0.1, 8000)


def test_agent_without_an_override_uses_the_default_and_its_fallbacks(config: ProvidersConfig):
    assert labels(resolve(config, "pm", "02-pm-prd")) == ["openai:gpt-4o-mini", "gemini:gemini-2.5-flash"]
    assert labels(resolve(config, None, None)) == ["openai:gpt-4o-mini", "gemini:gemini-2.5-flash"]


def test_an_empty_fallback_list_means_no_fallback(config: ProvidersConfig):
    assert labels(resolve(config, "qa", "07-qa")) == ["openai:gpt-4o-mini"]


def test_offline_is_never_added_implicitly():
    config = ProvidersConfig.model_validate({"default": {"model": "anthropic:claude-x"}})
    assert labels(resolve(config, "pm", "s")) == ["anthropic:claude-x"]
    assert "offline" not in labels(resolve(from_model_spec("openai:gpt-4o"), "pm", "s"))


def test_empty_config_runs_offline_and_duplicates_are_dropped():
    assert labels(resolve(ProvidersConfig(), "pm", "s")) == ["offline"]
    config = ProvidersConfig.model_validate({"default": {"model": "openai:a", "fallbacks": ["openai:a", "openai:b"]}})
    assert labels(resolve(config, "pm", "s")) == ["openai:a", "openai:b"]


def test_provider_settings_and_secrets_only_from_the_named_variable(config: ProvidersConfig):
    anthropic = config.provider("anthropic")
    assert (anthropic.base_url, anthropic.max_concurrent, anthropic.requests_per_minute) == (
        "http://127.0.0.1:9999", 2, 50)
    assert config.api_key("anthropic", {"TEAM_ANTHROPIC_KEY": "k1", "ANTHROPIC_API_KEY": "k2"}) == "k1"
    assert config.api_key("gemini", {"GEMINI_API_KEY": "g"}) == "g"
    assert config.api_key("openai", {}) is None
    assert config.api_key("offline", {"OPENAI_API_KEY": "x"}) is None


def test_pricing_math_is_exact(config: ProvidersConfig):
    assert cost_usd(config, "anthropic", "claude-sonnet-4-20250514", 1000, 0) == 0.003
    assert cost_usd(config, "anthropic", "claude-sonnet-4-20250514", 1000, 2000) == 0.033
    assert cost_usd(config, "openai", "my-finetune", 1_000_000, 1_000_000) == 15.0
    assert cost_usd(config, "openai", "gpt-4o-mini", 1000, 1000) == 0.001  # the file overrides the default
    assert cost_usd(ProvidersConfig(), "openai", "gpt-4o-mini", 1000, 1000) == 0.00075
    assert cost_usd(config, "offline", "offline", 10**9, 10**9) == 0.0


def test_unknown_model_costs_nothing_but_says_it_has_no_price(config: ProvidersConfig):
    assert cost_usd(config, "gemini", "gemini-9-ultra", 1000, 1000) == 0.0
    assert config.price("gemini", "gemini-9-ultra") is None


@pytest.mark.parametrize(
    "text",
    [
        "default: {model: mistral:large}",
        "agents: {pm: {fallbacks: ['openai:']}}",
        "providers: {azure: {base_url: x}}",
        "default: {model: offline, temprature: 1}",
        "pricing: {gpt-4o: {prompt: 1, completion: 2}}",
    ],
    ids=["unknown-provider", "empty-model", "unknown-provider-section", "typo", "pricing-key"],
)
def test_a_bad_file_is_refused_with_its_path(tmp_path: Path, text: str):
    path = tmp_path / "providers.yaml"
    path.write_text(text)
    with pytest.raises(ModelConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_model_specs_parse_for_every_provider():
    assert parse_model("anthropic:claude-sonnet-4-20250514") == ModelChoice("anthropic", "claude-sonnet-4-20250514")
    assert parse_model(" gemini:gemini-2.5-flash ") == ModelChoice("gemini", "gemini-2.5-flash")
    assert parse_model("openai:llama3.1:8b") == ModelChoice("openai", "llama3.1:8b")  # Ollama tags keep their colon
    assert parse_model("offline").label == "offline"
    with pytest.raises(ModelConfigError):
        parse_model("claude-3")
