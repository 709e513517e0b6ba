"""A fake OpenAI-compatible HTTP server on 127.0.0.1 with scripted faults, for tests of the real SDK client."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Fault:
    status: int
    message: str = "fault injected by the fake server"
    headers: dict[str, str] = field(default_factory=dict)
    echo_key: bool = False  # append the request's bearer token to the message, as careless providers do


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a burst of hundreds of connections must not wait on SYN retries (default 5)


@dataclass
class FakeOpenAI:
    """Answers POST /v1/chat/completions. `script` holds faults served before normal answers; `replies` the texts
    of the next answers, in order, before `reply` (every request is kept in `calls`)."""

    reply: str = "# Document\n\n## Section\n\nFake provider answer.\n"
    script: deque[Fault] = field(default_factory=deque)
    replies: deque[str] = field(default_factory=deque)
    delay_s: float = 0.0
    keep_alive: bool = False  # HTTP/1.1 keep-alive, as real providers answer (load benches); default: one per call
    calls: list[dict] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if fake.keep_alive else "HTTP/1.0"

            def log_message(self, *args: object) -> None:  # keep test output clean
                return

            def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.calls.append({"t": time.monotonic(), "body": body, "auth": self.headers.get("authorization"),
                                   "peer": self.client_address})
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                if fake.script:
                    fault = fake.script.popleft()
                    message = fault.message
                    if fault.echo_key:
                        message += " " + (self.headers.get("authorization") or "").removeprefix("Bearer ")
                    err = {"error": {"message": message, "type": "fake", "code": str(fault.status)}}
                    self._send(fault.status, err, fault.headers)
                    return
                prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
                reply = fake.replies.popleft() if fake.replies else fake.reply
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{len(fake.calls)}",
                        "object": "chat.completion",
                        "created": 1700000000,
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": prompt,
                            "completion_tokens": len(reply.split()),
                            "total_tokens": prompt + len(reply.split()),
                        },
                    },
                )

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """`python -m testkit.fakes.openai_server --delay-s 2`: serve in this process (a load bench keeps the fake's CPU
    out of the process it measures); prints the base URL on the first line, serves until killed."""
    import argparse
    import sys

    p = argparse.ArgumentParser()
    p.add_argument("--delay-s", type=float, default=0.0)
    a = p.parse_args()
    fake = FakeOpenAI(delay_s=a.delay_s, keep_alive=True).start()
    sys.stdout.write(fake.base_url + "\n")
    sys.stdout.flush()
    threading.Event().wait()


if __name__ == "__main__":
    main()
