"""Store calls from activities that ride out a database outage (a PostgreSQL restart, a failover).

A connection error is retried here, with backoff and heartbeats, for up to `outage_s`, instead of failing the
attempt: Temporal's attempts are for the model, and a database restart must not use them up. Store writes are
idempotent, so repeating one is safe. Past the window the error is raised as `StoreUnavailable` (retryable).
With `inline` (SQLite, no network I/O in the call) the call runs on the loop when it can (store/inline.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from store.inline import call, inline_calls
from store.outage import is_outage

__all__ = ["db_call", "inline_calls", "is_outage", "store_unavailable"]
T = TypeVar("T")
log = structlog.get_logger(__name__)


def store_unavailable(exc: BaseException) -> ApplicationError:
    return ApplicationError(f"database unavailable: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                            type="StoreUnavailable")


async def db_call(fn: Callable[..., T], *args: Any, outage_s: float = 60.0, inline: bool = False) -> T:
    deadline = time.monotonic() + outage_s
    delay = 0.25
    while True:
        try:
            return await call(fn, *args, inline=inline)
        except Exception as exc:
            if not is_outage(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("store.unavailable", error=str(exc).splitlines()[0], retry_in_s=delay)
            if activity.in_activity():
                activity.heartbeat("waiting for the database")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4.0)
