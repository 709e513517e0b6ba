"""Per-provider concurrency and requests-per-minute limits, shared by every run in a worker process.

A burst of steps queues here instead of failing on the provider's 429. Waiters are served in arrival order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from providers.config import ProvidersConfig


@dataclass(frozen=True)
class Limit:
    max_concurrent: int | None = None
    requests_per_minute: int | None = None


class _Gate:
    def __init__(self, limit: Limit, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self.concurrency = asyncio.Semaphore(limit.max_concurrent) if limit.max_concurrent else None
        # one cell per request in the window: its grant time, moved to its finish time when the call returns
        # (the provider counts a request when it arrives, which can be well after we granted the slot)
        self.starts: list[list[float]] = []
        self.rate_lock = asyncio.Lock()  # one waiter at a time on the window keeps the order fair
        self.in_flight = 0
        self.waiting = 0


class ProviderLimiter:
    """`async with limiter.slot("openai"): ...` waits for a free slot and for room in the rate window.

    `clock` and `sleep` are injectable so tests can drive time; `window_s` is 60 for requests per minute.
    """

    def __init__(
        self,
        limits: dict[str, Limit] | None = None,
        *,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._limits = dict(limits or {})
        self._window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._gates: dict[str, _Gate] = {}

    @classmethod
    def from_config(cls, config: ProvidersConfig, **kwargs: object) -> ProviderLimiter:
        limits = {
            name: Limit(p.max_concurrent, p.requests_per_minute) for name, p in config.providers.items()
        }
        return cls(limits, **kwargs)  # type: ignore[arg-type]

    def configure(self, provider: str, limit: Limit) -> None:
        """Change a provider's limit; calls already waiting keep the old gate."""
        self._limits[provider] = limit
        self._gates.pop(provider, None)

    def _gate(self, provider: str) -> _Gate:
        gate = self._gates.get(provider)
        if gate is None:
            gate = self._gates[provider] = _Gate(self._limits.get(provider, Limit()), self._window_s)
        return gate

    def stats(self, provider: str) -> tuple[int, int]:
        """(calls in flight, calls waiting) for one provider."""
        gate = self._gate(provider)
        return gate.in_flight, gate.waiting

    async def _wait_for_rate(self, gate: _Gate) -> list[float] | None:
        """Wait for room in the window; returns this request's cell (None when the provider has no rate)."""
        rpm = gate.limit.requests_per_minute
        if not rpm:
            return None
        async with gate.rate_lock:
            while True:
                now = self._clock()
                gate.starts = [c for c in gate.starts if c[0] > now - gate.window_s]
                if len(gate.starts) < rpm:
                    cell = [now]
                    gate.starts.append(cell)
                    return cell
                await self._sleep(min(c[0] for c in gate.starts) + gate.window_s - now)

    @asynccontextmanager
    async def slot(self, provider: str) -> AsyncIterator[None]:
        gate = self._gate(provider)
        gate.waiting += 1
        try:
            if gate.concurrency:
                await gate.concurrency.acquire()
            try:
                cell = await self._wait_for_rate(gate)
            except BaseException:
                if gate.concurrency:
                    gate.concurrency.release()
                raise
        finally:
            gate.waiting -= 1
        gate.in_flight += 1
        try:
            yield
        finally:
            gate.in_flight -= 1
            if cell is not None:
                cell[0] = max(cell[0], self._clock())  # the window of this request runs from its finish
            if gate.concurrency:
                gate.concurrency.release()


_shared: ProviderLimiter | None = None


def shared_limiter(config: ProvidersConfig | None = None) -> ProviderLimiter:
    """The worker process's one limiter; the first call with a config sets the limits, later calls reuse it."""
    global _shared
    if _shared is None:
        _shared = ProviderLimiter.from_config(config) if config else ProviderLimiter()
    elif config is not None:
        for name, p in config.providers.items():
            limit = Limit(p.max_concurrent, p.requests_per_minute)
            if _shared._limits.get(name) != limit:
                _shared.configure(name, limit)
    return _shared


def reset_shared() -> None:
    """Forget the process-wide instance (tests; a worker never needs it)."""
    global _shared
    _shared = None
