"""The Store: the one door to BotArmy's database. Sync and thread-safe; async code calls it through
`store.inline.call` (on the loop for SQLite, in a thread otherwise)."""

from __future__ import annotations

import hashlib
import json
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
import store.prune as pruning
import store.reuse as reuse
import store.runs as runs
import store.usage as usage
from store.cache import CONTENT_CACHE_BYTES, ContentCache
from store.db import is_unique_violation, make_engine, writer
from store.identity import IdentityStore
from store.migrate import ensure_migrated
from store.stamp import ChangeStamp
from store.types import (
    ArtifactRef,
    EventRow,
    ReusePlan,
    RunLineage,
    RunOpening,
    RunView,
    StepCompletion,
    TakeOver,
    UsageCall,
    UsageDay,
    UsageRow,
    UsageSummary,
)

T = TypeVar("T")

# How often a write that lost a race for a version or seq number is retried (PostgreSQL; SQLite
# serialises writers, so there it never loses).
CONFLICT_RETRIES = 50


def _latest(rows: Sequence[Any], name: str) -> ArtifactRef | None:
    """The newest of `rows` (artifact rows or refs, oldest first) named `name`, as an ArtifactRef."""
    found = [r for r in rows if r.name == name]
    if not found:
        return None
    last = found[-1]
    return last if isinstance(last, ArtifactRef) else artifacts.artifact_ref(last)


