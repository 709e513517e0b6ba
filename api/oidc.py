"""Console sign-in through the identity provider: the OpenID Connect authorization-code flow with PKCE (RFC 7636).
The state, nonce and code verifier ride in a short-lived signed HttpOnly cookie (a JWT, HS256), so any API replica
can finish a sign-in another started; the ID token is verified like a bearer JWT (api/auth.py: JWKS, issuer,
expiry) plus its audience (our client id) and nonce."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import structlog

from api.auth import JwtVerifier, Principal, unauthorized
from api.problems import Problem
from botarmy.settings import Settings

log = structlog.get_logger(__name__)
STATE_COOKIE, STATE_COOKIE_PATH = "botarmy_oidc", "/auth/oidc"
STATE_TTL_S = 600  # a sign-in not finished in 10 minutes starts again
DISCOVERY_TTL_S = 3600.0
HTTP_TIMEOUT_S = 10.0
START_AGAIN = "start again from the Sign in page"


def configured(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_client_id)


@dataclass(frozen=True)
class Provider:
    """What the discovery document says about the identity provider."""

    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_methods: tuple[str, ...]


@dataclass(frozen=True)
class Started:
    authorize_url: str  # where the browser goes now
    cookie: str  # the signed state cookie's value


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class OidcLogin:
    """One per app: the discovery document and the provider's JWKS are cached here."""

    def __init__(self, settings: Settings, verifier: JwtVerifier) -> None:
        assert settings.oidc_issuer and settings.oidc_client_id
        self.issuer, self.client_id = settings.oidc_issuer, settings.oidc_client_id
        self.secret, self.scopes = settings.oidc_client_secret, settings.oidc_scopes
        self.jwks_url, self.verifier = settings.oidc_jwks_url, verifier
        if self.secret:  # every replica shares the client secret, so each can check the cookie another signed
            self._key = hmac.new(self.secret.encode(), b"botarmy-oidc-state", hashlib.sha256).digest()
        else:
            self._key = secrets.token_bytes(32)
            log.info("oidc.state_key_per_process", why="no client secret: a sign-in must end on the replica "
                     "that started it")
        self._provider: Provider | None = None
        self._fetched_at = 0.0
        self._jwks: jwt.PyJWKClient | None = None

    async def provider(self) -> Provider:
        if self._provider is not None and time.monotonic() - self._fetched_at < DISCOVERY_TTL_S:
            return self._provider
        url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
                answer = await client.get(url, headers={"Accept": "application/json"})
            answer.raise_for_status()
            doc: dict[str, Any] = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("oidc.discovery_failed", url=url, error=str(exc))
            raise Problem(503, f"the identity provider's discovery document {url} cannot be read; retry in a "
                          "few seconds", headers={"Retry-After": "5"}) from None
        if doc.get("issuer") != self.issuer:
            raise Problem(502, f"the identity provider at {url} names issuer {doc.get('issuer')!r}, not "
                          f"{self.issuer!r}: set BOTARMY_OIDC_ISSUER to the provider's issuer")
        try:
            provider = Provider(doc["authorization_endpoint"], doc["token_endpoint"], doc["jwks_uri"],
                                tuple(doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]))
        except KeyError as missing:
            raise Problem(502, f"the identity provider's discovery document {url} has no {missing}") from None
        if self._provider is None or provider.jwks_uri != self._provider.jwks_uri:
            self._jwks = jwt.PyJWKClient(self.jwks_url or provider.jwks_uri, cache_keys=True, lifespan=300,
                                         timeout=5)
        self._provider, self._fetched_at = provider, time.monotonic()
        return provider

    async def start(self, redirect_uri: str) -> Started:
        """The authorize URL (code flow, PKCE S256, state, nonce) and the cookie that remembers them."""
        provider = await self.provider()
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        query = urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
            "scope": self.scopes, "state": state, "nonce": nonce,
            "code_challenge": _challenge(verifier), "code_challenge_method": "S256",
        })
        sep = "&" if "?" in provider.authorization_endpoint else "?"
        cookie = jwt.encode({"state": state, "nonce": nonce, "verifier": verifier, "redirect_uri": redirect_uri,
                             "exp": int(time.time()) + STATE_TTL_S}, self._key, algorithm="HS256")
        return Started(f"{provider.authorization_endpoint}{sep}{query}", cookie)

    def _remembered(self, cookie: str | None) -> dict[str, str]:
        if not cookie:
            raise Problem(400, f"this sign-in was not started in this browser (no {STATE_COOKIE} cookie); "
                          + START_AGAIN)
        try:
            remembered: dict[str, str] = jwt.decode(cookie, self._key, algorithms=["HS256"],
                                                    options={"require": ["exp"]})
        except jwt.ExpiredSignatureError:
            raise Problem(400, f"this sign-in took longer than {STATE_TTL_S // 60} minutes; {START_AGAIN}") from None
        except jwt.PyJWTError:
            raise Problem(400, f"the {STATE_COOKIE} cookie is not one this server signed; {START_AGAIN}") from None
        return remembered

    async def finish(self, cookie: str | None, params: Mapping[str, str]) -> Principal:
        """The signed-in identity once the callback's state matches, the code is exchanged and the ID token
        checks out (signature, issuer, audience, expiry, nonce)."""
        remembered = self._remembered(cookie)
        if not hmac.compare_digest(params.get("state", "").encode(), remembered["state"].encode()):
            raise Problem(400, f"the sign-in's state does not match the one this browser started; {START_AGAIN}")
        if "error" in params:
            said = ": ".join(filter(None, (params["error"], params.get("error_description"))))
            raise unauthorized(f"the identity provider refused the sign-in ({said[:300]})")
        code = params.get("code")
        if not code:
            raise Problem(400, f"the identity provider sent no code; {START_AGAIN}")
        id_token = await self._exchange(code, remembered)
        assert self._jwks is not None  # set by provider()
        claims = await asyncio.to_thread(self.verifier.claims, id_token, self._jwks, self.client_id, "the ID token")
        sent_nonce = claims.get("nonce")
        if not isinstance(sent_nonce, str) or not hmac.compare_digest(sent_nonce.encode(),
                                                                       remembered["nonce"].encode()):
            raise unauthorized(f"the ID token's nonce is not the one this sign-in sent; {START_AGAIN}")
        return self.verifier.principal(claims, "oidc")

    async def _exchange(self, code: str, remembered: Mapping[str, str]) -> str:
        provider = await self.provider()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": remembered["redirect_uri"],
                "code_verifier": remembered["verifier"], "client_id": self.client_id}
        auth: httpx.BasicAuth | None = None
        if self.secret and "client_secret_post" in provider.token_auth_methods:
            form["client_secret"] = self.secret
        elif self.secret:
            auth = httpx.BasicAuth(self.client_id, self.secret)
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
                answer = await client.post(provider.token_endpoint, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT,
                                           headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            log.warning("oidc.token_endpoint_unreachable", url=provider.token_endpoint, error=str(exc))
            raise Problem(503, "the identity provider's token endpoint cannot be reached; retry in a few seconds",
                          headers={"Retry-After": "5"}) from None
        try:
            body: dict[str, Any] = answer.json()
        except ValueError:
            body = {}
        if answer.status_code != 200:
            said = ": ".join(str(body[k]) for k in ("error", "error_description") if body.get(k)) or \
                f"HTTP {answer.status_code}"
            raise unauthorized(f"the identity provider would not exchange the code ({said[:300]}); {START_AGAIN}")
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise Problem(502, "the identity provider's token answer has no id_token (is `openid` in "
                          "BOTARMY_OIDC_SCOPES?)")
        return id_token
