"""Queries for identity and audit: users, bearer tokens (only hashes kept), console sessions, the audit log, and
the approver roles a run was started with. `IdentityStore` is their door, reached as `Store.identity`."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from store.db import insert_for
from store.models import ApiToken, ApproverRole, AuditEntry, Event, Run, User, WebSession, utcnow

TOKEN_PREFIX = "bat_"  # makes a leaked token recognisable (secret scanners, log redaction)
# How long a process trusts a token row it read: a revocation made through this process's store takes effect at
# once (the row is dropped); one made elsewhere (`botarmy token revoke`, another API process) within this.
TOKEN_CACHE_S = 5.0
TOKEN_CACHE_SIZE = 1024


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class TokenRow:
    id: str
    user: str
    roles: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class SessionRow:
    user: str
    roles: list[str]
    csrf: str
    expires_at: datetime


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    user: str | None
    roles: list[str]
    action: str
    target: str | None
    method: str
    path: str
    request_id: str
    status: int
    outcome: str
    detail: str | None = None


@dataclass
class AuditFilter:
    user: str | None = None
    action: str | None = None
    target: str | None = None  # a prefix: "run-1" matches "run-1/review"
    since: datetime | None = None
    limit: int = 100


def _token(t: ApiToken) -> TokenRow:
    return TokenRow(t.id, t.user_name, list(t.roles), t.created_at, t.expires_at, t.revoked_at)


def _ensure_user(s: Session, name: str) -> None:
    s.execute(insert_for(s, User).values(name=name, created_at=utcnow()).on_conflict_do_nothing(
        index_elements=[User.name]))


class TokenCache:
    """Token rows by the hash of their secret, each trusted for `ttl_s` after it was read, least recently used out
    first past `size`, so that verifying a bearer token is a dict lookup instead of a query on every request.
    Unknown secrets are not kept (a flood of made-up tokens cannot push out real ones). `drop(ids)` forgets
    revoked tokens at once; the generation it bumps stops a read that raced the revocation from caching the row
    it read before. Thread-safe."""

    def __init__(self, ttl_s: float = TOKEN_CACHE_S, size: int = TOKEN_CACHE_SIZE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.size, self.clock = ttl_s, size, clock
        self.generation = 0
        self._items: OrderedDict[str, tuple[float, TokenRow]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, secret_sha256: str) -> TokenRow | None:
        with self._lock:
            item = self._items.get(secret_sha256)
            if item is None:
                return None
            if self.clock() - item[0] >= self.ttl_s:
                del self._items[secret_sha256]
                return None
            self._items.move_to_end(secret_sha256)
            return item[1]

    def put(self, secret_sha256: str, row: TokenRow, read_at: float, generation: int) -> None:
        """Keep `row`, read from the database at `read_at` (this cache's clock) while the generation was
        `generation`; not kept when a revocation happened since."""
        if self.ttl_s <= 0:
            return
        with self._lock:
            if generation != self.generation:
                return
            self._items[secret_sha256] = (read_at, row)
            self._items.move_to_end(secret_sha256)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def drop(self, token_ids: list[str]) -> None:
        gone = set(token_ids)
        with self._lock:
            self.generation += 1
            for key in [k for k, (_, row) in self._items.items() if row.id in gone]:
                del self._items[key]


class IdentityStore:
    """Sync and thread-safe like the Store whose sessions it uses."""

    def __init__(self, read: Callable[[], AbstractContextManager[Session]],
                 write: Callable[[], AbstractContextManager[Session]], tokens: TokenCache | None = None) -> None:
        self._read, self._write = read, write
        self.tokens = tokens or TokenCache()

    # tokens

    def create_token(self, user: str, roles: list[str], expires_at: datetime | None = None) -> tuple[str, TokenRow]:
        """(the secret, shown once, and its row); creates the user when it is new."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(id=secrets.token_hex(8), user_name=user, secret_sha256=digest(secret),
                         roles=list(dict.fromkeys(roles)), created_at=utcnow(), expires_at=expires_at)
        with self._write() as s:
            _ensure_user(s, user)
            s.add(token)
            s.flush()
            return secret, _token(token)

    def token_by_secret(self, secret: str) -> TokenRow | None:
        """The token whatever its state (the caller says why an expired or revoked one is refused), read from the
        database; the row is kept in `tokens` for `cached_token`."""
        key, generation, read_at = digest(secret), self.tokens.generation, self.tokens.clock()
        with self._read() as s:
            found = s.scalar(select(ApiToken).where(ApiToken.secret_sha256 == key))
            row = None if found is None else _token(found)
        if row is not None:
            self.tokens.put(key, row, read_at, generation)
        return row

    def cached_token(self, secret: str) -> TokenRow | None:
        """The token as read at most TOKEN_CACHE_S ago by this store (revocations through it dropped), without
        I/O; None when it is not cached (ask `token_by_secret`)."""
        return self.tokens.get(digest(secret))

    def list_tokens(self, user: str | None = None) -> list[TokenRow]:
        stmt = select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)
        if user is not None:
            stmt = stmt.where(ApiToken.user_name == user)
        with self._read() as s:
            return [_token(t) for t in s.scalars(stmt)]

    def revoke(self, token_id: str | None = None, user: str | None = None) -> list[str]:
        """Revoke one token by id, or every live token of `user`; the ids revoked (their sessions end too)."""
        if (token_id is None) == (user is None):
            raise ValueError("revoke takes a token id or a user")
        cond = ApiToken.id == token_id if token_id is not None else ApiToken.user_name == user
        with self._write() as s:
            ids = list(s.scalars(select(ApiToken.id).where(cond & ApiToken.revoked_at.is_(None))))
            if ids:
                s.execute(update(ApiToken).where(ApiToken.id.in_(ids)).values(revoked_at=utcnow()))
                s.execute(delete(WebSession).where(WebSession.token_id.in_(ids)))
        if ids:  # after the commit: a read that starts now sees the revocation
            self.tokens.drop(ids)
        return ids

    # console sessions

    def create_session(self, user: str, roles: list[str], token_id: str | None, ttl: timedelta,
                       expires_at: datetime | None = None) -> tuple[str, str, datetime]:
        """(the session id for the cookie, its CSRF token, when it ends): at most `ttl`, never after `expires_at`
        (the credential it was made from)."""
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        ends = utcnow() + ttl
        if expires_at is not None:
            ends = min(ends, expires_at)
        with self._write() as s:
            s.add(WebSession(id_sha256=digest(session_id), user_name=user, roles=list(roles), csrf=csrf,
                             token_id=token_id, created_at=utcnow(), expires_at=ends))
        return session_id, csrf, ends

    def session(self, session_id: str) -> SessionRow | None:
        """The live session with this id (revoking its token deleted it; an expired one is None)."""
        with self._read() as s:
            found = s.get(WebSession, digest(session_id))
            if found is None or found.expires_at <= utcnow():
                return None
            return SessionRow(found.user_name, list(found.roles), found.csrf, found.expires_at)

    def end_session(self, session_id: str) -> None:
        with self._write() as s:
            s.execute(delete(WebSession).where((WebSession.id_sha256 == digest(session_id))
                                               | (WebSession.expires_at <= utcnow())))

    # audit

    def audit(self, entry: dict[str, Any]) -> None:
        with self._write() as s:
            s.add(AuditEntry(at=entry.get("at") or utcnow(), **{k: v for k, v in entry.items() if k != "at"}))

    def list_audit(self, f: AuditFilter) -> list[AuditRow]:
        stmt = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(f.limit)
        if f.user is not None:
            stmt = stmt.where(AuditEntry.user_name == f.user)
        if f.action is not None:
            stmt = stmt.where(AuditEntry.action == f.action)
        if f.target is not None:
            stmt = stmt.where(AuditEntry.target.startswith(f.target, autoescape=True))
        if f.since is not None:
            stmt = stmt.where(AuditEntry.at >= f.since)
        with self._read() as s:
            return [AuditRow(a.id, a.at, a.user_name, list(a.roles), a.action, a.target, a.method, a.path,
                             a.request_id, a.status, a.outcome, a.detail) for a in s.scalars(stmt)]

    # approver roles of a run (`approve: {agent: role}`)

    def set_approver_roles(self, run_id: str, roles: dict[str, str]) -> None:
        with self._write() as s:
            for agent, role in roles.items():
                s.execute(insert_for(s, ApproverRole).values(run_id=run_id, agent=agent, role=role)
                          .on_conflict_do_nothing(index_elements=[ApproverRole.run_id, ApproverRole.agent]))

    def approver_roles(self, run_id: str) -> dict[str, str]:
        with self._read() as s:
            rows = s.execute(select(ApproverRole.agent, ApproverRole.role).where(ApproverRole.run_id == run_id))
            return {agent: role for agent, role in rows}

    # what approval statistics are computed from: the workflows' own approval events

    def approval_events(self, since: datetime) -> list[tuple[str, str, str, dict[str, Any], datetime]]:
        """(run_id, workflow_id, type, data, created_at) of every approval.requested/resolved event since
        `since`, oldest first."""
        stmt = (select(Event.run_id, Run.workflow_id, Event.type, Event.data, Event.created_at)
                .join(Run, Run.run_id == Event.run_id)
                .where(Event.type.in_(("approval.requested", "approval.resolved")) & (Event.created_at >= since))
                .order_by(Event.created_at, Event.id))
        with self._read() as s:
            return [(r, w, t, dict(d), c) for r, w, t, d, c in s.execute(stmt)]