class Store:
    def __init__(self, database_url: str, content_cache_bytes: int = CONTENT_CACHE_BYTES) -> None:
        self.database_url = database_url
        self._engine = make_engine(database_url)
        # SQLite: a call is CPU work in this process, which async code may run on its loop (store/inline.py)
        self.local = self._engine.dialect.name == "sqlite"
        self.stamp = ChangeStamp(self._engine)  # whether anything was committed since (api/views.py)
        self.contents = ContentCache(content_cache_bytes)
        self._reads = sessionmaker(self._engine, expire_on_commit=False)
        self._writes = sessionmaker(writer(self._engine), expire_on_commit=False)
        self.identity = IdentityStore(self._read, self._write)  # users, tokens, sessions, audit
        # plans and model pins are stored by content hash and never change or go: one INSERT per process is enough
        # (every launch stored both again: a statement compiled and a writer's lock taken per run for nothing)
        self._stored_hashes: set[tuple[str, str]] = set()

    def migrate(self) -> None:
        """Upgrade the schema to the latest revision (always checks; cheap when already current)."""
        ensure_migrated(self._engine, force=True)

    def ping(self) -> None:
        """Raises when the database cannot be read (health checks)."""
        with self._read() as s:
            s.execute(text("SELECT 1"))

    def close(self) -> None:
        self.stamp.close()
        self._engine.dispose()

    # plans

    def save_plan(self, definition_hash: str, workflow_id: str, body: str) -> None:
        if ("plan", definition_hash) in self._stored_hashes:
            return
        with self._write() as s:
            runs.save_plan(s, definition_hash, workflow_id, body)
        self._stored_hashes.add(("plan", definition_hash))

    def load_plan(self, definition_hash: str) -> str:
        with self._read() as s:
            body = runs.load_plan(s, definition_hash)
        if body is None:
            raise KeyError(definition_hash)
        return body

    # run inputs: stored once by the sha256 of their canonical JSON (a blob), so the workflow and its steps carry
    # the hash, not the values

    def save_inputs(self, inputs: dict[str, Any]) -> str:
        sha256, body = _inputs_blob(inputs)
        with self._write() as s:
            artifacts.put_blob(s, sha256, body)
        return sha256

    def load_inputs(self, sha256: str) -> dict[str, Any]:
        with self._read() as s:
            body = artifacts.read_blob(s, sha256)
        if body is None:
            raise KeyError(sha256)
        inputs: dict[str, Any] = json.loads(body)
        return inputs

    # model pins (providers/pin.py RunModel): stored once by hash, like plans

    def pin_model(self, run_id: str, sha256: str, spec: str, body: str) -> None:
        """Store the pin (once) and point the run at it when its row exists (`begin_run` does it otherwise)."""
        with self._write() as s:
            if ("pin", sha256) not in self._stored_hashes:
                runs.save_run_model(s, sha256, spec, body)
            runs.pin_run(s, run_id, sha256)
        self._stored_hashes.add(("pin", sha256))

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
        lineage: RunLineage | None = None,
    ) -> None:
        with self._write() as s:
            runs.create_run(s, run_id, workflow_id, temporal_workflow_id, definition_hash, inputs, status, lineage)

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

    def open_run(self, run: RunOpening) -> tuple[str, int | None]:
        """A launched run, before its workflow starts, in one transaction: its plan, model pin and inputs (each
        stored once by hash), its row pointing at the pin, its pending steps and its `run.started` event (once);
        (the inputs' hash, the event's seq or None when a repeated call had stored it)."""
        sha256, body = _inputs_blob(run.inputs)

        stored = ("plan", run.definition_hash), ("pin", run.model[0])

        def write(s: Session) -> int | None:
            if stored[0] not in self._stored_hashes:
                runs.save_plan(s, run.definition_hash, run.workflow_id, run.plan_body)
            if stored[1] not in self._stored_hashes:
                runs.save_run_model(s, *run.model)
            artifacts.put_blob(s, sha256, body)
            runs.create_run(s, run.run_id, run.workflow_id, run.temporal_workflow_id, run.definition_hash,
                            run.inputs, "running", run.lineage)
            runs.pin_run(s, run.run_id, run.model[0])
            runs.ensure_steps(s, run.run_id, run.steps)
            return events.append_once(s, run.run_id, *run.event, {})

        seq = self._write_retrying(write)
        self._stored_hashes.update(stored)
        return sha256, seq

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

    def end_if_running(self, run_id: str, status: str, error: str) -> int | None:
        """End a run that the store shows running but that ended outside BotArmy's code (botarmy/reconcile.py):
        its status and error, its open steps closed, its `run.<status>` event, in one transaction; the event's
        seq, or None when the run was not running any more."""

        def write(s: Session) -> int | None:
            if not runs.end_if_running(s, run_id, status, error):
                return None
            return events.append_once(s, run_id, f"run.{status}", {"error": error, "reconciled": True}, {})

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

    def complete_step(self, done: StepCompletion) -> tuple[ArtifactRef, list[tuple[int, str, dict[str, Any]]]]:
        """Usage, the artifact's next version (and `extra` artifacts, e.g. a transcript), the step's completion
        (with the provider/model that answered) and its events, all or nothing; the artifact and the stored
        events as (seq, type, data).

        Idempotent on (run, output_key, name): a retry after a commit returns the stored artifact and no events.
        """
        run_id, content = done.run_id, done.content
        sha256 = hashlib.sha256(content).hexdigest()

        def write(s: Session) -> tuple[ArtifactRef, list[tuple[int, str, dict[str, Any]]]]:
            existing = artifacts.find(s, run_id, done.output_key, done.name)
            if existing is not None:
                return existing, []
            usage.record_calls(s, run_id, done.key, done.calls)
            artifacts.put_blob(s, sha256, content, lookup=False)
            ref = artifacts.insert_next_version(
                s, run_id, done.name, done.output_key, sha256, len(content), done.media_type, done.input_sha256)
            extras: list[ArtifactRef] = []
            for extra_name, extra_content in done.extra:
                extra_sha = hashlib.sha256(extra_content).hexdigest()
                artifacts.put_blob(s, extra_sha, extra_content)
                extras.append(artifacts.insert_next_version(
                    s, run_id, extra_name, done.output_key, extra_sha, len(extra_content), done.media_type))
            runs.step_finished(s, run_id, done.key, "completed", None, answered_by=done.answered_by)
            planned = done.events_for(ref) + (done.extra_events_for(extras) if done.extra_events_for else [])
            seqs = events.append_many(s, run_id, planned)
            return ref, [(seq, t, d) for seq, (t, d) in zip(seqs, planned, strict=True)]

        stored = self._write_retrying(write)
        if stored[0].sha256 == sha256:  # not a retry that found an earlier attempt's (other) answer
            self.contents.put(sha256, content)
        return stored

    def reuse_step(self, run_id: str, key: str, attempt: int) -> tuple[str | None, str | None]:
        """Mark completed a step whose output an earlier attempt stored (this attempt counts: attempts only grow);
        the (provider, model) that answered it. One transaction; KeyError when the run has no such step."""
        with self._write() as s:
            answered = runs.step_reused(s, run_id, key, attempt)
        if answered is None:
            raise KeyError((run_id, key))
        return answered

    def reuse_plan(self, run_id: str) -> ReusePlan | None:
        """What the run's steps take over instead of calling a model; None for an ordinary run."""
        with self._read() as s:
            stored = runs.reuse_of(s, run_id)
        return None if stored is None else ReusePlan.model_validate(stored)

    def cached_output(self, input_sha256: str, run_id: str) -> tuple[str, str] | None:
        """(run, step key) of the newest output of another run whose input hashed to `input_sha256`."""
        with self._read() as s:
            row = reuse.cached(s, input_sha256, run_id)
        return None if row is None else (row.run_id, row.step_key)

    def take_over(self, t: TakeOver) -> tuple[
        ArtifactRef | None, list[tuple[int, str, dict[str, Any]]], tuple[str | None, str | None]
    ]:
        """Record stored outputs as step `t.key`'s (by reference: same sha256, no model call, no usage), mark the
        step completed and reused, and append its events, in one transaction; the step's latest version of
        `t.name`, the stored events as (seq, type, data) and the (provider, model) that answered the source.
        (None, [], ...) when the source has no such output.
        Idempotent: a retry after the commit returns the recorded artifact and no events."""

        def write(s: Session) -> tuple[
            ArtifactRef | None, list[tuple[int, str, dict[str, Any]]], tuple[str | None, str | None]
        ]:
            source_step = reuse.base_key(t.source_key)
            answered = reuse.answered_by(s, t.source_run, source_step)
            # done before: a carried step's outputs, or (the cache) those under this output key (a headless step's
            # next round is another output of the same step)
            mine = (reuse.outputs_of_step(s, t.run_id, t.key) if t.output_key is None
                    else reuse.outputs_with_key(s, t.run_id, t.output_key))
            if mine:
                return _latest(mine, t.name), [], answered
            if t.output_key is None:
                sources = [(r, r.step_key) for r in reuse.outputs_of_step(s, t.source_run, t.source_key)]
            else:
                sources = [(r, t.output_key) for r in reuse.outputs_with_key(s, t.source_run, t.source_key)]
            if not any(r.name == t.name for r, _ in sources):
                return None, [], answered
            runs.step_started(s, t.run_id, t.key, t.step_id, t.agent, t.iteration, t.attempt)
            refs = reuse.copy_outputs(s, t.run_id, sources, t.replacements, f"{t.key}@edit")
            reuse.mark_taken_over(s, t.run_id, t.key, f"{t.source_run}/{source_step}", answered)
            planned = t.events_for(refs)
            seqs = events.append_many(s, t.run_id, planned)
            stored = [(seq, k, d) for seq, (k, d) in zip(seqs, planned, strict=True)]
            return _latest(refs, t.name), stored, answered

        return self._write_retrying(write)

    def put_blob(self, content: bytes) -> str:
        """Store content by its hash (once); the sha256."""
        sha256 = hashlib.sha256(content).hexdigest()
        with self._write() as s:
            artifacts.put_blob(s, sha256, content)
        return sha256

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

    def artifact_version(self, run_id: str, name: str, version: int) -> ArtifactRef | None:
        """One version of one artifact (one indexed query); None when the run has no such version."""
        with self._read() as s:
            return artifacts.version(s, run_id, name, version)

    def read_artifact(self, artifact_id: int, sha256: str) -> bytes:
        """An artifact version's content; from memory when this process wrote or read content with that `sha256`
        before (see store.cache), else from the database by `artifact_id` (the id decides what is read)."""
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

    def usage_for_run(self, run_id: str) -> list[UsageRow]:
        with self._read() as s:
            return usage.for_run(s, run_id)

    def usage_summary(self, run_id: str) -> UsageSummary:
        """Exact totals of a run's calls, per step, provider and provider:model."""
        return usage.summarize(self.usage_for_run(run_id))

    def usage_summary_since(self, since: datetime) -> UsageSummary:
        """Exact totals of every run's calls since a time, per provider and provider:model."""
        with self._read() as s:
            rows = usage.since(s, since)
        return usage.summarize(rows, by_step=False)

    def run_costs(self, run_ids: list[str]) -> dict[str, Decimal]:
        """The exact cost of each run's calls (a run without calls is not in the answer)."""
        with self._read() as s:
            return usage.cost_by_run(s, run_ids)

    def usage_daily(self, since: datetime) -> list[UsageDay]:
        """Every run's calls since a time, summed per UTC day, workflow and provider:model."""
        with self._read() as s:
            return usage.daily(s, since)

    def step_samples(
        self, agent: str | None, provider: str, model: str, exclude_run: str | None, limit: int = 50
    ) -> list[tuple[str, int, Decimal | None]]:
        """(run_id, tokens, cost) per step by this agent on this model, newest first (anomaly baseline); steps of
        `exclude_run` left out."""
        with self._read() as s:
            return usage.step_samples(s, agent, provider, model, exclude_run, limit)

    # pruning

    def prune(self, before: datetime, statuses: tuple[str, ...], dry_run: bool = False) -> pruning.PruneReport:
        """Delete old finished runs and the documents no remaining run references (one transaction)."""
        with self._write() as s:
            return pruning.prune(s, before, statuses, dry_run)

    # events

    def append_event(self, run_id: str, type: str, data: dict[str, Any]) -> int:
        return self._write_retrying(lambda s: events.append(s, run_id, type, data))

    def append_event_once(
        self, run_id: str, type: str, data: dict[str, Any], match: dict[str, Any] | None = None
    ) -> int | None:
        """Append unless this event (same type, same `match` items) is stored already; None when it was."""
        return self._write_retrying(lambda s: events.append_once(s, run_id, type, data, match or {}))

    def decision_comment_bytes(self, run_id: str) -> int:
        """How many bytes of comments the run's decisions carry so far (its `approval.resolved` events)."""
        with self._read() as s:
            return events.comment_bytes(s, run_id, "approval.resolved")

    def list_events(self, run_id: str, after_seq: int = 0) -> list[EventRow]:
        with self._read() as s:
            return events.list_after(s, run_id, after_seq)

    def event_heads(self, run_ids: list[str]) -> dict[str, int]:
        """The last event seq of each of these runs that has events (followers' watcher: one read for all)."""
        with self._read() as s:
            return events.heads(s, run_ids)

    def run_statuses(self, run_ids: list[str]) -> dict[str, str]:
        """The status of each of these runs that exists (one read)."""
        with self._read() as s:
            return runs.statuses(s, run_ids)

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


def _inputs_blob(inputs: dict[str, Any]) -> tuple[str, bytes]:
    """Run inputs as stored: their canonical JSON, and its sha256 (the run's `inputs_ref`)."""
    body = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    return hashlib.sha256(body).hexdigest(), body


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def get_store(database_url: str) -> Store:
    """The process-wide Store (one engine, one pool) for `database_url`."""
    with _stores_lock:
        store = _stores.get(database_url)
        if store is None:
            store = _stores[database_url] = Store(database_url)
        return store
