"""Sign-in: bearer tokens (local), console sessions with CSRF, refusals as problem+json before the body counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.auth import CSRF_COOKIE, SESSION_COOKIE
from botarmy.settings import Settings
from store import Store
from tests.api.conftest import api_client, assert_problem, bearer, make_token

NO_TOKEN = ("",)


async def test_no_token_is_401_problem_before_the_body_is_validated(down_settings: Settings, bmad_dir: Path):
    async with api_client(down_settings, [bmad_dir], *NO_TOKEN) as (_, client):
        for body in (b"{not json", b'{"workflow": 3}'):
            response = await client.post("/runs", content=body, headers={"content-type": "application/json"})
            problem = assert_problem(response, 401)
            assert response.headers["www-authenticate"] == "Bearer" and "token" in problem["detail"]
        assert_problem(await client.get("/runs"), 401)
        assert_problem(await client.get("/runs", headers={"Authorization": "Basic dXNlcjpwdw=="}), 401)
        assert_problem(await client.get("/runs", headers=bearer("bat_not-one-of-ours")), 401)
        assert (await client.get("/health/live")).json()["status"] == "ok"
        assert (await client.get("/health/ready")).status_code == 200


async def test_expired_and_revoked_tokens_are_401_and_say_which(down_settings: Settings, bmad_dir: Path):
    expired = make_token(down_settings, "admin", user="old", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    revoked = make_token(down_settings, "admin", user="gone")
    store = Store(down_settings.database_url)
    try:
        [row] = store.identity.list_tokens("gone")
        assert store.identity.revoke(row.id) == [row.id]
    finally:
        store.close()
    async with api_client(down_settings, [bmad_dir]) as (_, client):
        assert "expired" in assert_problem(await client.get("/runs", headers=bearer(expired)), 401)["detail"]
        assert "revoked" in assert_problem(await client.get("/runs", headers=bearer(revoked)), 401)["detail"]


async def test_a_role_that_may_not_is_403_naming_the_role(down_settings: Settings, bmad_dir: Path):
    async with api_client(down_settings, [bmad_dir], "viewer", user="vera") as (_, client):
        assert (await client.get("/runs")).status_code == 200
        problem = assert_problem(await client.post("/runs", json={"workflow": 3}), 403)
        assert "'operator'" in problem["detail"] and "vera" in problem["detail"]


async def test_session_cookie_signs_in_and_mutations_need_the_csrf_header(down_settings: Settings, bmad_dir: Path):
    token = make_token(down_settings, "operator", "approver", user="olga")
    async with api_client(down_settings, [bmad_dir], *NO_TOKEN) as (_, client):
        assert_problem(await client.post("/auth/session", json={"token": "bat_wrong"}), 401)
        signed = await client.post("/auth/session", json={"token": token})
        assert signed.status_code == 200 and signed.json() == {"name": "olga", "roles": ["operator", "approver"]}
        cookies = {c.split("=", 1)[0]: c for c in signed.headers.get_list("set-cookie")}
        session_cookie = cookies[SESSION_COOKIE].lower()
        assert "httponly" in session_cookie and "samesite=strict" in session_cookie and "path=/" in session_cookie
        assert token not in cookies[SESSION_COOKIE]  # a server-side session, not the token
        assert "httponly" not in cookies[CSRF_COOKIE].lower()
        csrf = client.cookies[CSRF_COOKIE]

        assert (await client.get("/auth/me")).json() == {"name": "olga", "roles": ["operator", "approver"]}
        # a change without the CSRF header is refused before anything happens; with it, it goes through
        assert "X-CSRF-Token" in assert_problem(await client.post("/runs/nope/cancel"), 403)["detail"]
        assert_problem(await client.post("/runs/nope/cancel", headers={"X-CSRF-Token": "forged"}), 403)
        assert_problem(await client.post("/runs/nope/cancel", headers={"X-CSRF-Token": csrf}), 404)

        assert (await client.delete("/auth/session", headers={"X-CSRF-Token": csrf})).status_code == 204
        client.cookies.set(SESSION_COOKIE, cookies[SESSION_COOKIE].split(";")[0].split("=", 1)[1])
        assert "ended" in assert_problem(await client.get("/auth/me"), 401)["detail"]


async def test_revoking_a_token_ends_the_sessions_made_from_it(down_settings: Settings, bmad_dir: Path):
    token = make_token(down_settings, "viewer", user="vic")
    async with api_client(down_settings, [bmad_dir]) as (_, admin):
        async with api_client(down_settings, [bmad_dir], *NO_TOKEN) as (_, console):
            assert (await console.post("/auth/session", json={"token": token})).status_code == 200
            assert (await console.get("/runs")).status_code == 200
            [row] = [t for t in (await admin.get("/auth/tokens", params={"user": "vic"})).json()]
            assert (await admin.delete(f"/auth/tokens/{row['id']}")).status_code == 204
            assert_problem(await console.get("/runs"), 401)


async def test_a_token_revoked_through_the_api_is_refused_at_once_by_its_process(down_settings: Settings,
                                                                                 bmad_dir: Path):
    token = make_token(down_settings, "viewer", user="tess")
    async with api_client(down_settings, [bmad_dir]) as (app, admin):
        for _ in range(2):  # the second request is verified from the cache
            assert (await admin.get("/runs", headers=bearer(token))).status_code == 200
        [row] = (await admin.get("/auth/tokens", params={"user": "tess"})).json()
        assert app.state.botarmy.store.identity.cached_token(token) is not None
        assert (await admin.delete(f"/auth/tokens/{row['id']}")).status_code == 204
        assert "revoked" in assert_problem(await admin.get("/runs", headers=bearer(token)), 401)["detail"]


async def test_a_token_revoked_by_another_process_is_refused_once_the_cache_ttl_has_passed(
        down_settings: Settings, bmad_dir: Path):
    token = make_token(down_settings, "viewer", user="otto")
    async with api_client(down_settings, [bmad_dir]) as (app, client):
        tokens = app.state.botarmy.store.identity.tokens
        now = [1000.0]
        tokens.clock = lambda: now[0]
        assert (await client.get("/runs", headers=bearer(token))).status_code == 200
        other = Store(down_settings.database_url)  # `botarmy token revoke` in another process
        try:
            [row] = other.identity.list_tokens("otto")
            assert other.identity.revoke(row.id) == [row.id]
        finally:
            other.close()
        now[0] += tokens.ttl_s - 0.1
        assert (await client.get("/runs", headers=bearer(token))).status_code == 200  # still trusted
        now[0] += 0.2
        assert "revoked" in assert_problem(await client.get("/runs", headers=bearer(token)), 401)["detail"]


def test_a_token_read_before_its_revocation_is_not_cached_after_it(settings: Settings):
    store = Store(settings.database_url)
    try:
        store.migrate()
        secret, row = store.identity.create_token("rita", ["viewer"])
        tokens = store.identity.tokens
        generation, read_at = tokens.generation, tokens.clock()  # a read that started before the revocation
        store.identity.revoke(row.id)
        tokens.put("key-of-the-racing-read", row, read_at, generation)
        assert tokens.get("key-of-the-racing-read") is None
        assert store.identity.cached_token(secret) is None
        assert store.identity.token_by_secret(secret).revoked_at is not None  # type: ignore[union-attr]
        assert store.identity.cached_token(secret).revoked_at is not None  # type: ignore[union-attr]
    finally:
        store.close()
