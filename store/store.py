"""The Store: the one door to BotArmy's database. Sync and thread-safe; async code uses asyncio.to_thread."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

import store.artifacts as artifacts
import store.events as events
import store.runs as runs
import store.usage as usage
from store.cache import CONTENT_CACHE_BYTES, ContentCache
from store.db import is_unique_violation, make_engine, writer
from store.migrate import ensure_migrated
from store.types import ArtifactRef, EventRow, RunView, StepView, UsageCall, UsageRow, UsageSummary

T = TypeVar("T")

# How often a write that lost a race for a version or seq number is retried (PostgreSQL; SQLite
# serialises writers, so there it never loses).
CONFLICT_RETRIES = 50


class Store:
    def __init__(self, database_url: str, content_cache_bytes: int = CONTENT_CACHE_BYTES) -> None:
        self.database_url = database_url
        self._engine = make_engine(database_url)
        self.contents = ContentCache(content_cache_bytes)
        self._reads = sessionmaker(self._engine, expire_on_commit=False)
        self._writes = sessionmaker(writer(self._engine), expire_on_commit=False)

    def migrate(self) -> None:
        """Upgrade the schema to the latest revision (always checks; cheap when already current)."""
        ensure_migrated(self._engine, force=True)

    def ping(self) -> None:
        """Raises when the database cannot be read (health checks)."""
        with self._read() as s:
            s.execute(text("SELECT 1"))

    def close(self) -> None:
        self._engine.dispose()

    # plans

    def save_plan(self, definition_hash: str, workflow_id: str, body: str) -> None:
        with self._write() as s:
            runs.save_plan(s, definition_hash, workflow_id, body)

    def load_plan(self, definition_hash: str) -> str:
        with self._read() as s:
            body = runs.load_plan(s, definition_hash)
        if body is None:
            raise KeyError(definition_hash)
        return body

    # model pins (providers/pin.py RunModel): stored once by hash, like plans

    def pin_model(self, run_id: str, sha256: str, spec: str, body: str) -> None:
        """Store the pin (once) and point the run at it when its row exists (`begin_run` does it otherwise)."""
        with self._write() as s:
            runs.save_run_model(s, sha256, spec, body)
            runs.pin_run(s, run_id, sha256)

    def load_run_model(self, sha256: str) -> str:
        with self._read() as s:
            body = runs.load_run_model(s, sha256)
        if body is None:
            raise KeyError(sha256)
        return body

    # runs

    def create_run(
        self,
        run_id: str,
        workflow_id: str,
        temporal_workflow_id: str,
        definition_hash: str,
        inputs: dict[str, Any],
        status: str = "running",
    ) -> None:
        with self._write() as s:
            runs.create_run(s, run_id, workflow_id, temporal_workflow_id, definition_hash, inputs, status)

    def begin_run(
        self, run_id: str, workflow_id: str, temporal_workflow_id: str, definition_hash: str, inputs: dict[str, Any],
        steps: list[tuple[str, str, str | None, int | None]], event: tuple[str, dict[str, Any]],
        model_sha256: str | None = None,
    ) -> int | None:
        """The run row (pointing at its model pin, when given), its pending steps and its `run.started` event
        (once), in one transaction; the event's seq, or None when a retried call had stored it."""

        def write(s: Session) -> int | None:
            runs.create_run(s, run_id, workflow_id, temporal_workflow_id, definition_hash, inputs, "running")
            if model_sha256 is not None:
                runs.pin_run(s, run_id, model_sha256)
            runs.ensure_steps(s, run_id, steps)
            return events.append_once(s, run_id, *event, {})

        return self._write_retrying(write)

    def end_run(
        self, run_id: str, status: str, error: str | None, decisions: list[Any],
        steps: list[tuple[str, str, str | None, int | None, str]], event: tuple[str, dict[str, Any]],
    ) -> int | None:
        """Final step statuses, the run's status and decisions, and its `run.<status>` event (once), in one
        transaction; the event's seq, or None when a retried call had stored it."""

        def write(s: Session) -> int | None:
            runs.set_step_statuses(s, run_id, steps)
            if not runs.finish_run(s, run_id, status, error, decisions):
                raise KeyError(run_id)
            return events.append_once(s, run_id, *event, {})

        return self._write_retrying(write)

    def finish_run(
        self, run_id: str, status: str, error: str | None = None, decisions: list[Any] | None = None
    ) -> None:
        with self._write() as s:
            if not runs.finish_run(s, run_id, status, error, decisions):
                raise KeyError(run_id)

    def get_run(self, run_id: str) -> RunView | None:
        with self._read() as s:
            return runs.get_run(s, run_id)

    def list_runs(
        self, status: str | None = None, workflow_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[RunView]:
        with self._read() as s:
            return runs.list_runs(s, status, workflow_id, limit, offset)

    # steps

    def ensure_steps(self, run_id: str, steps: list[tuple[str, str, str | None, int | None]]) -> None:
        with self._write() as s:
            runs.ensure_steps(s, run_id, steps)

    def step_started(
        self, run_id: str, key: str, step_id: str, agent: str | None, iteration: int | None, attempt: int
    ) -> None:
        with self._write() as s:
            runs.step_started(s, run_id, key, step_id, agent, iteration, attempt)

    def step_finished(
        self, run_id: str, key: str, status: str, error: str | None = None, attempt: int | None = None
    ) -> None:
        with self._write() as s:
            if not runs.step_finished(s, run_id, key, status, error, attempt):
                raise KeyError((run_id, key))

    def get_step(self, run_id: str, key: str) -> StepView | None:
        with self._read() as s:
            return runs.get_step(s, run_id, key)

    def set_step_status(
        self, run_id: str, key: str, step_id: str, agent: str | None, iteration: int | None, status: str
    ) -> None:
        with self._write() as s:
            runs.set_step_status(s, run_id, key, step_id, agent, iteration, status)

    # a step's writes, one transaction each (the hot path: see bench/RESULTS.md)

    def start_step(
        self, run_id: str, key: str, step_id: str, agent: str | None, iteration: int | None, attempt: int,
        event: tuple[str, dict[str, Any]],
    ) -> int:
        """Mark the step running and append its `step.started` event together; returns the event's seq."""

        def write(s: Session) -> int:
            runs.step_started(s, run_id, key, step_id, agent, iteration, attempt)
            return events.append(s, run_id, *event)

        return self._write_retrying(write)

    def complete_step(
        self,
        run_id: str,
        key: str,
        output_key: str,
        name: str,
        content: bytes,
        usage_row: tuple[str, str, int, int] | Sequence[UsageCall],
        events_for: Callable[[ArtifactRef], list[tuple[str, dict[str, Any]]]],
        media_type: str = "text/markdown",
        *,
        extra: Sequence[tuple[str, bytes]] = (),
        extra_events_for: Callable[[list[ArtifactRef]], list[tuple[str, dict[str, Any]]]] | None = None,
        answered_by: tuple[str, str] | None = None,
    ) -> tuple[ArtifactRef, list[tuple[int, str, dict[str, Any]]]]:
        """Usage, the artifact's next version (and `extra` artifacts, e.g. a transcript), the step's completion
        (with the provider/model that answered) and its events, all or nothing.

        `usage_row` is one call as (provider, model, prompt, completion), keyed by the output, or the step's calls.
        Idempotent on (run, output_key, name): a retry after a commit returns the stored artifact and no events.
        """
        sha256 = hashlib.sha256(content).hexdigest()
        if isinstance(usage_row, tuple) and len(usage_row) == 4 and isinstance(usage_row[0], str):
            provider, model, prompt_tokens, completion_tokens = usage_row
            calls: Sequence[UsageCall] = [
                UsageCall(f"{run_id}:{output_key}", provider, model, prompt_tokens, completion_tokens)
            ]
        else:
            calls = usage_row

        def write(s: Session) -> tuple[ArtifactRef, list[tuple[int, str, dict[str, Any]]]]:
            existing = artifacts.find(s, run_id, output_key, name)
            if existing is not None:
                return existing, []
            usage.record_calls(s, run_id, key, calls)
            artifacts.put_blob(s, sha256, content, lookup=False)
            ref = artifacts.insert_next_version(s, run_id, name, output_key, sha256, len(content), media_type)
            extras: list[ArtifactRef] = []
            for extra_name, extra_content in extra:
                extra_sha = hashlib.sha256(extra_content).hexdigest()
                artifacts.put_blob(s, extra_sha, extra_content)
                extras.append(artifacts.insert_next_version(
                    s, run_id, extra_name, output_key, extra_sha, len(extra_content), media_type))
            runs.step_finished(s, run_id, key, "completed", None, answered_by=answered_by)
            planned = events_for(ref) + (extra_events_for(extras) if extra_events_for else [])
            seqs = events.append_many(s, run_id, planned)
            return ref, [(seq, t, d) for seq, (t, d) in zip(seqs, planned, strict=True)]

        stored = self._write_retrying(write)
        if stored[0].sha256 == sha256:  # not a retry that found an earlier attempt's (other) answer
            self.contents.put(sha256, content)
        return stored

    def fail_step(
        self, run_id: str, key: str, status: str, error: str, event: tuple[str, dict[str, Any]],
        usage_calls: Sequence[UsageCall] = (),
    ) -> int:
        """Mark the step failed/retrying with its event; `usage_calls` are the attempt's answered (billed) calls."""

        def write(s: Session) -> int:
            usage.record_calls(s, run_id, key, usage_calls)
            runs.step_finished(s, run_id, key, status, error)
            return events.append(s, run_id, *event)

        return self._write_retrying(write)

    def record_fallback(self, run_id: str, key: str, entry: dict[str, Any], event: tuple[str, dict[str, Any]]) -> int:
        """Note on the step that it moved to its next model, with the event saying so; returns the event's seq."""

        def write(s: Session) -> int:
            runs.add_fallback(s, run_id, key, entry)
            return events.append(s, run_id, *event)

        return self._write_retrying(write)

    # artifacts

    def put_artifact(
        self, run_id: str, name: str, content: bytes, step_key: str, media_type: str = "text/markdown"
    ) -> ArtifactRef:
        """Store `content` as the next version of `name`, once per (run, step, name): a retried
        activity gets the row its first attempt wrote, never a second version."""
        sha256 = hashlib.sha256(content).hexdigest()

        def attempt(s: Session) -> ArtifactRef:
            existing = artifacts.find(s, run_id, step_key, name)
            if existing is not None:
                return existing
            artifacts.put_blob(s, sha256, content)
            return artifacts.insert_next_version(s, run_id, name, step_key, sha256, len(content), media_type)

        ref = self._write_retrying(attempt)
        if ref.sha256 == sha256:
            self.contents.put(sha256, content)
        return ref

    def find_artifact(self, run_id: str, step_key: str, name: str) -> ArtifactRef | None:
        with self._read() as s:
            return artifacts.find(s, run_id, step_key, name)

    def latest_artifact(self, run_id: str, name: str) -> ArtifactRef | None:
        with self._read() as s:
            return artifacts.latest(s, run_id, name)

    def read_artifact(self, artifact_id: int, sha256: str | None = None) -> bytes:
        """An artifact version's content; given its `sha256` (an artifact pointer carries it), from memory when
        this process wrote or read that content before (see store.cache)."""
        if sha256 is not None:
            cached = self.contents.get(sha256)
            if cached is not None:
                return cached
        with self._read() as s:
            row = artifacts.read(s, artifact_id)
        if row is None:
            raise KeyError(artifact_id)
        self.contents.put(*row)
        return row[1]

    def list_artifacts(self, run_id: str) -> list[ArtifactRef]:
        with self._read() as s:
            return artifacts.list_for_run(s, run_id)

    # usage

    def record_usage(
        self,
        run_id: str,
        step_key: str,
        call_key: str,
        provider: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
    ) -> None:
        with self._write() as s:
            usage.record(s, run_id, step_key, call_key, provider, model, prompt_tokens, completion_tokens)

    def usage_for_run(self, run_id: str) -> list[UsageRow]:
        with self._read() as s:
            return usage.for_run(s, run_id)

    def usage_since(self, since: datetime) -> list[UsageRow]:
        with self._read() as s:
            return usage.since(s, since)

    def usage_summary(self, run_id: str) -> UsageSummary:
        """Exact totals of a run's calls, per step, provider and provider:model."""
        return usage.summarize(self.usage_for_run(run_id))

    def usage_summary_since(self, since: datetime) -> UsageSummary:
        """Exact totals of every run's calls since a time, per provider and provider:model."""
        return usage.summarize(self.usage_since(since), by_step=False)

    def step_samples(
        self, agent: str | None, provider: str, model: str, exclude_run: str | None, limit: int = 50
    ) -> list[tuple[str, int, Decimal | None]]:
        """(run_id, tokens, cost) per step by this agent on this model, newest first (anomaly baseline); steps of
        `exclude_run` left out."""
        with self._read() as s:
            return usage.step_samples(s, agent, provider, model, exclude_run, limit)

    # events

    def append_event(self, run_id: str, type: str, data: dict[str, Any]) -> int:
        return self._write_retrying(lambda s: events.append(s, run_id, type, data))

    def append_event_once(
        self, run_id: str, type: str, data: dict[str, Any], match: dict[str, Any] | None = None
    ) -> int | None:
        """Append unless this event (same type, same `match` items) is stored already; None when it was."""
        return self._write_retrying(lambda s: events.append_once(s, run_id, type, data, match or {}))

    def list_events(self, run_id: str, after_seq: int = 0) -> list[EventRow]:
        with self._read() as s:
            return events.list_after(s, run_id, after_seq)

    def recent_events(self, type: str, since: datetime, limit: int = 100) -> list[tuple[str, EventRow]]:
        """(run_id, event) of every run's events of `type` since `since`, newest first."""
        with self._read() as s:
            return events.recent(s, type, since, limit)

    # sessions

    @contextmanager
    def _read(self) -> Iterator[Session]:
        ensure_migrated(self._engine)
        with self._reads() as s:
            yield s

    @contextmanager
    def _write(self) -> Iterator[Session]:
        ensure_migrated(self._engine)
        with self._writes.begin() as s:
            yield s

    def _write_retrying(self, fn: Callable[[Session], T]) -> T:
        """Run `fn` in a write transaction, again in a fresh one if it lost a unique-key race."""
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                with self._write() as s:
                    return fn(s)
            except IntegrityError as exc:
                if not is_unique_violation(exc) or attempt == CONFLICT_RETRIES:
                    raise
            time.sleep(random.uniform(0, 0.002 * attempt))  # spread out writers that collided
        raise AssertionError("unreachable")


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def get_store(database_url: str) -> Store:
    """The process-wide Store (one engine, one pool) for `database_url`."""
    with _stores_lock:
        store = _stores.get(database_url)
        if store is None:
            store = _stores[database_url] = Store(database_url)
        return store
