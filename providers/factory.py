"""Build the configured AutoGen model client. Temporal owns retries, so clients retry nothing themselves."""

from __future__ import annotations

from dataclasses import dataclass

from autogen_core.models import ChatCompletionClient, ModelFamily, ModelInfo

from botarmy.settings import Settings
from providers.offline import OfflineChatCompletionClient


class ModelConfigError(ValueError):
    """The model setting cannot be used; the message says what to set."""


@dataclass(frozen=True)
class ModelChoice:
    provider: str  # "offline" | "openai"
    model: str

    @property
    def label(self) -> str:
        return self.provider if self.provider == "offline" else f"{self.provider}:{self.model}"


def parse_model(spec: str) -> ModelChoice:
    spec = spec.strip()
    if spec == "offline":
        return ModelChoice("offline", "offline")
    provider, sep, model = spec.partition(":")
    if provider == "openai" and sep and model:
        return ModelChoice("openai", model)
    raise ModelConfigError(
        f"BOTARMY_MODEL={spec!r} is not understood; use 'offline' or 'openai:<model>' (e.g. openai:gpt-4o-mini)"
    )


def build_client(settings: Settings, choice: ModelChoice | None = None) -> ChatCompletionClient:
    choice = choice or parse_model(settings.model)
    if choice.provider == "offline":
        return OfflineChatCompletionClient(latency_ms=settings.offline_latency_ms)
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    if not settings.openai_api_key and not settings.openai_base_url:
        raise ModelConfigError("BOTARMY_MODEL uses openai but OPENAI_API_KEY is not set; export it or use offline")
    return OpenAIChatCompletionClient(
        model=choice.model,
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url,
        max_retries=0,
        timeout=settings.model_timeout_s,
        # model_info is given so AutoGen never looks the model up (or tokenizes) for unknown names
        model_info=ModelInfo(
            vision=False,
            function_calling=True,
            json_output=True,
            family=ModelFamily.UNKNOWN,
            structured_output=False,
        ),
    )
