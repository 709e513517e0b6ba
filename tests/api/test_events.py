"""Live events: SSE over a real uvicorn (resumable with Last-Event-ID, each event exactly once) and WebSocket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api.main import create_app
from botarmy.settings import Settings
from store import Store
from tests.api.conftest import admin_headers, served
from workflows.contracts import event_channel as channel


def new_run(sqlite_url: str, run_id: str) -> Store:
    store = Store(sqlite_url)
    store.migrate()
    store.create_run(run_id, "quick-fix", f"bmad-quick-fix-{run_id}", "h" * 64, {})
    return store


async def sse_events(response: httpx.Response) -> AsyncIterator[dict]:
    """Parse `id:`/`event:`/`data:` frames; comments and `retry:` are skipped."""
    frame: dict = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in frame:
                yield frame
            frame = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            frame[key] = value.removeprefix(" ")


class Appender:
    """Appends events the way activities will: into the table, then (with Redis) a wake-up publish."""

    def __init__(self, store: Store, run_id: str, redis_url: str | None) -> None:
        self.store, self.run_id = store, run_id
        self.redis = aioredis.from_url(redis_url) if redis_url else None

    async def __call__(self, type_: str, **data: object) -> int:
        seq = await asyncio.to_thread(self.store.append_event, self.run_id, type_, dict(data))
        if self.redis is not None:
            await self.redis.publish(channel(self.run_id), str(seq))
        return seq


@pytest.mark.parametrize("wakeup", ["polling", "redis"])
async def test_sse_resumes_with_last_event_id_without_gap_or_duplicate_and_ends_after_terminal_event(
    wakeup: str, settings: Settings, bmad_dir: Path, sqlite_url: str, request: pytest.FixtureRequest
):
    redis_url = request.getfixturevalue("redis_url") if wakeup == "redis" else None
    settings = settings.model_copy(update={"redis_url": redis_url})
    store = new_run(sqlite_url, "r-sse")
    append = Appender(store, "r-sse", redis_url)
    for i in range(3):
        await append("step.started", step=f"s{i}")
    received: list[dict] = []
    async with served(create_app(settings, [bmad_dir])) as base, \
            httpx.AsyncClient(base_url=base, headers=admin_headers(settings)) as client:
        async with client.stream("GET", "/runs/r-sse/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse_events(response)
            for _ in range(3):
                received.append(await anext(events))
            await append("step.completed", step="s2")  # appended while the client is connected
            received.append(await asyncio.wait_for(anext(events), 5))
        # disconnected; more happens meanwhile, including the end of the run
        await append("artifact.created", name="prd.md")
        await append("run.completed", status="completed")
        last_id = received[-1]["id"]
        async with client.stream("GET", "/runs/r-sse/events", headers={"Last-Event-ID": last_id}) as response:
            received += [e async for e in sse_events(response)]  # ends by itself after run.completed

        assert [int(e["id"]) for e in received] == [1, 2, 3, 4, 5, 6]
        assert [e["event"] for e in received][-3:] == ["step.completed", "artifact.created", "run.completed"]
        payload = json.loads(received[0]["data"])
        assert payload["seq"] == 1 and payload["type"] == "step.started" and payload["data"] == {"step": "s0"}

        # resuming after the terminal event ends at once; resuming from the middle replays exactly the rest
        async with client.stream("GET", "/runs/r-sse/events", headers={"Last-Event-ID": "6"}) as response:
            assert [e async for e in sse_events(response)] == []
        async with client.stream("GET", "/runs/r-sse/events", headers={"Last-Event-ID": "4"}) as response:
            assert [int(e["id"]) async for e in sse_events(response)] == [5, 6]
        # an id that is not a seq (a proxy's, "null", past 64 bits) is ignored: the stream starts from the beginning
        for junk in ("x", "null", "-1", "1e3", "9" * 30):
            async with client.stream("GET", "/runs/r-sse/events", headers={"Last-Event-ID": junk}) as response:
                assert response.status_code == 200
                assert [int(e["id"]) async for e in sse_events(response)] == [1, 2, 3, 4, 5, 6]
        too_far = await client.get("/runs/r-sse/events", params={"after": 2**63})
        assert too_far.status_code == 422 and too_far.headers["content-type"].startswith("application/problem+json")


async def test_sse_of_a_run_that_ended_without_a_terminal_event_still_ends(
    settings: Settings, bmad_dir: Path, sqlite_url: str
):
    store = new_run(sqlite_url, "r-ended")
    store.append_event("r-ended", "step.started", {})
    store.finish_run("r-ended", "failed", "boom")
    async with served(create_app(settings, [bmad_dir])) as base, \
            httpx.AsyncClient(base_url=base, headers=admin_headers(settings), timeout=20) as client:
        async with client.stream("GET", "/runs/r-ended/events") as response:
            events = await asyncio.wait_for(_collect(response), 15)
    assert [e["event"] for e in events] == ["step.started"]


async def test_sse_of_a_run_stopped_at_its_budget_ends_after_run_stopped(
    settings: Settings, bmad_dir: Path, sqlite_url: str
):
    store = new_run(sqlite_url, "r-stopped")
    store.append_event("r-stopped", "step.started", {})
    store.append_event("r-stopped", "run.stopped", {"error": "stopped by erin before 03-architect-arch"})
    async with served(create_app(settings, [bmad_dir])) as base, \
            httpx.AsyncClient(base_url=base, headers=admin_headers(settings), timeout=20) as client:
        async with client.stream("GET", "/runs/r-stopped/events") as response:
            events = await asyncio.wait_for(_collect(response), 5)
    assert [e["event"] for e in events] == ["step.started", "run.stopped"]


async def _collect(response: httpx.Response) -> list[dict]:
    return [e async for e in sse_events(response)]


def test_websocket_sends_the_same_events_as_json_and_closes_after_the_terminal_event(
    settings: Settings, bmad_dir: Path, sqlite_url: str
):
    store = new_run(sqlite_url, "r-ws")
    for type_ in ("run.started", "step.started", "step.completed", "run.completed"):
        store.append_event("r-ws", type_, {"t": type_})
    with TestClient(create_app(settings, [bmad_dir]), headers=admin_headers(settings)) as client:
        with client.websocket_connect("/ws/runs/r-ws?after=1") as ws:
            got = [ws.receive_json() for _ in range(3)]
            closing = ws.receive()
        assert [(m["seq"], m["type"]) for m in got] == [(2, "step.started"), (3, "step.completed"),
                                                        (4, "run.completed")]
        assert got[0]["data"] == {"t": "step.started"}
        assert closing["type"] == "websocket.close" and closing["code"] == 1000

        with client.websocket_connect("/ws/runs/nope") as ws, pytest.raises(WebSocketDisconnect) as gone:
            ws.receive_json()
        assert gone.value.code == 4404


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "stopped"])
def test_sse_and_websocket_end_on_every_terminal_event(
    status: str, settings: Settings, bmad_dir: Path, sqlite_url: str
):
    store = new_run(sqlite_url, "r-end")
    for type_ in ("run.started", "step.started", f"run.{status}"):
        store.append_event("r-end", type_, {})
    # the run row still says running: only the terminal event can end these streams
    with TestClient(create_app(settings, [bmad_dir]), headers=admin_headers(settings)) as client:
        with client.stream("GET", "/runs/r-end/events") as response:
            frames = [line for line in response.iter_lines() if line.startswith("event:")]
        assert frames == ["event: run.started", "event: step.started", f"event: run.{status}"]
        with client.websocket_connect("/ws/runs/r-end") as ws:
            got = [ws.receive_json()["type"] for _ in range(3)]
            closing = ws.receive()
        assert got[-1] == f"run.{status}" and (closing["type"], closing["code"]) == ("websocket.close", 1000)


async def test_the_event_stream_of_a_run_stopped_at_its_budget_ends_with_run_stopped(
    time_env, settings: Settings, bmad_dir: Path, store: Store
):
    from botarmy.temporal import start_run
    from tests.conftest import running_worker, save_plan
    from tests.workflows.plans import pipeline_plan
    from tests.workflows.test_approvals import wait_pending
    from workflows.contracts import ApprovalDecision
    from workflows.run import BmadRunWorkflow

    plan = save_plan(store, pipeline_plan())
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {"for_each_epic": 1,
                                 "architecture_suggests_prd_changes": False}, budget_tokens=150,
                                 task_queue=settings.task_queue)
        req = await wait_pending(handle)
        async with served(create_app(settings, [bmad_dir])) as base, \
                httpx.AsyncClient(base_url=base, headers=admin_headers(settings), timeout=30) as client:
            run_id = handle.id.rsplit("-", 1)[1]
            async with client.stream("GET", f"/runs/{run_id}/events") as response:
                events = sse_events(response)
                first = await anext(events)
                await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step=req.step, decision="stop"))
                rest = await asyncio.wait_for(_collect_frames(events), 20)  # guard: a stream that never ends
    assert (await handle.result()).status == "stopped"
    assert first["event"] == "run.started" and rest[-1]["event"] == "run.stopped"


async def _collect_frames(events: AsyncIterator[dict]) -> list[dict]:
    return [e async for e in events]
