"""Each provider's real AutoGen client, run by an AssistantAgent against its fake server."""

from __future__ import annotations

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import TextMessage

from botarmy.settings import Settings
from providers.factory import build_client
from providers.offline import OFFLINE_LABEL
from providers.types import ModelChoice, parse_model
from tests.providers.conftest import Provider


async def _run(client, task: str = "Write the PRD.") -> TextMessage:
    agent = AssistantAgent("pm", model_client=client, system_message="You are the product manager.")
    try:
        result = await agent.run(task=task)
    finally:
        await client.close()
    reply = result.messages[-1]
    assert isinstance(reply, TextMessage)
    return reply


async def test_agent_gets_the_text_and_the_exact_usage_the_provider_reports(provider: Provider):
    provider.fake.prompt_tokens, provider.fake.completion_tokens = 321, 54
    reply = await _run(provider.client())
    assert reply.content == provider.fake.reply
    assert reply.models_usage is not None
    assert (reply.models_usage.prompt_tokens, reply.models_usage.completion_tokens) == (321, 54)
    assert len(provider.fake.calls) == 1


async def test_request_carries_the_model_the_key_and_the_prompt(provider: Provider):
    await _run(provider.client(), task="Write the architecture.")
    call = provider.fake.calls[0]
    assert call["body"]["model"] == provider.choice.model
    key = f"key-for-{provider.name}"
    sent = call["headers"].get("x-api-key") or call["headers"].get("authorization", "")
    assert sent.endswith(key)
    assert "Write the architecture." in str(call["body"]["messages"])
    assert call["headers"].get("x-stainless-retry-count") == "0"


async def test_gemini_goes_to_the_openai_compatible_path_without_message_names(provider: Provider):
    await _run(provider.client())
    path = provider.fake.calls[0]["path"]
    expected = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages",
                "gemini": "/v1beta/openai/chat/completions"}
    assert path == expected[provider.name]
    if provider.name == "gemini":
        assert all("name" not in m for m in provider.fake.calls[0]["body"]["messages"])


async def test_step_temperature_and_max_tokens_reach_the_provider(provider: Provider):
    choice = ModelChoice(provider.choice.provider, provider.choice.model, temperature=0.2, max_tokens=777)
    await _run(provider.client(choice))
    body = provider.fake.calls[0]["body"]
    assert body["temperature"] == 0.2
    assert body.get("max_tokens", body.get("max_completion_tokens")) == 777


async def test_offline_needs_no_server_and_labels_its_output():
    reply = await _run(build_client(Settings(), parse_model("offline")))
    assert reply.content.startswith(OFFLINE_LABEL)
