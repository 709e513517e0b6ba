"""The offline model: a deterministic AutoGen ChatCompletionClient that needs no network.

It writes the document the prompt asks for, section by section, from the outline the step prompt carries
(between OUTLINE_START and OUTLINE_END, template variables already filled in), says which iteration it is for
(the prompt's ITERATION_LINE), and labels every output as offline. Same prompt, same bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelFamily,
    ModelInfo,
    RequestUsage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

OFFLINE_LABEL = "> Offline model output: deterministic draft written by BotArmy's offline model; no LLM was called."
OUTLINE_START = "<!-- outline -->"
OUTLINE_END = "<!-- /outline -->"
FEEDBACK_HEADING = "## Reviewer feedback"
ANSWERS_HEADING = "## Answers to the step's questions"
HEADLESS_HEADING = "## Headless mode"  # a headless skill step: the answer ends with its JSON result
ITERATION_LINE = "This is iteration "  # + scope (e.g. "epic-2"), then " — item: <json>" when the repeat has items
_INSTRUCTION = re.compile(r"^<!-- instruction: (.*) -->$")


def _text_of(message: LLMMessage) -> str:
    content = getattr(message, "content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(c for c in content if isinstance(c, str))
    return str(content)


def _words(text: str) -> int:
    # usage without tiktoken (it downloads encodings): whitespace words are close enough for offline accounting
    return len(text.split())


def _first_sentence(text: str, limit: int = 220) -> str:
    flat = " ".join(text.split())
    cut = re.split(r"(?<=[.!?])\s", flat, maxsplit=1)[0]
    return cut if len(cut) <= limit else cut[: limit - 1] + "…"


def _draft(prompt: str) -> str:
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:12]
    lines = [OFFLINE_LABEL, ""]
    iteration = next((ln.removeprefix(ITERATION_LINE).rstrip(".") for ln in prompt.splitlines()
                      if ln.startswith(ITERATION_LINE)), None)
    if OUTLINE_START in prompt and OUTLINE_END in prompt:
        outline = prompt.split(OUTLINE_START, 1)[1].split(OUTLINE_END, 1)[0].strip().splitlines()
        for line in outline:
            match = _INSTRUCTION.match(line.strip())
            if match:
                lines += [f"Offline draft: {_first_sentence(match.group(1))}", ""]
            elif line.startswith("#"):
                lines += [line, ""]
                if iteration and line.startswith("# "):
                    lines += [f"Offline draft for iteration {iteration}.", ""]
    else:
        title = next((ln.lstrip("# ").strip() for ln in prompt.splitlines() if ln.startswith("#")), "Response")
        lines += [f"# {title}", "", f"Offline response to: {_first_sentence(prompt)}", ""]
    for block in prompt.split(ANSWERS_HEADING)[1:]:
        said = next((ln for ln in block.splitlines() if " answered: " in ln), None)
        lines += [f"Answer used: {_first_sentence(said.split(' answered: ', 1)[1])}" if said else
                  "Assumptions: offline draft; no person was asked, the best assumption is taken.", ""]
    if FEEDBACK_HEADING in prompt:
        feedback = prompt.split(FEEDBACK_HEADING, 1)[1].split("\n## ", 1)[0].strip().splitlines()[-1:]
        lines += [f"Revised after reviewer feedback: {_first_sentence(' '.join(feedback))}", ""]
    lines.append(f"<!-- offline prompt sha256:{digest} -->")
    if HEADLESS_HEADING in prompt:
        lines += ["", "```json", json.dumps(_headless_result(prompt), ensure_ascii=False), "```"]
    return "\n".join(lines) + "\n"


def _headless_result(prompt: str) -> dict[str, Any]:
    """A headless step's result: always complete (an offline run never waits for a person); what it took
    without being told is its assumptions."""
    assumed = [_first_sentence(b.split("Nobody is asked: ", 1)[1], 200) for b in prompt.split(ANSWERS_HEADING)[1:]
               if "Nobody is asked: " in b]
    return {"status": "complete", "assumptions": ["offline draft: written from the instructions alone", *assumed],
            "open_questions": []}


class OfflineChatCompletionClient(ChatCompletionClient):
    """Deterministic offline model. `latency_ms` simulates a slow model (demos, durability tests)."""

    def __init__(self, latency_ms: int = 0, model: str = "offline") -> None:
        self._latency_ms = latency_ms
        self.model = model
        self._model_info = ModelInfo(
            vision=False,
            function_calling=False,
            json_output=False,
            family=ModelFamily.UNKNOWN,
            structured_output=False,
        )
        self._total = RequestUsage(prompt_tokens=0, completion_tokens=0)
        self._last = RequestUsage(prompt_tokens=0, completion_tokens=0)

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        if self._latency_ms:
            await asyncio.sleep(self._latency_ms / 1000)
        # in a group chat the last message is another agent's answer: draft from the latest task that has an outline
        texts = [_text_of(m) for m in messages]
        prompt = next((t for t in reversed(texts) if OUTLINE_START in t), texts[-1] if texts else "")
        content = _draft(prompt)
        prompt_tokens = sum(_words(_text_of(m)) for m in messages)
        self._last = RequestUsage(prompt_tokens=prompt_tokens, completion_tokens=_words(content))
        self._total = RequestUsage(
            prompt_tokens=self._total.prompt_tokens + self._last.prompt_tokens,
            completion_tokens=self._total.completion_tokens + self._last.completion_tokens,
        )
        return CreateResult(finish_reason="stop", content=content, usage=self._last, cached=False)

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        result = await self.create(messages, json_output=json_output, cancellation_token=cancellation_token)
        assert isinstance(result.content, str)
        yield result.content
        yield result

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return self._last

    def total_usage(self) -> RequestUsage:
        return self._total

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return sum(_words(_text_of(m)) for m in messages)

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return max(0, 1_000_000 - self.count_tokens(messages))

    @property
    def capabilities(self) -> ModelInfo:
        return self._model_info

    @property
    def model_info(self) -> ModelInfo:
        return self._model_info
