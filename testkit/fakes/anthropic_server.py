"""A fake Anthropic Messages API (POST /v1/messages) on 127.0.0.1 with scripted faults, for the real SDK client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from testkit.fakes.scripted import Fault, ScriptedFake

__all__ = ["FakeAnthropic", "Fault"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class FakeAnthropic(ScriptedFake):
    paths: tuple[str, ...] = ("/v1/messages",)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, body: dict[str, Any], text: str, truncated: bool) -> dict[str, Any]:
        return {
            "id": f"msg_{len(self.calls)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "fake"),
            "content": [{"type": "text", "text": text}] if text else [],
            "stop_reason": "max_tokens" if truncated else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": self.prompt_tokens, "output_tokens": self.completion_tokens},
        }

    def error(self, fault: Fault) -> Any:
        kind = fault.code or _ERROR_TYPES.get(fault.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": fault.message}}
