"""A fake OpenAI-compatible chat server with scripted faults: Gemini's endpoint (/v1beta/openai) or plain /v1.

AutoGen talks to Gemini through OpenAIChatCompletionClient at base_url .../v1beta/openai/, so the client posts to
/v1beta/openai/chat/completions. Gemini wraps its errors in a list; the OpenAI flavour uses {"error": {...}}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from testkit.fakes.scripted import Fault, ScriptedFake

__all__ = ["FakeGemini", "FakeOpenAICompatible", "Fault"]

_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass
class FakeOpenAICompatible(ScriptedFake):
    prefix: str = "/v1"
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.paths = (f"{self.prefix}/chat/completions",)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}/"

    def answer(self, body: dict[str, Any], text: str, truncated: bool) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{len(self.calls)}",
            "object": "chat.completion",
            "created": 1700000000,
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "length" if truncated else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            },
        }

    def error(self, fault: Fault) -> Any:
        return {"error": {"message": fault.message, "type": "fake", "code": fault.code or str(fault.status)}}


@dataclass
class FakeGemini(FakeOpenAICompatible):
    prefix: str = "/v1beta/openai"

    def error(self, fault: Fault) -> Any:
        status = fault.code or _GOOGLE_STATUS.get(fault.status, "UNKNOWN")
        return [{"error": {"code": fault.status, "message": fault.message, "status": status}}]
