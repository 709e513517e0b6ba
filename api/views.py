"""Copies of GET answers read from the database, kept while the database has not changed (store/stamp.py).

Fifty people watching the console ask for the same run pages over and over, and between two steps of a run
nothing those pages show has changed. A copy is made of a 200 answer of a route listed here, keyed by the path,
the query string and who asked (name and roles: an answer may depend on the principal), and tagged with the
database's change stamp read *before* the answer was computed. It is replayed only while the stamp is still the
same, so a copy is never older than the database: a commit by any process (a worker, the CLI, the other server
process) moves the stamp and the next request computes the answer again. The sign-in and roles are checked for
every request (this sits inside the guard), only the route's own work is skipped.

An answer that shows more than the database (a running run's page asks its workflow for its pending approvals)
sends `Cache-Control: no-store` and is not kept."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store.stamp import ChangeStamp

# routes whose answer is the database's alone (a running run's page says so itself, see above)
VIEW_PATHS = ("/runs", "/runs/{run_id}", "/runs/{run_id}/artifacts", "/runs/{run_id}/artifacts/{name:path}")
MAX_ENTRIES = 2048
MAX_BODY_BYTES = 256 * 1024  # a bigger answer is computed each time (a whole document, a long audit page)


@dataclass
class _Copy:
    stamp: object
    messages: list[Message]
    size: int


class ViewCache:
    """ASGI middleware: replay a kept copy of a GET answer of one of `paths` (route templates) while the
    database's change stamp has not moved since the copy was computed."""

    def __init__(self, app: ASGIApp, paths: Iterable[str], max_entries: int = MAX_ENTRIES) -> None:
        self.app, self.max_entries = app, max_entries
        self.routes = [compile_path(p)[0] for p in paths]
        self._copies: OrderedDict[tuple[object, ...], _Copy] = OrderedDict()
        # answers being computed, by key and stamp: a request that finds one waits for it instead of computing the
        # same answer again (fifty clients on a page that just changed make one computation, not fifty)
        self._pending: dict[tuple[object, ...], asyncio.Future[_Copy | None]] = {}
        self.hits = self.shared = self.misses = 0

    def _listed(self, path: str) -> bool:
        return any(regex.match(path) for regex in self.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not self._listed(scope["path"]):
            await self.app(scope, receive, send)
            return
        changes: ChangeStamp = scope["app"].state.botarmy.store.stamp
        if changes.kind == "none":
            await self.app(scope, receive, send)
            return
        who = scope.get("state", {}).get("principal")
        key = (scope["path"], scope.get("query_string", b""), getattr(who, "name", None), getattr(who, "roles", ()))
        try:
            stamp = changes.read() if changes.cheap else await asyncio.to_thread(changes.read)
        except Exception:  # noqa: BLE001 - the database is not answering: the route says so in its own words
            await self.app(scope, receive, send)
            return
        copy = self._copies.get(key)
        if copy is not None and copy.stamp == stamp:
            self.hits += 1
            self._copies.move_to_end(key)
            await _replay(copy, send)
            return
        pending_key = (*key, stamp)
        pending = self._pending.get(pending_key)
        if pending is not None and (copy := await asyncio.shield(pending)) is not None:
            self.shared += 1
            await _replay(copy, send)
            return
        self.misses += 1
        future: asyncio.Future[_Copy | None] = asyncio.get_running_loop().create_future()
        self._pending[pending_key] = future
        copy = None
        try:
            copy = await self._compute(scope, receive, send, stamp)
        finally:
            if self._pending.get(pending_key) is future:
                del self._pending[pending_key]
            future.set_result(copy)  # None (not kept, or it failed): the waiters compute their own
        if copy is not None:
            self._copies[key] = copy
            self._copies.move_to_end(key)
            while len(self._copies) > self.max_entries:
                self._copies.popitem(last=False)

    async def _compute(self, scope: Scope, receive: Receive, send: Send, stamp: object) -> _Copy | None:
        """Answer the request, and return a copy of the answer when it may be kept."""
        messages: list[Message] = []
        size = 0
        keep = True

        async def capture(message: Message) -> None:
            nonlocal size, keep
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                keep = message.get("status") == 200 and b"no-store" not in headers.get(b"cache-control", b"")
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
                keep = keep and size <= MAX_BODY_BYTES
            if keep:
                messages.append(message)
            await send(message)

        await self.app(scope, receive, capture)
        return _Copy(stamp, messages, size) if keep and messages and stamp is not None else None


async def _replay(copy: _Copy, send: Send) -> None:
    for message in copy.messages:
        await send(message)
