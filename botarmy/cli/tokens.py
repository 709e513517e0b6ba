"""CLI commands for identity and audit: `token create|list|revoke` and `audit`, straight on the database (as
`status` and `runs` are), plus the local admin token that `up`, `dev` and `make demo` leave in .botarmy/."""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from botarmy.cli.common import fail, out
from botarmy.settings import Settings, get_settings

ROLE_HELP = "viewer, operator, approver, admin, or a step's approver role; repeat for several"
ADMIN_TOKEN_FILE = "admin.token"
token_app = typer.Typer(help="bearer tokens: create (prints the secret once), list, revoke", no_args_is_help=True)


def _identity(settings: Settings):  # noqa: ANN202 - store.identity.IdentityStore
    from store import get_store

    return get_store(settings.database_url).identity


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _check_role(role: str) -> str:
    import re

    if not re.fullmatch(r"[a-z][a-z0-9_.-]{0,99}", role):
        raise fail(f"--role {role!r}: a role is lower case letters, digits, '.', '_' or '-' ({ROLE_HELP})")
    return role


@token_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="the user (created if new)")],
    role: Annotated[list[str], typer.Option("--role", help=ROLE_HELP)],
    expires: Annotated[float | None, typer.Option("--expires", min=0.001, help="days until it expires")] = None,
    json_out: Annotated[bool, typer.Option("--json", help='print {"token": ...}')] = False,
) -> None:
    """Create a bearer token for NAME and print it on a line of its own (only its hash is stored)."""
    roles = [_check_role(r) for r in role]
    expires_at = datetime.now(UTC) + timedelta(days=expires) if expires else None
    secret, row = _identity(get_settings()).create_token(name, roles, expires_at)
    if json_out:
        typer.echo(json.dumps({"token": secret, "id": row.id, "user": row.user, "roles": row.roles,
                               "expires_at": _iso(row.expires_at)}))
    else:
        typer.echo(secret)  # alone on its line, for `$(botarmy token create ...)`


@token_app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option("--user", help="only this user's tokens")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every token (never its secret): id, user, roles, created, expires, revoked."""
    rows = _identity(get_settings()).list_tokens(user)
    if json_out:
        typer.echo(json.dumps([{"id": t.id, "user": t.user, "roles": t.roles, "created_at": _iso(t.created_at),
                                "expires_at": _iso(t.expires_at), "revoked_at": _iso(t.revoked_at)} for t in rows]))
        return
    if not rows:
        out.print("no tokens; create one with `botarmy token create NAME --role admin`")
    now = datetime.now(UTC)
    for t in rows:
        state = "revoked" if t.revoked_at else "expired" if not t.usable(now) else "live"
        expires = f"expires {t.expires_at:%Y-%m-%d %H:%M}" if t.expires_at else "no expiry"
        out.print(f"{t.id}  {t.user}  {','.join(t.roles)}  {state}  created {t.created_at:%Y-%m-%d %H:%M}  {expires}",
                  highlight=False, markup=False)


@token_app.command("revoke")
def revoke(
    token_id: Annotated[str | None, typer.Argument(help="the token's id (from `botarmy token list`)")] = None,
    user: Annotated[str | None, typer.Option("--user", help="revoke every live token of this user")] = None,
) -> None:
    """Revoke a token (its console sessions end too), or all of a user's."""
    if (token_id is None) == (user is None):
        raise fail("give a token id or --user NAME")
    revoked = _identity(get_settings()).revoke(token_id=token_id, user=user)
    if not revoked:
        raise fail(f"no live token {'of ' + user if user else token_id}; see `botarmy token list`", code=1)
    out.print(f"revoked {', '.join(revoked)}", highlight=False)


def audit(
    user: Annotated[str | None, typer.Option("--user", help="who")] = None,
    action: Annotated[str | None, typer.Option("--action", help="e.g. create_run, decide, cancel_run")] = None,
    target: Annotated[str | None, typer.Option("--target", help="a run id, or RUN/STEP")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO 8601 date-time, e.g. 2026-01-31T09:00:00Z")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 50,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The audit log, newest first: every mutating API request, who made it and what came of it."""
    from store.identity import AuditFilter

    when = None
    if since is not None:
        try:
            when = datetime.fromisoformat(since.strip())
        except ValueError:
            raise fail(f"--since {since!r}: not an ISO 8601 date-time such as 2026-01-31T09:00:00Z") from None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    rows = _identity(get_settings()).list_audit(
        AuditFilter(user=user, action=action, target=target, since=when, limit=limit))
    if json_out:
        typer.echo(json.dumps([{"at": _iso(r.at), "user": r.user, "roles": r.roles, "action": r.action,
                                "target": r.target, "method": r.method, "path": r.path, "request_id": r.request_id,
                                "status": r.status, "outcome": r.outcome, "detail": r.detail} for r in rows]))
        return
    if not rows:
        out.print("no audit rows match")
    for r in rows:
        out.print(f"{r.at:%Y-%m-%d %H:%M:%S}  {r.user or '-'}  {r.action}  {r.target or '-'}  {r.status} {r.outcome}"
                  f"  {r.request_id}", highlight=False, markup=False)


def _local_user() -> str:
    """The name of the person at this machine (the local admin token's user), else `local`."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment and no passwd entry
        return "local"


def ensure_admin_token(settings: Settings) -> tuple[Path, bool]:
    """.botarmy/admin.token (mode 0600) holding a live admin token for the local user; (path, created now)."""
    path = settings.home_dir / ADMIN_TOKEN_FILE
    identity = _identity(settings)
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
        found = identity.token_by_secret(secret) if secret else None
        if found is not None and found.usable(datetime.now(UTC)) and "admin" in found.roles:
            return path, False
    user = _local_user()
    secret, _ = identity.create_token(user, ["admin"])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secret + "\n")
    os.chmod(path, 0o600)
    return path, True


def admin_token_line(settings: Settings) -> str:
    path, created = ensure_admin_token(settings)
    return f"admin token {'written to' if created else 'in'} {path} (sign in to the console with it)"


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
    app.command("audit")(audit)
