"""The door of every route: who asks (before the body is read or validated), whether their roles let them, and
an audit row for every mutating request, refusals included. `include()` registers a router's routes with it;
`public=True` ones skip the sign-in check (health probes, sign-in, the console's static files) but are still
audited when they change something."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, params
from fastapi.routing import APIWebSocketRoute
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import SAFE_METHODS, Authenticator, Principal, may_or_403
from api.problems import PROBLEM_RESPONSES, Problem, database_unavailable, problem_response
from store.outage import is_outage

log = structlog.get_logger(__name__)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def required_roles(route: BaseRoute) -> list[str]:
    """The roles a route's `require(role)` dependencies name (api/deps.py marks them)."""
    deps: Iterable[params.Depends] = getattr(route, "dependencies", ())
    return [role for d in deps if (role := getattr(d.dependency, "required_role", None))]


def outcome_of(status: int) -> str:
    if status in (401, 403):
        return "refused"
    return "ok" if status < 400 else "rejected" if status < 500 else "failed"


class _Ids:
    """Request ids unique across processes without a syscall per request: a random 64-bit prefix drawn once per
    process (again in a forked child) and a counter. `uuid4()` per request read os.urandom, which releases the
    GIL: under load the event loop then waited for the store threads to hand it back (py-spy: ~15 % of the
    loop's samples at 50 clients)."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix, self.counter = uuid.uuid4().hex[:16], itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


_ids = _Ids()


def request_id(scope: Scope) -> str:
    """The caller's X-Request-ID when it is a sane one, else a new id; kept in the scope for the audit."""
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        sent = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        state["request_id"] = sent if REQUEST_ID.match(sent) else _ids.next()
    rid: str = state["request_id"]
    return rid


def target_of(scope: Scope) -> str | None:
    path_params: dict[str, Any] = scope.get("path_params") or {}
    return "/".join(str(v) for v in path_params.values()) or None


async def record(scope: Scope, action: str, status: int, *, target: str | None = None,
                 detail: str | None = None, principal: Principal | None = None) -> None:
    """One audit row for this request (a bulk route calls it once per item). Never fails the request: a row that
    cannot be written is logged (the database outage answers 503 elsewhere)."""
    state = scope.get("state", {})
    who: Principal | None = principal or state.get("principal")
    entry = {
        "user_name": who.name if who else None, "roles": list(who.roles) if who else [], "action": action,
        "target": (target if target is not None else target_of(scope)), "method": scope.get("method", "WS"),
        "path": scope.get("path", "")[:2000], "request_id": request_id(scope), "status": status,
        "outcome": outcome_of(status), "detail": detail,
    }
    try:
        await asyncio.to_thread(scope["app"].state.botarmy.store.identity.audit, entry)
    except SQLAlchemyError as exc:
        log.error("audit.write_failed", action=action, status=status, error=str(exc).splitlines()[0])


@dataclass(frozen=True)
class Rule:
    """What one route asks of a request: sign-in (unless public), roles, and the audit's action name."""

    regex: re.Pattern[str]
    methods: frozenset[str]  # "WS" for a WebSocket route
    public: bool
    roles: tuple[str, ...]
    action: str


class Rules:
    """The app's routes as the guard sees them, registered by `include()`. Kept apart from FastAPI's routing
    (whose internals change between versions): a request no rule matches still needs a valid sign-in."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []

    def add(self, route: BaseRoute, public: bool, floor: str | None) -> None:
        path: str = getattr(route, "path", "")
        methods = frozenset({"WS"}) if isinstance(route, APIWebSocketRoute) else frozenset(
            getattr(route, "methods", None) or ())
        roles = tuple(dict.fromkeys([*([floor] if floor else []), *required_roles(route)]))
        if not public and not roles:
            raise RuntimeError(f"route {path} is neither public nor behind a require(role) dependency")
        self.rules.append(Rule(compile_path(path)[0], methods, public, roles, getattr(route, "name", "") or path))

    def public_path(self, path: str, methods: Iterable[str] = ("GET", "HEAD")) -> None:
        """A path outside any router (a mount, the docs) that needs no sign-in."""
        self.rules.append(Rule(compile_path(path)[0], frozenset(methods), True, (), path))

    def match(self, path: str, method: str) -> tuple[Rule | None, dict[str, str]]:
        for rule in self.rules:
            if method in rule.methods and (m := rule.regex.match(path)):
                return rule, m.groupdict()
        return None, {}


def rules_of(app: FastAPI) -> Rules:
    if not hasattr(app.state, "guard_rules"):
        app.state.guard_rules = Rules()
    rules: Rules = app.state.guard_rules
    return rules


def include(app: FastAPI, router: APIRouter, *, public: bool = False, role: str | None = None) -> None:
    """`app.include_router(router)`; its routes need a sign-in with `role` at least (and the roles their own
    `require` dependencies name), or nothing when `public`."""
    from api.deps import require  # deps imports auth, which the guard shares: imported late to keep one direction

    rules = rules_of(app)
    for route in router.routes:
        rules.add(route, public, role)
    app.include_router(router, dependencies=[require(role)] if role else [],
                       responses={} if public else {k: PROBLEM_RESPONSES[k] for k in (401, 403)})


class Guard:
    """ASGI middleware: sign-in and roles checked before the route reads its body; audit rows for mutations."""

    def __init__(self, app: ASGIApp, rules: Rules) -> None:
        self.app, self.rules = app, rules

    async def _check(self, scope: Scope, rule: Rule | None, method: str | None) -> None:
        if rule is not None and rule.public:
            return
        auth: Authenticator = scope["app"].state.botarmy.auth
        try:
            principal = await auth.authenticate(HTTPConnection(scope), method)
        except SQLAlchemyError as exc:  # tokens and sessions live in the database
            if not is_outage(exc):
                raise
            raise database_unavailable(exc) from None
        for role in rule.roles if rule else ():
            may_or_403(principal, role, f"{method or 'WS'} {scope.get('path')}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            rule, _ = self.rules.match(scope["path"], "WS")
            try:
                await self._check(scope, rule, None)
            except Problem as p:  # closing before accepting refuses the handshake
                await send({"type": "websocket.close", "code": 4000 + p.status, "reason": p.detail[:120]})
                return
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        rule, params = self.rules.match(scope["path"], method)
        mutating = method not in SAFE_METHODS
        rid = request_id(scope)
        action = rule.action if rule else "unrouted"
        target = "/".join(params.values()) or None
        refusal: str | None = None

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
                if mutating:  # the row is written before the client hears the outcome
                    await record(scope, action, message["status"], target=target, detail=refusal)
            await send(message)

        try:
            await self._check(scope, rule, method)
        except Problem as p:
            refusal = p.detail
            response = problem_response(p.status, p.detail, title=p.title, type=p.type, instance=scope.get("path"),
                                        headers=p.headers)
            await response(scope, receive, sending)
            return
        try:
            await self.app(scope, receive, sending)
        except Exception:
            if mutating:
                await record(scope, action, 500, target=target, detail="the server failed; see its log")
            raise
