"""The providers config: which model each agent and step uses, fallbacks, endpoints, limits and prices.

Read from a YAML file whose path is given (e.g. `.botarmy/providers.yaml`); secrets come only from the environment,
named by `api_key_env`. Nothing here reads a file or the environment unless asked to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from ruamel.yaml import YAML, YAMLError

from providers.types import PROVIDERS, ModelChoice, ModelConfigError, parse_model

ProviderName = Literal["openai", "anthropic", "gemini", "offline"]

DEFAULT_KEY_ENV: dict[str, str | None] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "offline": None,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderSettings(_Strict):
    """How to reach one provider. `base_url` None means the provider's public endpoint."""

    base_url: str | None = None
    api_key_env: str | None = None  # None: the conventional variable (OPENAI_API_KEY, ...)
    timeout_s: float | None = Field(default=None, gt=0)  # None: settings.model_timeout_s
    max_concurrent: int | None = Field(default=None, ge=1)
    requests_per_minute: int | None = Field(default=None, ge=1)


class ModelOverride(_Strict):
    """A model choice for an agent or a step; unset fields inherit (step → agent → defaults)."""

    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    fallbacks: list[str] | None = None  # model specs tried in order after `model`; offline only if listed

    @field_validator("model")
    @classmethod
    def _model_is_a_spec(cls, spec: str | None) -> str | None:
        if spec is not None:
            parse_model(spec)
        return spec

    @field_validator("fallbacks")
    @classmethod
    def _fallbacks_are_specs(cls, specs: list[str] | None) -> list[str] | None:
        for spec in specs or []:
            parse_model(spec)
        return specs


class Price(_Strict):
    """USD per one million tokens."""

    prompt: float = Field(ge=0)
    completion: float = Field(ge=0)


# Public list prices (USD / 1M tokens) at the time of writing; override in the file's `pricing:` when they change.
DEFAULT_PRICING: dict[str, Price] = {
    "openai:gpt-4o": Price(prompt=2.50, completion=10.00),
    "openai:gpt-4o-mini": Price(prompt=0.15, completion=0.60),
    "openai:gpt-4.1": Price(prompt=2.00, completion=8.00),
    "openai:gpt-4.1-mini": Price(prompt=0.40, completion=1.60),
    "anthropic:claude-sonnet-4-20250514": Price(prompt=3.00, completion=15.00),
    "anthropic:claude-3-5-haiku-20241022": Price(prompt=0.80, completion=4.00),
    "anthropic:claude-opus-4-20250514": Price(prompt=15.00, completion=75.00),
    "gemini:gemini-2.5-pro": Price(prompt=1.25, completion=10.00),
    "gemini:gemini-2.5-flash": Price(prompt=0.30, completion=2.50),
    "gemini:gemini-2.0-flash": Price(prompt=0.10, completion=0.40),
}


class ProvidersConfig(_Strict):
    default: ModelOverride = ModelOverride(model="offline")
    agents: dict[str, ModelOverride] = {}
    steps: dict[str, ModelOverride] = {}  # keyed by step id
    providers: dict[ProviderName, ProviderSettings] = {}
    pricing: dict[str, Price] = {}  # "provider:model" → price; merged over DEFAULT_PRICING

    @field_validator("pricing")
    @classmethod
    def _pricing_keys_are_specs(cls, pricing: dict[str, Price]) -> dict[str, Price]:
        for spec in pricing:
            parse_model(spec)
        return pricing

    def provider(self, name: str) -> ProviderSettings:
        return self.providers.get(name, ProviderSettings())  # type: ignore[call-overload]

    def key_env(self, provider: str) -> str | None:
        return self.provider(provider).api_key_env or DEFAULT_KEY_ENV.get(provider)

    def api_key(self, provider: str, environ: Mapping[str, str] | None = None) -> str | None:
        name = self.key_env(provider)
        env = os.environ if environ is None else environ
        return env.get(name) if name else None

    def price(self, provider: str, model: str) -> Price | None:
        if provider == "offline":
            return Price(prompt=0, completion=0)
        spec = f"{provider}:{model}"
        return self.pricing.get(spec) or DEFAULT_PRICING.get(spec)

    def specs(self) -> list[str]:
        """Every model spec the config mentions, in first-mention order."""
        seen: dict[str, None] = {}
        for override in [self.default, *self.agents.values(), *self.steps.values()]:
            for spec in [override.model, *(override.fallbacks or [])]:
                if spec:
                    seen.setdefault(parse_model(spec).label, None)
        return list(seen)


