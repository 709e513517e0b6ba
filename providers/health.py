"""Rolling health per provider (success rate and latency over the last N calls) so fallback skips a failing one.

A provider whose success rate drops below the threshold is unhealthy for a cool-down; then it is on probation:
the next call decides (a success restores it, a failure starts another cool-down).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from providers.types import ModelChoice


@dataclass(frozen=True)
class HealthStats:
    provider: str
    calls: int
    success_rate: float | None  # None before any call
    avg_latency_s: float | None
    max_latency_s: float | None
    healthy: bool
    cooldown_left_s: float


class ProviderHealth:
    def __init__(
        self,
        window: int = 20,
        min_calls: int = 3,
        min_success_rate: float = 0.5,
        cooldown_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.min_calls = min_calls
        self.min_success_rate = min_success_rate
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._calls: dict[str, deque[tuple[bool, float]]] = {}
        self._down_until: dict[str, float] = {}
        self._probation: set[str] = set()

    def _trip(self, provider: str) -> None:
        self._down_until[provider] = self._clock() + self.cooldown_s
        self._calls[provider].clear()  # after the cool-down the provider starts afresh
        self._probation.discard(provider)

    def record(self, provider: str, ok: bool, latency_s: float) -> None:
        calls = self._calls.setdefault(provider, deque(maxlen=self.window))
        calls.append((ok, latency_s))
        if provider in self._down_until and self._clock() >= self._down_until[provider]:
            del self._down_until[provider]
            self._probation.add(provider)
        if provider in self._probation:
            if ok:
                self._probation.discard(provider)
            else:
                self._trip(provider)
            return
        rate = sum(c[0] for c in calls) / len(calls)
        if len(calls) >= self.min_calls and rate < self.min_success_rate:
            self._trip(provider)

    def is_healthy(self, provider: str) -> bool:
        return self._clock() >= self._down_until.get(provider, float("-inf"))

    def stats(self, provider: str) -> HealthStats:
        calls = list(self._calls.get(provider, ()))
        latencies = [c[1] for c in calls]
        left = max(0.0, self._down_until.get(provider, 0.0) - self._clock()) if provider in self._down_until else 0.0
        return HealthStats(
            provider=provider,
            calls=len(calls),
            success_rate=sum(c[0] for c in calls) / len(calls) if calls else None,
            avg_latency_s=sum(latencies) / len(latencies) if latencies else None,
            max_latency_s=max(latencies) if latencies else None,
            healthy=self.is_healthy(provider),
            cooldown_left_s=left,
        )

    def snapshot(self) -> dict[str, HealthStats]:
        return {p: self.stats(p) for p in sorted(set(self._calls) | set(self._down_until))}

    def usable(self, choices: list[ModelChoice]) -> list[ModelChoice]:
        """The choices whose provider is healthy, in order; all of them if none is (trying beats failing unheard)."""
        healthy = [c for c in choices if self.is_healthy(c.provider)]
        return healthy or list(choices)

    def write_snapshot(self, path: Path) -> None:
        """For `botarmy providers`, which runs in another process than the worker."""
        data = {"written_at": time.time(), "providers": {p: asdict(s) for p, s in self.snapshot().items()}}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(path)


def read_snapshot(path: Path) -> dict[str, HealthStats]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {p: HealthStats(**s) for p, s in data.get("providers", {}).items()}


_shared: ProviderHealth | None = None


def shared_health() -> ProviderHealth:
    """The worker process's one health registry."""
    global _shared
    if _shared is None:
        _shared = ProviderHealth()
    return _shared


def reset_shared() -> None:
    """Forget the process-wide instance (tests; a worker never needs it)."""
    global _shared
    _shared = None
