"""Every operation of the OpenAPI document, walked: without a token 401, with a role that may not 403, with one
that may neither. The expected role of each operation is written here, apart from the code that enforces it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api.main import create_app
from botarmy.settings import Settings
from tests.api.conftest import bearer, make_token

PUBLIC = "public"
# the least role each operation needs; a route added without an entry here fails the walk
POLICY: dict[tuple[str, str], str] = {
    ("GET", "/health/live"): PUBLIC,
    ("GET", "/health/ready"): PUBLIC,
    ("POST", "/auth/session"): PUBLIC,
    ("GET", "/auth/config"): PUBLIC,
    ("GET", "/auth/oidc/login"): PUBLIC,
    ("GET", "/auth/oidc/callback"): PUBLIC,
    ("GET", "/auth/me"): "viewer",
    ("DELETE", "/auth/session"): "viewer",
    ("GET", "/auth/tokens"): "admin",
    ("POST", "/auth/tokens"): "admin",
    ("DELETE", "/auth/tokens/{token_id}"): "admin",
    ("GET", "/audit"): "admin",
    ("POST", "/runs"): "operator",
    ("GET", "/runs"): "viewer",
    ("GET", "/runs/{run_id}"): "viewer",
    ("POST", "/runs/{run_id}/cancel"): "operator",
    ("POST", "/runs/{run_id}/rerun"): "operator",
    ("POST", "/runs/{run_id}/pause"): "operator",
    ("POST", "/runs/{run_id}/resume"): "operator",
    ("POST", "/runs/{run_id}/signals/{name}"): "operator",
    ("POST", "/runs/{run_id}/approvals/{step}"): "approver",
    ("GET", "/approvals"): "viewer",
    ("POST", "/approvals/bulk"): "approver",
    ("GET", "/approvals/stats"): "viewer",
    ("GET", "/runs/{run_id}/artifacts"): "viewer",
    ("GET", "/runs/{run_id}/artifacts.zip"): "viewer",
    ("GET", "/runs/{run_id}/artifacts/{name}/versions/{version}/raw"): "viewer",
    ("GET", "/runs/{run_id}/artifacts/{name}"): "viewer",
    ("GET", "/runs/{run_id}/events"): "viewer",
    ("GET", "/runs/{run_id}/usage"): "viewer",
    ("GET", "/usage"): "viewer",
    ("GET", "/usage/daily"): "viewer",
    ("GET", "/catalog/workflows"): "viewer",
    ("GET", "/catalog/workflows/{workflow_id}"): "viewer",
    ("GET", "/catalog/workflows/{workflow_id}/inputs"): "viewer",
    ("GET", "/catalog/agents"): "viewer",
    ("GET", "/catalog/teams"): "viewer",
    ("GET", "/catalog/templates"): "viewer",
    ("GET", "/catalog/templates/{name}"): "viewer",
    ("PUT", "/catalog/templates/{name}"): "admin",
    ("DELETE", "/catalog/templates/{name}"): "admin",
    ("POST", "/schedules"): "operator",
    ("GET", "/schedules"): "viewer",
    ("POST", "/schedules/{schedule_id}/pause"): "operator",
    ("POST", "/schedules/{schedule_id}/unpause"): "operator",
    ("POST", "/schedules/{schedule_id}/trigger"): "operator",
    ("DELETE", "/schedules/{schedule_id}"): "operator",
    ("GET", "/health"): "viewer",
    ("GET", "/health/providers"): "viewer",
}
# roles that may not do what needs the key (a custom role with no built-in meaning covers nothing)
REFUSED = {"viewer": ["qa-lead"], "operator": ["viewer", "approver"], "approver": ["viewer", "operator"],
           "admin": ["operator", "approver"]}
ALLOWED = {"viewer": ["viewer", "operator", "approver", "admin"], "operator": ["operator", "admin"],
           "approver": ["approver", "admin"], "admin": ["admin"]}


def _operations(app: Any) -> list[tuple[str, str]]:
    spec = app.openapi()
    return [(method.upper(), path) for path, item in spec["paths"].items() for method in item
            if method in ("get", "post", "put", "delete", "patch")]


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_operation_refuses_without_a_token_and_with_a_role_that_may_not(
    down_settings: Settings, bmad_dir: Path
) -> None:
    tokens = {role: make_token(down_settings, role, user=f"u-{role}") for role in
              ("viewer", "operator", "approver", "admin", "qa-lead")}
    app = create_app(down_settings, [bmad_dir])
    operations = _operations(app)
    assert set(operations) == set(POLICY), "every operation needs an expected role here"
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path in operations:
            need = POLICY[(method, path)]
            url = _url(path)
            anonymous = client.request(method, url)
            if need == PUBLIC:
                assert anonymous.status_code not in (401, 403), (method, path)
                continue
            assert anonymous.status_code == 401, (method, path, anonymous.text)
            assert anonymous.headers["content-type"].startswith("application/problem+json")
            for role in REFUSED[need]:
                refused = client.request(method, url, headers=bearer(tokens[role]))
                assert refused.status_code == 403, (method, path, role, refused.text)
                assert refused.headers["content-type"].startswith("application/problem+json")
            for role in ALLOWED[need]:
                allowed = client.request(method, url, headers=bearer(tokens[role]))
                assert allowed.status_code not in (401, 403), (method, path, role, allowed.text)


def test_the_websocket_stream_needs_a_sign_in_too(down_settings: Settings, bmad_dir: Path) -> None:
    token = make_token(down_settings, "viewer", user="wendy")
    with TestClient(create_app(down_settings, [bmad_dir])) as client:
        try:
            with client.websocket_connect("/ws/runs/nope"):
                raise AssertionError("connected without a token")
        except WebSocketDisconnect as closed:
            assert closed.code == 4401
        with client.websocket_connect("/ws/runs/nope", headers=bearer(token)) as ws:
            try:
                ws.receive_json()
            except WebSocketDisconnect as closed:
                assert closed.code == 4404  # signed in: told there is no such run
