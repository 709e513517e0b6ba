"""The value types every provider module shares: which providers exist, a model choice, and its parse."""

from __future__ import annotations

from dataclasses import dataclass

PROVIDERS = ("offline", "openai", "anthropic", "gemini")


class ModelConfigError(ValueError):
    """The model setting cannot be used; the message says what to set."""


@dataclass(frozen=True)
class ModelChoice:
    provider: str  # "offline" | "openai" | "anthropic" | "gemini"
    model: str
    temperature: float | None = None
    max_tokens: int | None = None

    @property
    def label(self) -> str:
        return self.provider if self.provider == "offline" else f"{self.provider}:{self.model}"


def parse_model(spec: str) -> ModelChoice:
    spec = spec.strip()
    if spec == "offline":
        return ModelChoice("offline", "offline")
    provider, sep, model = spec.partition(":")
    if provider in PROVIDERS[1:] and sep and model.strip():
        return ModelChoice(provider, model.strip())
    raise ModelConfigError(
        f"model {spec!r} is not understood; use 'offline', 'openai:<model>', 'anthropic:<model>' or "
        "'gemini:<model>' (e.g. openai:gpt-4o-mini)"
    )
