"""Shared dependencies: the app state (settings, store, catalog, a lazily connected Temporal client)."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated

import structlog
from fastapi import Depends, params
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator
from starlette.requests import HTTPConnection
from temporalio.client import Client

from api.auth import Authenticator, Principal, may_or_403
from api.oidc import OidcLogin, configured
from api.problems import Problem, TemporalUnavailable
from bmad import Catalog, load_bmad
from botarmy.settings import Settings
from botarmy.temporal import connect, ensure_search_attributes
from store import RunView, Store

log = structlog.get_logger(__name__)
CONNECT_TIMEOUT_S = 5.0


class AppState:
    """What every request shares. Nothing here does I/O until first needed (or `open()` in the lifespan)."""

    def __init__(self, settings: Settings, bmad_dirs: Sequence[Path | str], store: Store | None = None) -> None:
        self.settings = settings
        self.bmad_dirs = [Path(d) for d in bmad_dirs]
        self._store = store
        self._owns_store = store is None
        self._catalog: Catalog | None = None
        self._catalog_lock = threading.Lock()
        self._client: Client | None = None
        self._client_lock: asyncio.Lock | None = None
        self._auth: Authenticator | None = None
        self._oidc: OidcLogin | None = None

    @property
    def auth(self) -> Authenticator:
        if self._auth is None:
            self._auth = Authenticator(self.settings, self.store)
        return self._auth

    @property
    def oidc(self) -> OidcLogin | None:
        """The console's sign-in through the identity provider, when one is configured (issuer and client id)."""
        if self._oidc is None and configured(self.settings) and self.auth.jwt is not None:
            self._oidc = OidcLogin(self.settings, self.auth.jwt)
        return self._oidc

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.settings.database_url)
        return self._store

    @property
    def catalog(self) -> Catalog:
        with self._catalog_lock:
            if self._catalog is None:
                self._catalog = load_bmad(self.bmad_dirs)
            return self._catalog

    @property
    def loaded_catalog(self) -> Catalog | None:
        """The catalog if it is loaded already (no file I/O, no lock: replacing it is one assignment)."""
        return self._catalog

    def reload_catalog(self) -> Catalog:
        catalog = load_bmad(self.bmad_dirs)
        with self._catalog_lock:
            self._catalog = catalog
        return catalog

    async def open(self) -> None:
        await asyncio.to_thread(self.store.migrate)
        await asyncio.to_thread(lambda: self.catalog)

    def close(self) -> None:
        if self._owns_store and self._store is not None:
            self._store.close()

    async def temporal(self) -> Client:
        """The Temporal client, connected on first need; raises TemporalUnavailable (503) when it cannot be."""
        if self._client is not None:
            return self._client
        if self._client_lock is None:
            self._client_lock = asyncio.Lock()
        async with self._client_lock:
            if self._client is None:
                address = self.settings.temporal_address
                try:
                    client = await asyncio.wait_for(
                        connect(address, self.settings.temporal_namespace), CONNECT_TIMEOUT_S
                    )
                    await asyncio.wait_for(ensure_search_attributes(client), CONNECT_TIMEOUT_S)
                except (TimeoutError, RuntimeError, OSError) as err:
                    log.warning("api.temporal_unavailable", address=address, error=str(err))
                    raise TemporalUnavailable(f"{address}: {err or type(err).__name__}") from err
                self._client = client
            return self._client


# The dependencies are `async def` although they do no I/O: FastAPI runs a plain `def` dependency in its thread
# pool, and under load each such hop cost more than the request's own work.


async def get_state(conn: HTTPConnection) -> AppState:
    state: AppState = conn.app.state.botarmy
    return state


async def get_settings(state: Annotated[AppState, Depends(get_state)]) -> Settings:
    return state.settings


async def get_store(state: Annotated[AppState, Depends(get_state)]) -> Store:
    return state.store


async def get_catalog(state: Annotated[AppState, Depends(get_state)]) -> Catalog:
    if state.loaded_catalog is not None:
        return state.loaded_catalog
    return await asyncio.to_thread(lambda: state.catalog)  # the first load reads files


async def get_temporal(state: Annotated[AppState, Depends(get_state)]) -> Client:
    return await state.temporal()


StateDep = Annotated[AppState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
TemporalDep = Annotated[Client, Depends(get_temporal)]


RunId = Annotated[str, PathParam(min_length=1, max_length=100)]

_ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}([Tt ].+)?")


def _iso_8601_only(value: object) -> object:
    # pydantic would also take a number as seconds since 1970 ("0.5" is then a time): refused, so that a client
    # passing a duration or a typo learns it at once instead of getting totals since 1970
    if isinstance(value, str) and not _ISO_8601.fullmatch(value.strip()):
        raise ValueError("must be an ISO 8601 date-time such as 2026-01-31T09:00:00Z (not a number or a duration)")
    return value


Since = Annotated[datetime, BeforeValidator(_iso_8601_only)]  # a query's date-time: ISO 8601 only


def get_view(store: Store, run_id: str) -> RunView:
    """The stored run, or a 404 problem (sync: call it from a thread)."""
    view = store.get_run(run_id)
    if view is None:
        raise Problem(404, f"no run {run_id!r}")
    return view


async def get_run_view(run_id: RunId, state: Annotated[AppState, Depends(get_state)]) -> RunView:
    return await asyncio.to_thread(get_view, state.store, run_id)


RunDep = Annotated[RunView, Depends(get_run_view)]  # the run named by the path's {run_id}; 404 when there is none


# Who asks. api/guard.py has authenticated the request before the body was read (the principal is in the scope's
# state); these dependencies hand it to the route, and mark the route's role for the guard and the OpenAPI
# document (a bearer security scheme).
_bearer = HTTPBearer(auto_error=False, description="a token from `botarmy token create`, or a JWT of the identity "
                     "provider; the console signs in with POST /auth/session and sends its session cookie instead")


async def get_current_user(
    conn: HTTPConnection, state: Annotated[AppState, Depends(get_state)],
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    return await state.auth.authenticate(conn, conn.scope.get("method"))


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def require(role: str) -> params.Depends:
    """A dependency admitting only principals whose roles cover `role` (403 otherwise), giving the principal:
    `dependencies=[require("operator")]` or `user: Annotated[Principal, require("admin")]`."""

    async def check(user: CurrentUser) -> Principal:
        may_or_403(user, role)
        return user

    check.required_role = role  # type: ignore[attr-defined]  # read by api/guard.py
    check.__name__ = f"require_{role}"
    return Depends(check)


Viewer, Operator, Approver, Admin = require("viewer"), require("operator"), require("approver"), require("admin")
