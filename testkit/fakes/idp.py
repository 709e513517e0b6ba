"""A fake OpenID Connect identity provider on 127.0.0.1: discovery, an authorize endpoint that signs the user in at
once and redirects back with a code, a token endpoint that checks the client secret, the redirect URI and the PKCE
verifier and answers an RS256 ID token signed with a key generated here, and its JWKS. `tamper` changes the next
ID tokens' claims (a wrong nonce, issuer or audience) to see them refused."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

__all__ = ["FakeIdp"]


@dataclass
class FakeIdp:
    client_id: str = "botarmy-console"
    client_secret: str = "s3cret"
    user: str = "carol"
    roles: list[str] = field(default_factory=lambda: ["approver"])
    tamper: dict[str, Any] = field(default_factory=dict)  # claims put into the ID tokens issued from now on
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> the authorize request's parameters
    exchanged: list[dict[str, str]] = field(default_factory=list)  # token requests answered with an ID token
    _server: ThreadingHTTPServer | None = None

    @property
    def issuer(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]}

    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": "idp-1", "use": "sig", "alg": "RS256"}]}

    def authorize(self, query: dict[str, str]) -> str:
        """The redirect back to the client: the user is signed in at once."""
        if query.get("client_id") != self.client_id or query.get("code_challenge_method") != "S256":
            raise ValueError("bad authorize request")
        code = secrets.token_urlsafe(16)
        self.codes[code] = query
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"

    def token(self, form: dict[str, str], basic: str | None) -> tuple[int, dict[str, Any]]:
        asked = self.codes.pop(form.get("code", ""), None)
        if asked is None:
            return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
        secret = form.get("client_secret")
        if basic:
            client, _, secret = base64.b64decode(basic).decode().partition(":")
            if client != self.client_id:
                return 401, {"error": "invalid_client"}
        if secret != self.client_secret:
            return 401, {"error": "invalid_client"}
        challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if challenge.rstrip(b"=").decode() != asked["code_challenge"] or form.get("redirect_uri") != \
                asked["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verifier or redirect_uri mismatch"}
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": self.user, "iat": now, "exp": now + 300,
                  "nonce": asked.get("nonce"), "roles": self.roles, **self.tamper}
        self.exchanged.append(form)
        id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "idp-1"})
        return 200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                     "id_token": id_token}

    def start(self) -> FakeIdp:
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                url = urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    self._json(200, idp.discovery())
                elif url.path == "/jwks":
                    self._json(200, idp.jwks())
                elif url.path == "/authorize":
                    try:
                        location = idp.authorize({k: v[0] for k, v in parse_qs(url.query).items()})
                    except (ValueError, KeyError):
                        self._json(400, {"error": "invalid_request"})
                        return
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                if urlsplit(self.path).path != "/token":
                    self._json(404, {"error": "not_found"})
                    return
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                auth = self.headers.get("Authorization", "")
                self._json(*idp.token(form, auth[6:] if auth.startswith("Basic ") else None))

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
