"""Run events: stored in the database with a sequence number, then announced on the in-process bus and through
Redis when configured.

Redis is best effort: when it is down, events still land in the database (the API's streams read from there)
and the sink says so in its `redis_ok` flag and the logs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from temporalio import activity

from store import Store
from store.bus import bus
from workflows.contracts import EventInput, event_channel

log = structlog.get_logger(__name__)


class EventSink:
    def __init__(self, store: Store, redis_url: str | None = None) -> None:
        self.store = store
        self.redis_url = redis_url
        self.redis_ok: bool | None = None
        self._redis: Any = None

    def _client(self) -> Any:
        if self._redis is None and self.redis_url:
            import redis

            self._redis = redis.Redis.from_url(self.redis_url, socket_timeout=1, socket_connect_timeout=1)
        return self._redis

    def emit(self, run_id: str, type_: str, data: dict[str, Any]) -> int:
        """Store the event (sync; call from a thread) and publish it; returns its sequence number."""
        seq = self.store.append_event(run_id, type_, data)
        self.publish(run_id, seq, type_, data)
        return seq

    def publish(self, run_id: str, seq: int, type_: str, data: dict[str, Any]) -> None:
        """Fan out an event already stored with `seq` (sync; call from a thread): followers in this process wake at
        once through the in-process bus, those in other processes through Redis when it is set (else their API's
        watcher sees the new row in the table, see api/events.py)."""
        bus.notify(run_id)
        client = self._client()
        if client is not None:
            payload = json.dumps({"run_id": run_id, "seq": seq, "type": type_, "data": data}, default=str)
            try:
                client.publish(event_channel(run_id), payload)
                self.redis_ok = True
            except Exception as exc:  # noqa: BLE001 - any Redis failure degrades to database-only events
                if self.redis_ok is not False:
                    log.warning("events.redis_unavailable", error=str(exc), run_id=run_id)
                self.redis_ok = False

    async def aemit(self, run_id: str, type_: str, data: dict[str, Any]) -> int:
        return await asyncio.to_thread(self.emit, run_id, type_, data)


class EventActivities:
    def __init__(self, sink: EventSink) -> None:
        self.sink = sink

    @activity.defn(name="emit_event")
    async def emit_event(self, inp: EventInput) -> int | None:
        if inp.key is None:
            return await self.sink.aemit(inp.run_id, inp.type, inp.data)
        data = {**inp.data, "event_key": inp.key}
        seq = await asyncio.to_thread(self.sink.store.append_event_once, inp.run_id, inp.type, data,
                                      {"event_key": inp.key})
        if seq is not None:
            await asyncio.to_thread(self.sink.publish, inp.run_id, seq, inp.type, data)
        return seq
