"""The API bench's load generator (a minimal HTTP/1.1 client) and its figures, without the real API server."""

from __future__ import annotations

import asyncio

import pytest

from bench.api_latency import HttpError, _load, _parse_response, _pct, _route


def test_a_response_is_complete_only_with_its_whole_body() -> None:
    buf = bytearray(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nabc")
    assert _parse_response(buf) is None
    buf += b"de"
    assert _parse_response(buf) == 200
    assert buf == b""


def test_the_next_response_stays_in_the_buffer() -> None:
    buf = bytearray(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 503 Service")
    assert _parse_response(buf) == 404
    assert buf == b"HTTP/1.1 503 Service"
    assert _parse_response(buf) is None


def test_chunked_bodies_end_at_the_last_chunk_and_trailers() -> None:
    buf = bytearray(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    assert _parse_response(buf) is None
    buf += b"0\r\n"
    assert _parse_response(buf) is None
    buf += b"\r\nHTTP/1.1"
    assert _parse_response(buf) == 200
    assert buf == b"HTTP/1.1"


def test_what_is_not_http_is_an_error() -> None:
    with pytest.raises(HttpError):
        _parse_response(bytearray(b"SSH-2.0-OpenSSH\r\n\r\n"))
    with pytest.raises(HttpError):
        _parse_response(bytearray(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody"))


def test_routes_and_percentiles() -> None:
    assert _route("/runs/abc/artifacts") == "/runs/{id}/artifacts"
    assert _route("/runs?limit=20") == "/runs"
    assert _route("/catalog/workflows") == "/catalog/workflows"
    figures = _pct([float(v) for v in range(1, 101)])
    assert figures["n"] == 100 and figures["p50_ms"] == 50.5 and 98 < figures["p99_ms"] <= 100


async def _fake_server(close_after: int | None = None) -> tuple[asyncio.Server, int, list[str]]:
    """Answers each GET on a keep-alive connection: 500 for /boom, else 200 with a small body (in two writes);
    closes a connection after `close_after` requests."""
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ")[1].decode()
                seen.append(path)
                if close_after is not None and served == close_after:
                    break
                body = b'{"ok":true}'
                status = b"500 Internal Server Error" if path == "/boom" else b"200 OK"
                writer.write(b"HTTP/1.1 %s\r\ncontent-length: %d\r\n\r\n%s" % (status, len(body), body[:4]))
                await writer.drain()
                writer.write(body[4:])
                served += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


async def test_every_request_is_timed_and_5xx_count_as_errors() -> None:
    server, port, seen = await _fake_server()
    async with server:
        latencies: dict[str, list[float]] = {}
        errors: list[str] = []
        wall = await _load("127.0.0.1", port, ["/runs/a", "/boom", "/health"], 4, 6, latencies, errors)
    assert wall > 0 and len(seen) == 24
    assert {k: len(v) for k, v in latencies.items()} == {"/runs/{id}": 8, "/boom": 8, "/health": 8}
    assert errors == ["/boom: 500"] * 8


async def test_a_connection_the_server_closes_is_an_error_not_a_hang() -> None:
    server, port, _ = await _fake_server(close_after=2)
    async with server:
        latencies: dict[str, list[float]] = {}
        errors: list[str] = []
        await asyncio.wait_for(_load("127.0.0.1", port, ["/health"], 2, 5, latencies, errors), 10)
    assert len(latencies["/health"]) == 4  # 2 answered per connection, then each client stops with an error
    assert len(errors) == 2 and all(e.startswith("/health: ") for e in errors)
