"""Scenario `redis`: stop Redis mid-run; runs complete with their events in the database, and once Redis is back
the events of a new run are published again."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import time
import uuid
from typing import Any

import redis

from chaos.checks import Summary
from chaos.harness import GREENFIELD, QUICK_FIX, Config, Harness, Reference, run_id_of
from workflows.contracts import event_channel as channel

REDIS_PORT = 6379
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", str(REDIS_PORT),
               "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"]


def redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def stop_redis(timeout_s: float = 10) -> None:
    subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "shutdown", "nosave"], check=False, capture_output=True,
                   timeout=30)
    deadline = time.monotonic() + timeout_s
    while redis_up():
        if time.monotonic() > deadline:
            raise RuntimeError("Redis did not stop")
        time.sleep(0.1)


def ensure_redis_up(timeout_s: float = 20) -> None:
    if redis_up():
        return
    subprocess.run(REDIS_START, check=False, capture_output=True, timeout=30)
    deadline = time.monotonic() + timeout_s
    while not redis_up():
        if time.monotonic() > deadline:
            raise RuntimeError("Redis did not start again")
        time.sleep(0.1)


async def redis_scenario(runs: int, cfg: Config) -> Summary:
    summary = Summary("redis")
    rng = random.Random(cfg.seed)
    try:
        await asyncio.to_thread(ensure_redis_up)
        async with Harness("redis", cfg, redis_url=REDIS_URL) as h:
            h.start_worker()
            reference = await h.reference(GREENFIELD)
            for i in range(runs):
                await _stopped_run(h, i, rng, reference, summary)
                await asyncio.to_thread(ensure_redis_up)
            await _published_again(h, summary)
    finally:
        await asyncio.to_thread(ensure_redis_up)  # other tests and the API need it, whatever happened here
    return summary


async def _stopped_run(h: Harness, i: int, rng: random.Random, reference: Reference, summary: Summary) -> None:
    started_run = await h.start_until_step_runs(f"run {i + 1}", rng, reference, summary)
    if started_run is None:
        return
    handle, step = started_run
    run_id = run_id_of(handle)
    await asyncio.to_thread(stop_redis)
    summary.notes.append(f"run {i + 1}: Redis stopped while {step} ran")
    outcome = await h.check(handle, reference)
    events = await asyncio.to_thread(h.store.list_events, run_id)
    types = [e.type for e in events]
    done = {e.data.get("step") for e in events if e.type == "step.completed"}
    outcome.lost += [f"no step.completed event for {k}" for k in reference.steps if k not in done]
    if "run.completed" not in types:
        outcome.lost.append("no run.completed event in the database")
    seqs = [e.seq for e in events]
    if seqs != list(range(1, len(seqs) + 1)):
        outcome.lost.append(f"event sequence has gaps: {seqs}")
    summary.add(outcome, "redis stopped")


async def _published_again(h: Harness, summary: Summary) -> None:
    """A new run after Redis came back: every event it stores is also published on its channel, but `run.started`,
    which `launch` stores with the run before its workflow starts (Store.open_run) and does not publish: nobody can
    follow a run before its id is handed back, and every follower reads the table before it listens."""
    run_id = uuid.uuid4().hex[:10]
    pubsub = redis.Redis.from_url(REDIS_URL).pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(channel(run_id))
        handle = await h.start(QUICK_FIX, run_id=run_id)
        status = await h.result(handle)
        published = await asyncio.to_thread(_collect, pubsub, h.cfg.run_timeout_s)
    finally:
        pubsub.close()
    stored = [e.seq for e in await asyncio.to_thread(h.store.list_events, run_id) if e.type != "run.started"]
    missing = sorted(set(stored) - set(published))
    if status != "completed" or missing or not stored:
        summary.problems.append(f"after Redis restarted, run {run_id} ({status}): {len(stored)} events stored, "
                                f"{len(published)} published, not published: {missing}")
    else:
        summary.notes.append(f"after Redis restarted: all {len(stored)} events of run {run_id} were published")


def _collect(pubsub: Any, timeout_s: float) -> dict[int, str]:
    """seq → type of the messages on the channel, until run.completed or the timeout."""
    seen: dict[int, str] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and "run.completed" not in seen.values():
        msg = pubsub.get_message(timeout=0.5)
        if msg and msg.get("type") == "message":
            body = json.loads(msg["data"])
            seen[int(body["seq"])] = body["type"]
    return seen
