"""Console sign-in through an identity provider (a fake one on 127.0.0.1, testkit/fakes/idp.py): the whole
authorization-code flow with PKCE followed redirect by redirect, and the callbacks that must be refused — a state
that is not the one started, an ID token with another nonce, issuer or audience, a browser that never started."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from api.oidc import STATE_COOKIE
from botarmy.settings import Settings
from testkit.fakes.idp import FakeIdp
from tests.api.conftest import api_client, assert_problem, bearer, make_token

API = "http://botarmy.test"


@pytest.fixture
def idp() -> Iterator[FakeIdp]:
    fake = FakeIdp().start()
    yield fake
    fake.stop()


@pytest.fixture
def oidc_settings(down_settings: Settings, idp: FakeIdp) -> Settings:
    return down_settings.model_copy(update={
        "oidc_issuer": idp.issuer, "oidc_client_id": idp.client_id, "oidc_client_secret": idp.client_secret})


@pytest.fixture
async def browser_to_idp() -> AsyncIterator[httpx.AsyncClient]:
    """The browser's requests to the identity provider (redirects are followed by hand)."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as client:
        yield client


async def to_callback(api: httpx.AsyncClient, idp_client: httpx.AsyncClient, idp: FakeIdp) -> str:
    """Sign-in started at the API, through the provider's authorize endpoint: the callback URL it sends back."""
    login = await api.get("/auth/oidc/login")
    assert login.status_code == 302, login.text
    authorize = login.headers["location"]
    assert authorize.startswith(f"{idp.issuer}/authorize?")
    asked = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    assert asked["response_type"] == "code" and asked["code_challenge_method"] == "S256"
    assert asked["redirect_uri"] == f"{API}/auth/oidc/callback" and asked["state"] and asked["nonce"]
    assert "code_verifier" not in asked
    back = await idp_client.get(authorize)
    assert back.status_code == 302, back.text
    callback: str = back.headers["location"]
    assert callback.startswith(f"{API}/auth/oidc/callback?code=")
    return callback


async def test_signing_in_through_the_identity_provider_starts_a_console_session_with_its_roles(
    oidc_settings: Settings, bmad_dir: Path, idp: FakeIdp, browser_to_idp: httpx.AsyncClient
) -> None:
    async with api_client(oidc_settings, [bmad_dir], "") as (_, api):
        config = await api.get("/auth/config")
        assert config.status_code == 200
        assert config.json() == {"oidc": True, "oidc_login_url": "/auth/oidc/login"}
        assert_problem(await api.get("/auth/me"), 401)

        callback = await to_callback(api, browser_to_idp, idp)
        done = await api.get(callback)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/"
        set_cookies = done.headers.get_list("set-cookie")
        session = next(c for c in set_cookies if c.startswith("botarmy_session="))
        assert "HttpOnly" in session and "SameSite=strict" in session
        assert any(c.startswith(f'{STATE_COOKIE}=""') for c in set_cookies)  # the state cookie is spent
        assert idp.exchanged and idp.exchanged[0]["code_verifier"]  # the provider checked the PKCE verifier

        me = await api.get("/auth/me")
        assert me.status_code == 200 and me.json() == {"name": "carol", "roles": ["approver"]}
        # the session is the same kind POST /auth/session makes: a change needs its CSRF token
        assert_problem(await api.post("/approvals/bulk", json={"items": []}), 403)
        csrf = api.cookies["botarmy_csrf"]
        assert (await api.post("/approvals/bulk", json={"items": []},
                               headers={"X-CSRF-Token": csrf})).status_code not in (401, 403)
        # the same code cannot be used twice
        assert_problem(await api.get(callback), 400)

        admin = bearer(make_token(oidc_settings, "admin", user="root"))
        rows = (await api.get("/audit", params={"action": "oidc_callback"}, headers=admin)).json()["items"]
        assert [(r["user"], r["outcome"]) for r in rows] == [(None, "rejected"), ("carol", "ok")]


def _with(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | params
    return parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())).geturl()


@pytest.mark.parametrize("tamper, status, says", [
    ({"nonce": "someone-elses"}, 401, "nonce"),
    ({"iss": "https://evil.test"}, 401, "issuer"),
    ({"aud": "another-client"}, 401, "audience"),
])
async def test_an_id_token_with_another_nonce_issuer_or_audience_is_refused(
    oidc_settings: Settings, bmad_dir: Path, idp: FakeIdp, browser_to_idp: httpx.AsyncClient,
    tamper: dict[str, str], status: int, says: str,
) -> None:
    idp.tamper = tamper
    async with api_client(oidc_settings, [bmad_dir], "") as (_, api):
        refused = await api.get(await to_callback(api, browser_to_idp, idp))
        assert_problem(refused, status)
        assert says in refused.json()["detail"].lower()
        assert "botarmy_session" not in api.cookies
        assert_problem(await api.get("/auth/me"), 401)


async def test_a_callback_with_another_state_or_from_a_browser_that_did_not_start_is_refused(
    oidc_settings: Settings, bmad_dir: Path, idp: FakeIdp, browser_to_idp: httpx.AsyncClient
) -> None:
    async with api_client(oidc_settings, [bmad_dir], "") as (_, api):
        callback = await to_callback(api, browser_to_idp, idp)
        wrong = await api.get(_with(callback, state="forged"))
        assert_problem(wrong, 400)
        assert "state does not match" in wrong.json()["detail"]
        assert not idp.exchanged  # refused before the code is spent
        # another browser (no state cookie) replaying the genuine callback URL
        async with httpx.AsyncClient(transport=api._transport, base_url=API) as stranger:
            replay = await stranger.get(callback)
            assert_problem(replay, 400)
            assert STATE_COOKIE in replay.json()["detail"]
        # the provider saying no
        refused = await api.get(_with(await to_callback(api, browser_to_idp, idp), error="access_denied"))
        assert_problem(refused, 401)
        assert "access_denied" in refused.json()["detail"]
        assert_problem(await api.get("/auth/me"), 401)


async def test_without_a_client_id_the_console_offers_tokens_only(
    down_settings: Settings, bmad_dir: Path, idp: FakeIdp
) -> None:
    settings = down_settings.model_copy(update={"oidc_issuer": idp.issuer})  # bearer JWTs only
    async with api_client(settings, [bmad_dir], "") as (_, api):
        assert (await api.get("/auth/config")).json() == {"oidc": False, "oidc_login_url": None}
        assert_problem(await api.get("/auth/oidc/login"), 404)
        assert_problem(await api.get("/auth/oidc/callback?code=x&state=y"), 404)
