"""Scripted fake model servers on 127.0.0.1: faults served in order, then normal answers; calls and concurrency counted.

Optionally the fake enforces a requests-per-window limit (429 with Retry-After, as a provider does) and injects faults
at random (seeded) after the script runs out. Each provider fake (anthropic_server.py, gemini_server.py) says how a
request, an answer and an error look on its wire.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Fault:
    """One scripted response. `status` != 200 answers with an error; 200 faults change the answer instead."""

    status: int = 200
    message: str = "fault injected by the fake server"
    headers: dict[str, str] = field(default_factory=dict)
    code: str | None = None  # provider error code/type, e.g. "context_length_exceeded"
    delay_s: float = 0.0  # sleep before answering; past the client's timeout it is a timeout
    reply: str | None = None  # a 200 with this text ("" = empty output)
    truncated: bool = False  # a 200 cut off at the token limit
    echo_key: bool = False  # append the key the request carried to the message, as careless providers do

    @classmethod
    def quoting_key(cls, status: int = 401) -> Fault:
        return cls(status, "Incorrect API key provided:", echo_key=True)

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        return cls(delay_s=delay_s)

    @classmethod
    def empty(cls) -> Fault:
        return cls(reply="")

    @classmethod
    def cut_off(cls) -> Fault:
        return cls(truncated=True)


def _sent_key(headers: dict[str, str]) -> str:
    """The API key a request carried: OpenAI's bearer token, Anthropic's x-api-key or Google's x-goog-api-key."""
    bearer = headers.get("authorization", "")
    return bearer.removeprefix("Bearer ") or headers.get("x-api-key") or headers.get("x-goog-api-key") or ""


@dataclass
class RandomFaults:
    """Serve one of `kinds` (chosen uniformly) to a `rate` share of requests, from a seeded generator drawn in arrival
    order; `served` counts what was injected, by kind."""

    rate: float
    kinds: dict[str, Fault]
    seed: int = 0
    served: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._names = sorted(self.kinds)

    def draw(self) -> Fault:
        if self._rng.random() >= self.rate:
            return Fault()
        name = self._rng.choice(self._names)
        self.served[name] += 1
        return self.kinds[name]


@dataclass
class ScriptedFake:
    """Base of the fakes: subclasses give `paths`, `answer` and `error`."""

    reply: str = "# Document\n\n## Section\n\nFake provider answer.\n"
    prompt_tokens: int = 123
    completion_tokens: int = 45
    delay_s: float = 0.0  # every call, e.g. to make concurrency visible
    script: deque[Fault] = field(default_factory=deque)
    calls: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    # the provider's limit: more than `requests_per_window` accepted requests in the last `window_s` get a 429
    requests_per_window: int | None = None
    window_s: float = 60.0
    accepted: list[float] = field(default_factory=list)  # arrival times of the requests let through the limit
    rate_limited: list[float] = field(default_factory=list)  # arrival times of the requests answered 429
    random_faults: RandomFaults | None = None  # drawn when the script is empty
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    paths: tuple[str, ...] = ()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return self._server.server_address[1]

    def answer(self, body: dict[str, Any], text: str, truncated: bool) -> dict[str, Any]:
        raise NotImplementedError

    def error(self, fault: Fault) -> Any:
        raise NotImplementedError

    def _over_limit(self, now: float) -> dict[str, str] | None:
        """The Retry-After header when this request exceeds the window's limit, else None (and it is counted).
        A sliding window over accepted requests, like ProviderLimiter's: a refused request does not use the quota."""
        if self.requests_per_window is None:
            return None
        inside = [t for t in self.accepted[-self.requests_per_window:] if t > now - self.window_s]
        if len(inside) < self.requests_per_window:
            self.accepted.append(now)
            return None
        self.rate_limited.append(now)
        return {"retry-after": str(max(1, math.ceil(inside[0] + self.window_s - now)))}

    def _handle(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            now = time.monotonic()
            self.calls.append({"t": now, "path": path, "headers": headers, "body": body})
            retry_after = self._over_limit(now)
            if retry_after is not None:  # answered at once, as a provider's rate limiter does
                refused = Fault(429, "rate limit reached for requests", code="rate_limit_exceeded")
                return 429, self.error(refused), retry_after
            if self.script:
                fault = self.script.popleft()
            else:
                fault = self.random_faults.draw() if self.random_faults else Fault()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            delay = fault.delay_s or self.delay_s
            if delay:
                time.sleep(delay)
            if path not in self.paths:
                return 404, self.error(Fault(404, f"no route {path}")), {}
            if fault.status != 200:
                if fault.echo_key:
                    fault = replace(fault, message=f"{fault.message} {_sent_key(headers)}")
                return fault.status, self.error(fault), fault.headers
            text = self.reply if fault.reply is None else fault.reply
            return 200, self.answer(body, text, fault.truncated), fault.headers
        finally:
            with self._lock:
                self.in_flight -= 1

    def start(self) -> ScriptedFake:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                return

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, payload, extra = fake._handle(self.path.split("?")[0], headers, body)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    return

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                return  # a client that hung up on a slow answer is expected, not an error

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> ScriptedFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
