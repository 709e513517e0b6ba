"""Sign-in for the console (a server-side session behind an HttpOnly cookie, plus a CSRF token for mutations),
who am I, and the admin's view of tokens. `public` holds the one route that needs no sign-in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from api.auth import CSRF_COOKIE, ROLES, SESSION_COOKIE, Principal
from api.deps import Admin, AppState, CurrentUser, StateDep, Viewer
from api.guard import record
from api.oidc import STATE_COOKIE, STATE_COOKIE_PATH, STATE_TTL_S, OidcLogin
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


async def start_session(state: AppState, request: Request, response: Response, principal: Principal,
                        ends_by: datetime | None) -> None:
    """A server-side session for `principal` (ending after session_hours, never after `ends_by`) and its cookies
    on `response`: `botarmy_session` (HttpOnly, SameSite=Strict) and `botarmy_csrf`, whose value every change
    made with the session must carry in `X-CSRF-Token`."""
    request.scope.setdefault("state", {})["principal"] = principal  # the audit row names who signed in
    ttl = timedelta(hours=state.settings.session_hours)
    session_id, csrf, ends = await asyncio.to_thread(
        state.store.identity.create_session, principal.name, list(principal.roles), principal.token_id, ttl,
        ends_by)
    max_age = max(1, int((ends - datetime.now(UTC)).total_seconds()))
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, session_id, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=secure)
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, path="/", httponly=False, samesite="strict",
                        secure=secure)


@public.post("/session", response_model=Me)
async def create_session(body: SignIn, request: Request, response: Response, state: StateDep) -> Me:
    """Trade a token for a console session: sets the `botarmy_session` cookie (HttpOnly, SameSite=Strict) and the
    `botarmy_csrf` cookie, whose value every change made with the session must carry in `X-CSRF-Token`."""
    principal = await state.auth.from_bearer(body.token.strip())
    await start_session(state, request, response, principal, principal.expires_at)
    return _me(principal)


class AuthConfig(BaseModel):
    oidc: bool = Field(description="whether the Sign in page offers the identity provider's sign-in")
    oidc_login_url: str | None = Field(description="where that sign-in starts (a browser navigation)")


@public.get("/config", response_model=AuthConfig)
async def auth_config(state: StateDep) -> AuthConfig:
    """How one signs in here: always with a token; through the identity provider too when `oidc`."""
    configured = state.settings.auth and state.oidc is not None
    return AuthConfig(oidc=configured, oidc_login_url="/auth/oidc/login" if configured else None)


def _oidc(state: AppState) -> OidcLogin:
    login = state.oidc if state.settings.auth else None
    if login is None:
        raise Problem(404, "no identity provider is configured for sign-in (BOTARMY_OIDC_ISSUER and "
                      "BOTARMY_OIDC_CLIENT_ID)")
    return login


@public.get("/oidc/login", status_code=302, response_class=RedirectResponse,
            responses={302: {"description": "to the identity provider's authorize endpoint"}})
async def oidc_login(request: Request, state: StateDep) -> RedirectResponse:
    """Start the sign-in through the identity provider (authorization code with PKCE): a redirect to its
    authorize endpoint, with the state, nonce and code verifier kept in a signed HttpOnly cookie for 10 minutes."""
    login = _oidc(state)
    redirect_uri = state.settings.oidc_redirect_url or str(request.url_for("oidc_callback"))
    started = await login.start(redirect_uri)
    out = RedirectResponse(started.authorize_url, status_code=302, headers={"Cache-Control": "no-store"})
    # Lax, not Strict: the provider's redirect back is a cross-site navigation, which must carry this cookie
    out.set_cookie(STATE_COOKIE, started.cookie, max_age=STATE_TTL_S, path=STATE_COOKIE_PATH, httponly=True,
                   samesite="lax", secure=request.url.scheme == "https")
    return out


@public.get("/oidc/callback", status_code=303, response_class=RedirectResponse,
            responses={303: {"description": "signed in: to the console, with the session cookies set"}})
async def oidc_callback(
    request: Request, state: StateDep,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state_: Annotated[str | None, Query(alias="state", max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
    error_description: Annotated[str | None, Query(max_length=1024)] = None,
) -> RedirectResponse:
    """Where the identity provider sends the browser back: the code is exchanged, the ID token verified (JWKS,
    issuer, audience = our client id, expiry, nonce), its roles claim mapped, and a console session started
    exactly as `POST /auth/session` does; then a redirect to the console. Audited, refusals included."""
    login = _oidc(state)
    params = {k: v for k, v in (("code", code), ("state", state_), ("error", error),
                                ("error_description", error_description)) if v is not None}
    try:
        principal = await login.finish(request.cookies.get(STATE_COOKIE), params)
    except Problem as refused:
        await record(request.scope, "oidc_callback", refused.status, target=None, detail=refused.detail)
        raise
    out = RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
    # the session's life is ours (session_hours), not the ID token's, which only says how long it may be accepted
    await start_session(state, request, out, principal, None)
    out.delete_cookie(STATE_COOKIE, path=STATE_COOKIE_PATH, httponly=True, samesite="lax")
    await record(request.scope, "oidc_callback", 303, target=None, principal=principal)
    return out


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
