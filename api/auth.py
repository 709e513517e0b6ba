"""Who is asking: a bearer token (a local token, or a JWT from the identity provider verified against its JWKS)
or a console session cookie; what their roles let them do. Refusals are `Problem`s (401/403 problem+json)."""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import jwt
import structlog
from starlette.requests import HTTPConnection

from api.problems import Problem
from botarmy.settings import Settings
from store import Store

log = structlog.get_logger(__name__)

ROLES = ("viewer", "operator", "approver", "admin")
# what a role lets its holder do besides itself; admin does everything
IMPLIES: dict[str, frozenset[str]] = {"operator": frozenset({"viewer"}), "approver": frozenset({"viewer"})}
SESSION_COOKIE, CSRF_COOKIE, CSRF_HEADER = "botarmy_session", "botarmy_csrf", "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NOT_SIGNED_IN = "sign in: send `Authorization: Bearer <token>` (create one with `botarmy token create`)"


@dataclass(frozen=True)
class Principal:
    """The signed-in identity of a request."""

    name: str
    roles: tuple[str, ...]
    via: Literal["token", "jwt", "oidc", "session", "auth-off"]
    token_id: str | None = None  # a local token (or the session made from one)
    expires_at: datetime | None = None  # of the credential

    def may(self, role: str) -> bool:
        """Whether these roles cover `role` (admin covers every role, operator and approver cover viewer)."""
        return "admin" in self.roles or any(r == role or role in IMPLIES.get(r, ()) for r in self.roles)


def unauthorized(detail: str) -> Problem:
    return Problem(401, detail, type="urn:botarmy:problem:unauthorized", headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str) -> Problem:
    return Problem(403, detail, type="urn:botarmy:problem:forbidden")


def may_or_403(principal: Principal, role: str, doing: str = "this") -> None:
    if not principal.may(role):
        held = ", ".join(principal.roles) or "none"
        raise forbidden(f"{doing} needs role {role!r}; {principal.name} has {held}")


class JwtVerifier:
    """Bearer JWTs of the identity provider: signature by a key of its JWKS (fetched and cached by PyJWT),
    issuer, audience, expiry; the roles from a configurable claim (a dotted path, e.g. `realm_access.roles`)."""

    def __init__(self, settings: Settings) -> None:
        assert settings.oidc_issuer is not None
        self.issuer = settings.oidc_issuer
        self.audience = settings.oidc_audience
        url = settings.oidc_jwks_url or f"{self.issuer.rstrip('/')}/.well-known/jwks.json"
        self.jwks = jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)
        self.algorithms = list(settings.oidc_algorithms)
        self.roles_claim, self.name_claim = settings.oidc_roles_claim, settings.oidc_name_claim

    def verify(self, token: str) -> Principal:
        """Blocking (the JWKS may be fetched): call it from a thread."""
        return self.principal(self.claims(token, self.jwks, self.audience, "the bearer JWT"), "jwt")

    def claims(self, token: str, jwks: jwt.PyJWKClient, audience: str | None, what: str) -> dict[str, Any]:
        """The claims of `token` once its signature (a key of `jwks`), issuer, audience (when given) and expiry
        check out; else a 401 naming `what` (a 503 when the keys cannot be fetched). Blocking."""
        try:
            key = jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("auth.jwks_unreachable", error=str(exc))
            raise Problem(503, "the identity provider's keys (JWKS) cannot be fetched; retry in a few seconds",
                          headers={"Retry-After": "5"}) from None
        except jwt.PyJWTError as exc:  # no key with that kid, a malformed header
            raise unauthorized(f"{what} is not signed by a key of the identity provider ({exc})") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=self.algorithms, issuer=self.issuer, audience=audience,
                options={"require": ["exp", "iss"], "verify_aud": audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized(f"{what} has expired; sign in again") from None
        except jwt.PyJWTError as exc:
            raise unauthorized(f"{what} is not valid: {exc}") from None
        return claims

    def principal(self, claims: dict[str, Any], via: Literal["jwt", "oidc"]) -> Principal:
        """Who the verified claims name, with the roles of the configured claim."""
        name = claims.get(self.name_claim) or claims.get("sub")
        if not isinstance(name, str) or not name:
            raise unauthorized(f"the identity provider's token has no {self.name_claim!r} claim")
        return Principal(name, _roles_of(_claim(claims, self.roles_claim)), via,
                         expires_at=datetime.fromtimestamp(claims["exp"], UTC))


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _roles_of(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list):
        return ()
    return tuple(dict.fromkeys(r for r in value if isinstance(r, str) and r))


class Authenticator:
    """Resolves the principal of a request; one per app (it holds the JWKS cache)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.enabled = settings.auth
        self.store = store
        self.jwt = JwtVerifier(settings) if settings.oidc_issuer else None

    async def from_bearer(self, credential: str) -> Principal:
        """The principal of a bearer credential (a JWT when it looks like one and a provider is configured)."""
        if self.jwt is not None and credential.count(".") == 2:
            return await asyncio.to_thread(self.jwt.verify, credential)
        # a token read in the last few seconds is verified without a query (nor a hop to a thread); revoking it
        # through this process drops it at once, elsewhere within store.identity.TOKEN_CACHE_S
        token = self.store.identity.cached_token(credential)
        if token is None:
            token = await asyncio.to_thread(self.store.identity.token_by_secret, credential)
        if token is None:
            raise unauthorized("the bearer token is not one this server issued")
        now = datetime.now(UTC)
        if token.revoked_at is not None:
            raise unauthorized("the bearer token has been revoked")
        if not token.usable(now):
            raise unauthorized("the bearer token has expired; create a new one with `botarmy token create`")
        return Principal(token.user, tuple(token.roles), "token", token_id=token.id, expires_at=token.expires_at)

    async def authenticate(self, conn: HTTPConnection, method: str | None) -> Principal:
        """The principal of the request, or a 401 (no credential, a bad or expired one) / 403 (a session
        mutation without its CSRF token). `method` None: a WebSocket (no CSRF: its handshake is a GET)."""
        cached: Principal | None = conn.scope.get("state", {}).get("principal")
        if cached is not None:
            return cached
        principal = await self._resolve(conn, method)
        conn.scope.setdefault("state", {})["principal"] = principal
        return principal

    async def _resolve(self, conn: HTTPConnection, method: str | None) -> Principal:
        if not self.enabled:
            return Principal("local", ("admin",), "auth-off")
        header = conn.headers.get("authorization")
        if header is not None:
            scheme, _, credential = header.partition(" ")
            if scheme.lower() != "bearer" or not credential.strip():
                raise unauthorized("the Authorization header must be `Bearer <token>`")
            return await self.from_bearer(credential.strip())
        session_id = conn.cookies.get(SESSION_COOKIE)
        if not session_id:
            raise unauthorized(NOT_SIGNED_IN)
        session = await asyncio.to_thread(self.store.identity.session, session_id)
        if session is None:
            raise unauthorized("the console session has ended; sign in again")
        if method is not None and method not in SAFE_METHODS:
            sent = conn.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                raise forbidden(f"a change made with the session cookie must carry the {CSRF_COOKIE} cookie's "
                                "value in the X-CSRF-Token header")
        return Principal(session.user, tuple(session.roles), "session", expires_at=session.expires_at)
