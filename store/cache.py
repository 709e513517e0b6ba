"""Documents kept in memory by content hash, so a step reads the inputs its worker just wrote without a query."""

from __future__ import annotations

import threading
from collections import OrderedDict

# per process: a pipeline's documents are read by the next few steps, usually on the worker that wrote them
CONTENT_CACHE_BYTES = 64 * 1024 * 1024


class ContentCache:
    """Content by sha256, least recently used out first, at most `max_bytes` in all (a document larger than a
    quarter of that is not kept). Content addressed by its hash never changes, so a hit is always right, whichever
    process wrote it. Thread-safe: the store is called from worker threads."""

    def __init__(self, max_bytes: int = CONTENT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sha256: str) -> bytes | None:
        with self._lock:
            content = self._items.get(sha256)
            if content is not None:
                self._items.move_to_end(sha256)
            return content

    def put(self, sha256: str, content: bytes) -> None:
        if len(content) > self.max_bytes // 4:
            return
        with self._lock:
            if sha256 in self._items:
                self._items.move_to_end(sha256)
                return
            self._items[sha256] = content
            self.bytes += len(content)
            while self.bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)
