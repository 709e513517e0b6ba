"""The CLI's edge: what is wrong with the world (a server that does not answer, a setting that does not parse)
as one line naming the address or variable and what to do, instead of a traceback."""

from __future__ import annotations

import os

from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from temporalio.service import RPCError, RPCStatusCode

from botarmy.devserver import DevServerError
from botarmy.temporal import TemporalUnreachable
from providers.types import ModelConfigError

START_TEMPORAL = "start it (`botarmy dev --detach`) or set TEMPORAL_ADDRESS to a server that runs"


def _database_url() -> str:
    from botarmy.settings import Settings

    raw = os.environ.get("DATABASE_URL")
    url = raw or str(Settings.model_fields["database_url"].default)
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _temporal_address() -> str:
    return os.environ.get("TEMPORAL_ADDRESS") or "127.0.0.1:7233"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text).rstrip(".")


def _settings_line(exc: ValidationError) -> str:
    from botarmy.settings import Settings

    parts = []
    for e in exc.errors():
        field = str(e["loc"][0]) if e["loc"] else "?"
        info = Settings.model_fields.get(field)
        alias = getattr(info.validation_alias, "choices", None) if info else None
        name = str(alias[0]) if alias else f"BOTARMY_{field.upper()}"
        parts.append(f"{name}={e.get('input')!r}: {e['msg']}")
    return "; ".join(parts) + "; fix or unset it"


def explain(exc: BaseException) -> str | None:
    """The one line for a known failure of the environment, or None for anything else (a bug: let it show)."""
    if isinstance(exc, TemporalUnreachable):
        return f"no Temporal server answers at {exc.address} ({exc.detail}): {START_TEMPORAL}"
    if isinstance(exc, RPCError) and exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return f"Temporal at {_temporal_address()} stopped answering ({_first_line(exc.message)}): {START_TEMPORAL}"
    if isinstance(exc, ArgumentError):
        raw = os.environ.get("DATABASE_URL")
        return (f"DATABASE_URL={raw!r} is not a database URL ({_first_line(str(exc))}): use "
                "sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB, or unset it for .botarmy/botarmy.db")
    if isinstance(exc, (OperationalError, SAInterfaceError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        detail = _first_line(str(getattr(exc, "orig", None) or exc))
        url = _database_url()
        if url.startswith("sqlite"):
            return f"the database at {url} cannot be opened ({detail}): check the path, or set DATABASE_URL"
        return f"the database at {url} does not answer ({detail}): start it or set DATABASE_URL"
    if isinstance(exc, OSError) and exc.filename and _database_url().startswith("sqlite") and \
            str(exc.filename) in _database_url():  # the SQLite file's folder cannot be made or opened
        return (f"the database at {_database_url()} cannot be opened ({exc.strerror}: {exc.filename}): check the "
                "path, or set DATABASE_URL")
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return _settings_line(exc)
    if isinstance(exc, ModelConfigError):
        return str(exc)
    if isinstance(exc, DevServerError):
        return str(exc)
    return None
