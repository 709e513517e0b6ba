"""Anomalies a worker notices after a step: usage far above the usual for the agent and model, or a provider whose
error rate made it unhealthy. Each becomes an `anomaly.detected` event and a warning log line; the provider health
snapshot for `botarmy providers` and GET /health/providers is written from here too (throttled)."""

from __future__ import annotations

import threading
import time
from collections import deque
from decimal import Decimal
from statistics import median
from typing import Any

import structlog

from activities.events import EventSink
from botarmy.settings import Settings
from providers.health import ProviderHealth
from store import Store

log = structlog.get_logger(__name__)

ANOMALY_EVENT = "anomaly.detected"
SAMPLES = 50  # the latest steps a median is taken over
_Sample = tuple[str, int, Decimal | None]  # run_id, tokens, cost


class AnomalyWatch:
    """One per worker process (it remembers which providers it already reported)."""

    def __init__(self, settings: Settings, store: Store, events: EventSink) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self._reported_down: set[str] = set()
        self._snapshot_at = float("-inf")
        # the baseline per (agent, provider, model): read from the store at most every `anomaly_refresh_s`,
        # and extended with each step this worker checks in between (other workers' steps arrive on refresh)
        self._baselines: dict[tuple[str | None, str, str], tuple[float, deque[_Sample]]] = {}
        self._lock = threading.Lock()  # steps check from many threads at once; a deque must not change mid-read

    def _emit(self, run_id: str, data: dict[str, Any]) -> None:
        self.events.emit(run_id, ANOMALY_EVENT, data)
        log.warning(ANOMALY_EVENT, run_id=run_id, **data)

    def check_step(
        self, run_id: str, step: str, agent: str | None, provider: str, model: str, tokens: int,
        cost: Decimal | None,
    ) -> list[dict[str, Any]]:
        """Compare the step's tokens and cost with the median of earlier runs' steps by the same agent on the same
        model; silent until there are `anomaly_min_samples` of them. Sync: call from a thread."""
        k, need = self.settings.anomaly_k, self.settings.anomaly_min_samples
        baseline = self._baseline(agent, provider, model)
        with self._lock:
            samples = [(t, c) for r, t, c in baseline if r != run_id][:SAMPLES]
            baseline.appendleft((run_id, tokens, cost))
        found: list[dict[str, Any]] = []
        metrics: list[tuple[str, Decimal | None, list[Decimal]]] = [
            ("tokens", Decimal(tokens), [Decimal(t) for t, _ in samples]),
            ("cost_usd", cost, [c for _, c in samples if c is not None]),
        ]
        for metric, value, history in metrics:
            if value is None or len(history) < need:
                continue
            usual = median(history)
            if usual > 0 and value > Decimal(str(k)) * usual:
                found.append({
                    "kind": "step_usage", "step": step, "agent": agent, "provider": provider, "model": model,
                    "metric": metric, "value": float(value), "median": float(usual), "k": k,
                    "samples": len(history), "ratio": round(float(value / usual), 2),
                })
        for data in found:
            self._emit(run_id, data)
        return found

    def _baseline(self, agent: str | None, provider: str, model: str) -> deque[_Sample]:
        key = (agent, provider, model)
        now = time.monotonic()
        cached = self._baselines.get(key)
        if cached is None or now - cached[0] >= self.settings.anomaly_refresh_s:
            # room for this run's own steps, which are left out of its baseline
            rows = self.store.step_samples(agent, provider, model, exclude_run=None, limit=2 * SAMPLES)
            cached = self._baselines[key] = (now, deque(rows, maxlen=2 * SAMPLES))
        return cached[1]

    def check_providers(self, run_id: str, step: str, health: ProviderHealth, providers: list[str]) -> None:
        """Report a provider once when it turns unhealthy (again after it recovered). Sync: call from a thread."""
        for provider in dict.fromkeys(providers):
            stats = health.stats(provider)
            if stats.healthy:
                self._reported_down.discard(provider)
                continue
            if provider in self._reported_down:
                continue
            self._reported_down.add(provider)
            self._emit(run_id, {
                "kind": "provider_unhealthy", "step": step, "provider": provider, "calls": stats.calls,
                "success_rate": stats.success_rate, "cooldown_left_s": round(stats.cooldown_left_s, 1),
            })

    def write_snapshot(self, health: ProviderHealth, force: bool = False) -> None:
        """At most once per `provider_health_write_s`; a failed write is logged, never fails the step."""
        now = time.monotonic()
        if not force and now - self._snapshot_at < self.settings.provider_health_write_s:
            return
        self._snapshot_at = now
        try:
            health.write_snapshot(self.settings.provider_health_file)
        except OSError as exc:
            log.warning("providers.health_snapshot_failed", path=str(self.settings.provider_health_file),
                        error=str(exc))
