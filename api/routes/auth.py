"""Sign-in for the console (a server-side session behind an HttpOnly cookie, plus a CSRF token for mutations),
who am I, and the admin's view of tokens. `public` holds the one route that needs no sign-in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.auth import CSRF_COOKIE, ROLES, SESSION_COOKIE, Principal
from api.deps import Admin, CurrentUser, StateDep, Viewer
from api.problems import PROBLEM_RESPONSES, Problem
from store.identity import TokenRow

public = APIRouter(prefix="/auth", tags=["auth"], responses=PROBLEM_RESPONSES)
router = APIRouter(prefix="/auth", tags=["auth"], responses=PROBLEM_RESPONSES)
ROLE_PATTERN = r"^[a-z][a-z0-9_.-]{0,99}$"


class SignIn(BaseModel):
    token: str = Field(min_length=1, max_length=8192, description="a bearer token or an identity provider's JWT")


class Me(BaseModel):
    name: str
    roles: list[str]


def _me(p: Principal) -> Me:
    return Me(name=p.name, roles=list(p.roles))


@public.post("/session", response_model=Me)
async def create_session(body: SignIn, request: Request, response: Response, state: StateDep) -> Me:
    """Trade a token for a console session: sets the `botarmy_session` cookie (HttpOnly, SameSite=Strict) and the
    `botarmy_csrf` cookie, whose value every change made with the session must carry in `X-CSRF-Token`."""
    principal = await state.auth.from_bearer(body.token.strip())
    request.scope.setdefault("state", {})["principal"] = principal  # the audit row names who signed in
    ttl = timedelta(hours=state.settings.session_hours)
    session_id, csrf, ends = await asyncio.to_thread(
        state.store.identity.create_session, principal.name, list(principal.roles), principal.token_id, ttl,
        principal.expires_at)
    max_age = max(1, int((ends - datetime.now(UTC)).total_seconds()))
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, session_id, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=secure)
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, path="/", httponly=False, samesite="strict",
                        secure=secure)
    return _me(principal)


@router.get("/me", response_model=Me, dependencies=[Viewer])
async def me(user: CurrentUser) -> Me:
    """The signed-in identity and its roles."""
    return _me(user)


@router.delete("/session", status_code=204, response_class=Response, dependencies=[Viewer])
async def delete_session(request: Request, response: Response, state: StateDep) -> Response:
    """Sign out: the session ends on the server and both cookies are cleared."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await asyncio.to_thread(state.store.identity.end_session, session_id)
    out = Response(status_code=204)
    out.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    out.delete_cookie(CSRF_COOKIE, path="/", samesite="strict")
    return out


class TokenInfo(BaseModel):
    id: str
    user: str
    roles: list[str]
    created_at: str
    expires_at: str | None
    revoked_at: str | None


class TokenCreate(BaseModel):
    user: str = Field(min_length=1, max_length=255, pattern=r"^[^\s/]+$")
    roles: list[Annotated[str, Field(pattern=ROLE_PATTERN)]] = Field(min_length=1, max_length=20)
    expires_days: float | None = Field(default=None, gt=0, le=3650)


class TokenCreated(TokenInfo):
    token: str = Field(description="the secret, shown this once; only its hash is stored")


def token_info(t: TokenRow) -> TokenInfo:
    iso = lambda d: d.isoformat() if d else None  # noqa: E731
    return TokenInfo(id=t.id, user=t.user, roles=t.roles, created_at=t.created_at.isoformat(),
                     expires_at=iso(t.expires_at), revoked_at=iso(t.revoked_at))


@router.get("/tokens", response_model=list[TokenInfo], dependencies=[Admin])
async def list_tokens(state: StateDep, user: str | None = None) -> list[TokenInfo]:
    """Every token (never its secret), oldest first; `user` to see one person's."""
    return [token_info(t) for t in await asyncio.to_thread(state.store.identity.list_tokens, user)]


@router.post("/tokens", status_code=201, response_model=TokenCreated, dependencies=[Admin])
async def create_token(body: TokenCreate, state: StateDep) -> TokenCreated:
    """A new token for `user` (created if new). Roles: viewer, operator, approver, admin, or a step's approver
    role named in a run's `approve: {agent: role}`."""
    expires = datetime.now(UTC) + timedelta(days=body.expires_days) if body.expires_days else None
    secret, row = await asyncio.to_thread(state.store.identity.create_token, body.user, body.roles, expires)
    return TokenCreated(token=secret, **token_info(row).model_dump())


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response, dependencies=[Admin])
async def revoke_token(token_id: str, state: StateDep, user: CurrentUser) -> Response:
    """Revoke a token; the console sessions made from it end too. 404 for no such live token; 409 for the token
    this request is signed in with (revoke it from another sign-in, or with `botarmy token revoke`)."""
    if token_id == user.token_id:
        raise Problem(409, "this request is signed in with that token; revoke it from another sign-in")
    if not await asyncio.to_thread(state.store.identity.revoke, token_id):
        raise Problem(404, f"no live token {token_id!r}")
    return Response(status_code=204)


__all__ = ["ROLES", "public", "router"]
