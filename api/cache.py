"""A short-lived copy of GET answers that are costly and may be a moment old (GET /health asks Temporal and the
database each time): within `ttl_s` the copy is replayed, and concurrent misses share one computation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class _Entry:
    messages: list[Message] = field(default_factory=list)
    expires: float = 0.0


class TtlCache:
    """Serve GET `ttl_s[path]` (without a query string) from a copy at most that many seconds old. Only 200
    answers are kept; the request that computes a copy answers its own client from it too."""

    def __init__(self, app: ASGIApp, ttl_s: Mapping[str, float]) -> None:
        self.app, self.ttl_s = app, {p: t for p, t in ttl_s.items() if t > 0}
        self._entries: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Future[_Entry | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (scope["type"] != "http" or scope["method"] != "GET" or path not in self.ttl_s
                or scope.get("query_string")):
            await self.app(scope, receive, send)
            return
        entry = self._entries.get(path)
        if entry is None or entry.expires <= time.monotonic():
            entry = await self._refresh(path, scope, receive)
        if entry is None:  # not cacheable (not 200, or it failed): answer this request on its own
            await self.app(scope, receive, send)
            return
        for message in entry.messages:
            await send(message)

    async def _refresh(self, path: str, scope: Scope, receive: Receive) -> _Entry | None:
        pending = self._inflight.get(path)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_Entry | None] = asyncio.get_running_loop().create_future()
        self._inflight[path] = future
        entry: _Entry | None = None
        try:
            captured = _Entry()

            async def capture(message: Message) -> None:
                captured.messages.append(message)

            await self.app(scope, receive, capture)
            start = captured.messages[0] if captured.messages else {}
            if start.get("type") == "http.response.start" and start.get("status") == 200:
                captured.expires = time.monotonic() + self.ttl_s[path]
                entry = self._entries[path] = captured
        finally:
            del self._inflight[path]
            future.set_result(entry)  # waiters fall back to answering on their own when this is None
        return entry
