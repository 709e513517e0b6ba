"""Errors as RFC 9457 problem details (`application/problem+json`), mapped once at the edge of the API."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from temporalio.service import RPCError, RPCStatusCode

from bmad import DefinitionError
from bmad.limits import LimitExceeded
from store.outage import is_outage

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger(__name__)


class ProblemDetails(BaseModel):
    """The body of every error response."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class Problem(Exception):
    """A domain error the API reports as problem details."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type: str = "about:blank",
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.type = status, detail, type
        self.title = title or HTTPStatus(status).phrase
        self.errors, self.headers = errors, headers


RETRY_AFTER_S = 5  # a restart or failover takes seconds; a client that waits this long is not hammering


class TemporalUnavailable(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(503, f"Temporal is not reachable: {detail}", type="urn:botarmy:problem:temporal-unavailable",
                         headers={"Retry-After": str(RETRY_AFTER_S)})


def database_unavailable(exc: SQLAlchemyError) -> Problem:
    # the driver's text may name hosts, users and SQL: it goes to the log, the client gets what to do
    return Problem(503, f"the database is not reachable ({type(exc).__name__}); retry in a few seconds",
                   title="Database unavailable", type="urn:botarmy:problem:database-unavailable",
                   headers={"Retry-After": str(RETRY_AFTER_S)})


def problem_response(
    status: int,
    detail: str | None,
    *,
    title: str | None = None,
    type: str = "about:blank",
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ProblemDetails(
        type=type, title=title or HTTPStatus(status).phrase, status=status, detail=detail, instance=instance,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


# Responses every route may give, for the OpenAPI document.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemDetails, "content": {PROBLEM_JSON: {}}, "description": HTTPStatus(code).phrase}
    for code in (400, 401, 403, 404, 409, 413, 422, 503)
}
PROBLEM_RESPONSES[400]["description"] = "the body is not what its content type says (e.g. JSON that does not parse)"
PROBLEM_RESPONSES[401]["description"] = "no token, or one that is not valid, expired or revoked"
PROBLEM_RESPONSES[403]["description"] = "the signed-in roles may not do this (or a session change lacks X-CSRF-Token)"
PROBLEM_RESPONSES[503]["description"] = "the database or Temporal is not reachable; retry after Retry-After seconds"
PROBLEM_RESPONSES[503]["headers"] = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]


def limit_problem(exc: LimitExceeded) -> Problem:
    """413 naming each field over its limit: `errors[]` has its `loc`, `size`, `limit` and the `setting` that
    raises it."""
    errors = [{"loc": ["body", p.field, *([p.key] if p.key else [])], "msg": p.message, "type": "too_large",
               "size": p.size, "limit": p.limit, "setting": p.setting} for p in exc.problems]
    return Problem(413, "; ".join(f"{p.field}: {p.message}" for p in exc.problems), title="Over a limit",
                   type="urn:botarmy:problem:limit", errors=errors)


def definition_problem(workflow_id: str, exc: DefinitionError) -> Problem:
    """422 for a workflow whose definition cannot be compiled, one entry per `path:line:col` problem."""
    return Problem(
        422, f"workflow {workflow_id!r} cannot be compiled:\n{exc}", title="Invalid definition",
        type="urn:botarmy:problem:definition",
        errors=[{"path": d.path, "line": d.line, "col": d.col, "message": d.message} for d in exc.diagnostics],
    )


def rpc_problem(err: RPCError) -> Problem:
    """A Temporal RPC failure seen by a route: unreachable → 503, closed or missing → 409/404, else 502."""
    if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return TemporalUnavailable(err.message)
    if err.status == RPCStatusCode.NOT_FOUND:
        if "already completed" in err.message.lower():
            return Problem(409, f"the run is no longer running: {err.message}")
        return Problem(404, err.message)
    if err.status == RPCStatusCode.FAILED_PRECONDITION:
        return Problem(409, err.message)
    return Problem(502, f"Temporal refused the request: {err.message}")


def _route_methods(app: FastAPI) -> list[tuple[re.Pattern[str], set[str]]]:
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # a FastAPI before route contexts keeps every route in app.routes
        pairs = [(getattr(r, "path", ""), getattr(r, "methods", None)) for r in app.routes]
    else:
        pairs = [(c.path or "", c.methods) for c in iter_route_contexts(app.router.routes)]
    return [(compile_path(path)[0], set(methods)) for path, methods in pairs if path and methods]


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at the request's path. Starlette's 405 names only the first route that
    matched the path, and GET /runs and POST /runs are two routes."""
    path = request.scope["path"]
    return sorted({m for regex, methods in _route_methods(app) if regex.match(path) for m in methods})


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem details."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, title=exc.title, type=exc.type, instance=request.url.path,
                                errors=exc.errors, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(app, request))
        return problem_response(exc.status_code, detail, instance=request.url.path, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
        return problem_response(422, detail, type="urn:botarmy:problem:validation", instance=request.url.path,
                                errors=errors)

    @app.exception_handler(RPCError)
    async def _rpc(request: Request, exc: RPCError) -> JSONResponse:
        return await _problem(request, rpc_problem(exc))

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        if not is_outage(exc):
            raise exc  # a wrong query is our bug: the catch-all logs it and answers 500
        log.warning("api.database_unavailable", path=request.url.path, error=str(exc).splitlines()[0])
        return await _problem(request, database_unavailable(exc))
