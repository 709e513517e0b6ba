"""`botarmy token create|list|revoke`, `botarmy audit`, and `serve` refusing BOTARMY_AUTH=off off loopback."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from api.main import create_app
from botarmy.cli.tokens import ensure_admin_token
from botarmy.settings import Settings
from tests.cli.conftest import botarmy, stderr_lines
from tests.conftest import OWN_BMAD


def test_token_create_prints_the_token_alone_and_list_and_revoke_manage_it(home_env: dict[str, str]) -> None:
    made = botarmy("token", "create", "ada", "--role", "operator", "--role", "approver", "--expires", "7",
                   env=home_env)
    assert made.returncode == 0, made.stderr
    [token] = made.stdout.splitlines()
    assert token.startswith("bat_") and len(token) > 40
    as_json = botarmy("token", "create", "ada", "--role", "viewer", "--json", env=home_env)
    second = json.loads(as_json.stdout)
    assert second["token"].startswith("bat_") and second["roles"] == ["viewer"]

    listed = json.loads(botarmy("token", "list", "--json", env=home_env).stdout)
    assert [(t["user"], t["roles"]) for t in listed] == [("ada", ["operator", "approver"]), ("ada", ["viewer"])]
    assert token not in json.dumps(listed)  # the secret is never stored or shown again
    assert botarmy("token", "revoke", listed[0]["id"], env=home_env).returncode == 0
    again = botarmy("token", "revoke", listed[0]["id"], env=home_env)
    assert again.returncode == 1 and "no live token" in again.stderr
    states = botarmy("token", "list", env=home_env).stdout
    assert "revoked" in states and "live" in states

    bad = botarmy("token", "create", "ada", "--role", "Not A Role", env=home_env)
    assert bad.returncode == 2 and len(stderr_lines(bad)) == 1 and "--role" in bad.stderr


async def test_audit_lists_what_the_api_recorded(home_env: dict[str, str]) -> None:
    import httpx

    settings = Settings(database_url=home_env["DATABASE_URL"], temporal_address=home_env["TEMPORAL_ADDRESS"])
    made = botarmy("token", "create", "bob", "--role", "viewer", env=home_env)
    token = made.stdout.strip()
    app = create_app(settings, [OWN_BMAD])
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            assert (await client.post("/runs/r9/cancel")).status_code == 403
    rows = json.loads(botarmy("audit", "--user", "bob", "--json", env=home_env).stdout)
    assert [(r["action"], r["target"], r["status"], r["outcome"]) for r in rows] == [
        ("cancel_run", "r9", 403, "refused")]
    assert "cancel_run" in botarmy("audit", "--action", "cancel_run", env=home_env).stdout
    bad = botarmy("audit", "--since", "yesterday", env=home_env)
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_serve_refuses_auth_off_on_a_non_loopback_address(home_env: dict[str, str]) -> None:
    done = botarmy("serve", "--host", "0.0.0.0", env={**home_env, "BOTARMY_AUTH": "off"}, timeout=60)
    assert done.returncode == 2
    assert stderr_lines(done) == [line for line in stderr_lines(done) if "BOTARMY_AUTH=off" in line]
    assert len(stderr_lines(done)) == 1


def test_the_local_admin_token_file_is_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/b.db", home_dir=tmp_path / "home")
    path, created = ensure_admin_token(settings)
    assert created and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = path.read_text()
    assert ensure_admin_token(settings) == (path, False) and path.read_text() == first
