"""Bearer JWTs of an identity provider, verified against its JWKS served here on 127.0.0.1: a good one signs in
with the roles of its claim; a wrong key, a wrong issuer or an expired one is 401."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from botarmy.settings import Settings
from tests.api.conftest import api_client, assert_problem, bearer

ISSUER, AUDIENCE = "https://idp.test/realm", "botarmy"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def idp_key() -> rsa.RSAPrivateKey:
    return _key()


@pytest.fixture(scope="module")
def jwks_url(idp_key: rsa.RSAPrivateKey) -> Iterator[str]:
    public = json.loads(RSAAlgorithm.to_jwk(idp_key.public_key()))
    body = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


def _jwt(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "carol", "iat": now, "exp": now + 300,
            "realm_access": {"roles": ["approver"]}, **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


async def test_jwts_are_verified_against_the_jwks(
    down_settings: Settings, bmad_dir: Path, jwks_url: str, idp_key: rsa.RSAPrivateKey
) -> None:
    settings = down_settings.model_copy(update={
        "oidc_issuer": ISSUER, "oidc_audience": AUDIENCE, "oidc_jwks_url": jwks_url,
        "oidc_roles_claim": "realm_access.roles"})
    async with api_client(settings, [bmad_dir], "") as (_, client):
        good = await client.get("/auth/me", headers=bearer(_jwt(idp_key)))
        assert good.status_code == 200 and good.json() == {"name": "carol", "roles": ["approver"]}
        assert_problem(await client.post("/runs", json={"workflow": "x"}, headers=bearer(_jwt(idp_key))), 403)
        forged = [
            ("wrong key", _jwt(_key())),
            ("wrong issuer", _jwt(idp_key, iss="https://evil.test")),
            ("wrong audience", _jwt(idp_key, aud="someone-else")),
            ("expired", _jwt(idp_key, exp=int(time.time()) - 60)),
            ("unsigned", jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 60},
                                    None, algorithm="none")),
        ]
        for why, token in forged:
            assert_problem(await client.get("/auth/me", headers=bearer(token)), 401), why
        # a console session from a JWT
        signed = await client.post("/auth/session", json={"token": _jwt(idp_key)})
        assert signed.status_code == 200 and signed.json()["name"] == "carol"
        assert (await client.get("/auth/me")).json()["roles"] == ["approver"]