_loaded: dict[Path, tuple[str, ProvidersConfig]] = {}


def load_config(path: Path) -> ProvidersConfig:
    """Load and validate the providers file; problems raise ModelConfigError naming the file. A file whose text
    is the same as when it was last loaded is not parsed again: every run's launch reads it to pin the run's model,
    and parsing the YAML cost ~1 ms of CPU each time. Treat the result as read-only."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ModelConfigError(f"{path}: cannot read the providers file: {exc}") from exc
    found = _loaded.get(path)
    if found is not None and found[0] == text:
        return found[1]
    try:
        data = YAML(typ="safe").load(text) or {}
    except YAMLError as exc:
        raise ModelConfigError(f"{path}: cannot read the providers file: {exc}") from exc
    try:
        config = ProvidersConfig.model_validate(data)
    except ValueError as exc:
        raise ModelConfigError(f"{path}: {exc}") from exc
    if len(_loaded) > 64:
        _loaded.clear()
    _loaded[path] = (text, config)
    return config


def from_model_spec(spec: str) -> ProvidersConfig:
    """The config implied by a single model setting (BOTARMY_MODEL) when there is no providers file."""
    return ProvidersConfig(default=ModelOverride(model=spec))


def resolve(config: ProvidersConfig, agent: str | None, step_id: str | None) -> list[ModelChoice]:
    """The models to try for one step, primary first, then the fallbacks; no duplicates, never an implicit offline."""
    layers = [config.steps.get(step_id or ""), config.agents.get(agent or ""), config.default]
    present = [layer for layer in layers if layer is not None]

    def first(attr: str) -> object:
        return next((getattr(layer, attr) for layer in present if getattr(layer, attr) is not None), None)

    primary = first("model") or "offline"
    fallbacks = first("fallbacks") or []
    temperature = first("temperature")
    max_tokens = first("max_tokens")
    choices: list[ModelChoice] = []
    for spec in [primary, *fallbacks]:  # type: ignore[misc]
        base = parse_model(str(spec))
        choice = ModelChoice(base.provider, base.model, temperature=temperature, max_tokens=max_tokens)  # type: ignore[arg-type]
        if all(c.label != choice.label for c in choices):
            choices.append(choice)
    return choices


def cost_decimal(
    config: ProvidersConfig, provider: str, model: str, prompt_tokens: int, completion_tokens: int
) -> Decimal | None:
    """Exact cost of one call in USD, or None when the model has no known price (stored as such, summed exactly)."""
    price = config.price(provider, model)
    if price is None:
        return None
    # Decimal so that 1000 tokens at $3/1M is exactly 0.003, not 0.0030000000000000005
    total = Decimal(prompt_tokens) * Decimal(str(price.prompt)) + Decimal(completion_tokens) * Decimal(
        str(price.completion)
    )
    return total / Decimal(1_000_000)


def cost_usd(config: ProvidersConfig, provider: str, model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Cost of one call; 0.0 when the model has no known price (see ProvidersConfig.price to tell the two apart)."""
    cost = cost_decimal(config, provider, model, prompt_tokens, completion_tokens)
    return float(cost) if cost is not None else 0.0


__all__ = [
    "DEFAULT_KEY_ENV",
    "DEFAULT_PRICING",
    "PROVIDERS",
    "ModelOverride",
    "Price",
    "ProviderSettings",
    "ProvidersConfig",
    "cost_decimal",
    "cost_usd",
    "from_model_spec",
    "load_config",
    "resolve",
]
