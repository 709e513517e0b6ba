"""Live events of a run: Server-Sent Events (resumable with Last-Event-ID) and a WebSocket of the same events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import APIRouter, Header, Query, WebSocket
from fastapi.responses import StreamingResponse

from api.deps import RunDep, StateDep
from api.events import envelope, follow
from api.problems import PROBLEM_RESPONSES

log = structlog.get_logger(__name__)
router = APIRouter(tags=["events"], responses=PROBLEM_RESPONSES)
KEEPALIVE_S = 15.0
MAX_SEQ = 2**63 - 1  # event seqs are 64-bit integers in the database


def _resume_point(last_event_id: str | None, after: int) -> int:
    """Where to resume. An id that is not one of ours (not a seq) is ignored, as if absent: the client gets the
    stream from `after` instead of an error (an EventSource gives up for good on an error answer)."""
    value = (last_event_id or "").strip()
    if not value.isascii() or not value.isdigit() or int(value) > MAX_SEQ:
        return after
    return max(int(value), after)


@router.get(
    "/runs/{run_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the run's events as they happen"}},
)
async def stream_events(
    view: RunDep,
    state: StateDep,
    last_event_id: Annotated[str | None, Header(
        max_length=30, description="resume after this event seq (the `id:` of the last event received); a value "
        "that is not a seq is ignored")] = None,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ,
                                description="send events after this seq (Last-Event-ID wins if larger)")] = 0,
) -> StreamingResponse:
    """Each event as `id: <seq>`, `event: <type>`, `data: <json>`; the stream ends after the run's terminal event."""
    run_id = view.run_id
    start = _resume_point(last_event_id, after)

    async def frames() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        async for row in follow(state.store, run_id, start, state.settings.redis_url, idle_s=KEEPALIVE_S):
            if row is None:
                yield ": keep-alive\n\n"
            else:
                data = json.dumps(envelope(row), separators=(",", ":"), ensure_ascii=False)
                yield f"id: {row.seq}\nevent: {row.type}\ndata: {data}\n\n"

    return StreamingResponse(
        frames(), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.websocket("/ws/runs/{run_id}")
async def websocket_events(
    websocket: WebSocket, run_id: str, after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0
) -> None:
    """The same events as JSON messages; the server closes (1000) after the terminal event; 4404 for no run."""
    state = websocket.app.state.botarmy
    await websocket.accept()
    if await asyncio.to_thread(state.store.get_run, run_id) is None:
        await websocket.close(code=4404, reason=f"no run {run_id!r}")
        return

    async def pump() -> None:
        async for row in follow(state.store, run_id, after, state.settings.redis_url):
            if row is not None:
                await websocket.send_json(envelope(row))

    async def until_client_leaves() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    sender, listener = asyncio.create_task(pump()), asyncio.create_task(until_client_leaves())
    done, _ = await asyncio.wait({sender, listener}, return_when=asyncio.FIRST_COMPLETED)
    for task in (sender, listener):
        task.cancel()
    await asyncio.gather(sender, listener, return_exceptions=True)
    if sender in done:
        failed = sender.exception()
        if failed is not None:
            log.error("events.websocket_failed", run_id=run_id, error=repr(failed))
        await websocket.close(code=1011 if failed else 1000)
