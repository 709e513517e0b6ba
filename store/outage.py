"""Tells a database that cannot be reached (a restart, a failover, a wrong address) from a query that is wrong:
activities ride the first out (activities/storecalls.py), the API answers it with 503 (api/problems.py)."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError


def is_outage(exc: BaseException) -> bool:
    """The database could not be reached (as opposed to a query that is wrong)."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


__all__ = ["is_outage"]
