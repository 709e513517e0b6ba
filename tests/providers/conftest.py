"""Fake provider servers for the provider tests, and real clients built on them the way the worker builds them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from autogen_core.models import ChatCompletionClient

from botarmy.settings import Settings
from providers.config import ProvidersConfig, ProviderSettings
from providers.factory import build_client
from providers.types import ModelChoice, parse_model
from testkit.fakes.anthropic_server import FakeAnthropic
from testkit.fakes.gemini_server import FakeGemini, FakeOpenAICompatible
from testkit.fakes.scripted import ScriptedFake

MODELS = {"openai": "openai:gpt-test", "anthropic": "anthropic:claude-test", "gemini": "gemini:gemini-2.5-flash"}
KEY_ENVS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}


def make_fake(provider: str, **kwargs: object) -> ScriptedFake:
    if provider == "anthropic":
        return FakeAnthropic(**kwargs)  # type: ignore[arg-type]
    if provider == "gemini":
        return FakeGemini(**kwargs)  # type: ignore[arg-type]
    return FakeOpenAICompatible(**kwargs)  # type: ignore[arg-type]


@dataclass
class Provider:
    """One provider under test: its fake server and a way to build the real client against it."""

    name: str
    fake: ScriptedFake
    timeout_s: float = 5.0

    @property
    def choice(self) -> ModelChoice:
        return parse_model(MODELS[self.name])

    def config(self, **settings: object) -> ProvidersConfig:
        base_url = self.fake.base_url  # type: ignore[attr-defined]
        return ProvidersConfig(
            providers={self.name: ProviderSettings(base_url=base_url, timeout_s=self.timeout_s, **settings)}  # type: ignore[arg-type]
        )

    def client(self, choice: ModelChoice | None = None, **settings: object) -> ChatCompletionClient:
        environ = {KEY_ENVS[self.name]: f"key-for-{self.name}"}
        return build_client(Settings(), choice or self.choice, self.config(**settings), environ=environ)


@pytest.fixture(params=["openai", "anthropic", "gemini"])
def provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    fake = make_fake(request.param).start()
    try:
        yield Provider(request.param, fake)
    finally:
        fake.stop()
