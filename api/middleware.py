"""ASGI middleware: a request body size limit (413) and the catch-all that answers 500 without a traceback."""

from __future__ import annotations

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response

log = structlog.get_logger(__name__)
MAX_BODY_BYTES = 1_048_576


class BodyLimit:
    """Refuse bodies over `max_bytes`: by Content-Length before the app runs, else while it reads."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await problem_response(413, self._detail(), instance=scope.get("path"))(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, limited, send)

    def _detail(self) -> str:
        return f"request body is larger than {self.max_bytes} bytes (BOTARMY_MAX_REQUEST_BYTES)"


class CatchAll:
    """Any unhandled exception becomes a plain 500 problem; the traceback goes to the log, never to the client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            log.exception("api.unhandled_error", path=scope.get("path"), method=scope.get("method"))
            if started:
                raise
            response = problem_response(500, "the server failed to handle this request; see the server log",
                                        instance=scope.get("path"))
            await response(scope, receive, send)
