"""A model client that waits for the provider's limiter slot, records health, and keeps the last CreateResult
(finish_reason, usage) for the activity's output checks; and the fallback loop over a step's model choices."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, Literal, TypeVar

from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient, CreateResult, LLMMessage, ModelInfo, RequestUsage
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from providers.health import ProviderHealth
from providers.limits import ProviderLimiter
from providers.types import ModelChoice

T = TypeVar("T")


def _every_error(exc: BaseException) -> bool:
    return True


class GuardedClient(ChatCompletionClient):
    """Delegates to a real client. `is_fault(exc)` says whether a failure counts against the provider's health
    (pass `lambda e: classify(e, choice).retryable` so a bad request of ours does not mark the provider down)."""

    def __init__(
        self,
        inner: ChatCompletionClient,
        provider: str,
        limiter: ProviderLimiter | None = None,
        health: ProviderHealth | None = None,
        is_fault: Callable[[BaseException], bool] = _every_error,
        clock: Callable[[], float] = time.monotonic,
        owns_inner: bool = True,
    ) -> None:
        self.inner = inner
        self._owns_inner = owns_inner  # False: `inner` is shared (providers.factory.shared_client), close leaves it
        self.provider = provider
        self._limiter = limiter
        self._health = health
        self._is_fault = is_fault
        self._clock = clock
        self.last_result: CreateResult | None = None
        self.results: list[CreateResult] = []  # every answered call, in order (usage and cost per call)

    def _slot(self) -> AbstractAsyncContextManager[None]:
        return self._limiter.slot(self.provider) if self._limiter else nullcontext()

    def _record(self, ok: bool, started: float) -> None:
        if self._health:
            self._health.record(self.provider, ok, self._clock() - started)

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
        async with self._slot():
            started = self._clock()
            try:
                result = await self.inner.create(
                    messages, tools=tools, tool_choice=tool_choice, json_output=json_output,
                    extra_create_args=extra_create_args, cancellation_token=cancellation_token,
                )
            except Exception as exc:
                if self._is_fault(exc):
                    self._record(False, started)
                raise
            self._record(True, started)
        self.last_result = result
        self.results.append(result)
        return result

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
        max_consecutive_empty_chunk_tolerance: int = 0,
        include_usage: bool | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        async with self._slot():
            started = self._clock()
            try:
                async for item in self.inner.create_stream(
                    messages, tools=tools, tool_choice=tool_choice, json_output=json_output,
                    extra_create_args=extra_create_args, cancellation_token=cancellation_token,
                ):
                    if isinstance(item, CreateResult):
                        self.last_result = item
                        self.results.append(item)
                    yield item
            except Exception as exc:
                if self._is_fault(exc):
                    self._record(False, started)
                raise
            self._record(True, started)

    async def close(self) -> None:
        if self._owns_inner:
            await self.inner.close()

    def actual_usage(self) -> RequestUsage:
        return self.inner.actual_usage()

    def total_usage(self) -> RequestUsage:
        return self.inner.total_usage()

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self.inner.count_tokens(messages, tools=tools)

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self.inner.remaining_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> ModelInfo:
        return self.inner.model_info

    @property
    def model_info(self) -> ModelInfo:
        return self.inner.model_info


class FallbackExhausted(Exception):
    """Every model choice for the step failed; `failures` holds each (choice, error), the last one decides."""

    def __init__(self, failures: list[tuple[ModelChoice, BaseException]]) -> None:
        self.failures = failures
        tried = ", ".join(c.label for c, _ in failures)
        super().__init__(f"tried {tried}")

    @property
    def last(self) -> tuple[ModelChoice, BaseException]:
        return self.failures[-1]


async def call_with_fallback(
    choices: list[ModelChoice],
    call: Callable[[ModelChoice], Awaitable[T]],
    falls_back: Callable[[BaseException], bool],
    health: ProviderHealth | None = None,
) -> tuple[T, ModelChoice]:
    """Try the step's models in order, skipping unhealthy providers, moving on only when `falls_back(exc)`
    (a provider-side, retryable failure); other failures end the attempt at once."""
    order = health.usable(choices) if health else list(choices)
    failures: list[tuple[ModelChoice, BaseException]] = []
    for choice in order:
        try:
            return await call(choice), choice
        except Exception as exc:  # noqa: BLE001 - every failure is classified; falls_back decides
            failures.append((choice, exc))
            if not falls_back(exc):
                break
    if len(failures) == 1:
        raise failures[0][1]
    raise FallbackExhausted(failures) from failures[-1][1]
