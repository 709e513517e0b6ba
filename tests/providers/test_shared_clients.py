"""Model clients are built once per event loop and resolved settings, and reused by every step (one connection
pool, one SSL context), instead of once per step."""

from __future__ import annotations

import asyncio

from autogen_agentchat.agents import AssistantAgent

from botarmy.settings import Settings
from providers.config import ProvidersConfig, ProviderSettings
from providers.factory import shared_client
from providers.types import ModelChoice
from testkit.fakes.openai_server import FakeOpenAI

CHOICE = ModelChoice("openai", "gpt-test")


def _config(base_url: str, timeout_s: float = 30) -> ProvidersConfig:
    return ProvidersConfig(providers={"openai": ProviderSettings(base_url=base_url, timeout_s=timeout_s,
                                                                 api_key_env="BOTARMY_TEST_NO_KEY")})


async def _ask(client: object) -> str:
    agent = AssistantAgent("pm", model_client=client, system_message="You are the pm.")  # type: ignore[arg-type]
    result = await agent.run(task="Write the PRD.")
    return result.messages[-1].to_text()  # type: ignore[union-attr]


async def test_steps_of_one_loop_share_a_client_and_its_connection(settings: Settings):
    fake = FakeOpenAI(keep_alive=True).start()
    try:
        config = _config(fake.base_url)
        clients = [shared_client(settings, CHOICE, config) for _ in range(3)]
        assert clients[0] is clients[1] is clients[2]
        for client in clients:  # one after the other, as the steps of a run
            assert "Fake provider answer" in await _ask(client)
        assert len(fake.calls) == 3
        assert len({c["peer"] for c in fake.calls}) == 1  # one kept-alive connection, not one per step
    finally:
        fake.stop()


async def test_a_changed_endpoint_or_timeout_gets_its_own_client(settings: Settings):
    a = shared_client(settings, CHOICE, _config("http://127.0.0.1:9/v1"))
    assert shared_client(settings, CHOICE, _config("http://127.0.0.1:10/v1")) is not a
    assert shared_client(settings, CHOICE, _config("http://127.0.0.1:9/v1", timeout_s=5)) is not a
    assert shared_client(settings, ModelChoice("openai", "gpt-other"), _config("http://127.0.0.1:9/v1")) is not a
    assert shared_client(settings, CHOICE, _config("http://127.0.0.1:9/v1")) is a


def test_each_event_loop_gets_its_own_client(settings: Settings):
    config = _config("http://127.0.0.1:9/v1")

    async def get() -> object:
        return shared_client(settings, CHOICE, config)

    first, second = asyncio.run(get()), asyncio.run(get())
    assert first is not second  # a connection pool belongs to the loop it was made in
