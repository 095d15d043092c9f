"""The Slack Web API and ``response_url`` as a real HTTP server on loopback.

It records every request it receives; tests assert on those (blocks, text,
channel, ephemeral or not). Failures can be scripted per path, so retries
and their recording are exercised for real. Every message with blocks is
validated with slack_sdk's Block Kit models on arrival: an invalid one gets
Slack's ``invalid_blocks`` answer and, when ``strict`` (the default), fails the
test as the server is closed.

Example::

    with MockSlack() as slack:
        url = slack.response_url("cmd1")
        ...
        [post] = slack.wait_for(1, path=slack.response_path("cmd1"))
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.slack_mock.blocks import message_errors


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, a dict of form fields, or the raw text

    @property
    def json(self) -> dict[str, Any]:
        assert isinstance(self.body, dict), self.body
        return self.body


@dataclass
class _Failure:
    prefix: str
    remaining: int
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class MockSlack:
    """Start with ``with MockSlack() as slack`` (binds 127.0.0.1 on a free port)."""

    def __init__(self, host: str = "127.0.0.1", *, strict: bool = True) -> None:
        self.received: list[Received] = []
        self.invalid: list[tuple[str, list[str]]] = []  # (path, why) of rejected messages
        self._strict = strict
        # Called with each request as it arrives, before the answer: to look at
        # the world at that moment (e.g. whether the check is stored yet).
        self.on_receive: Callable[[Received], None] | None = None
        self._failures: list[_Failure] = []
        self._cond = threading.Condition()
        self._ts = 0
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                mock._handle(self, raw)

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- lifecycle ------------------------------------------------------
    def __enter__(self) -> MockSlack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        if self._strict and exc[0] is None and self.invalid:
            raise AssertionError(f"Slack would have answered invalid_blocks: {self.invalid}")

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/"

    @staticmethod
    def response_path(name: str) -> str:
        return f"/response/{name}"

    def response_url(self, name: str) -> str:
        return self.base_url + self.response_path(name)

    # --- scripting ------------------------------------------------------
    def fail_next(
        self,
        prefix: str,
        times: int,
        status: int = 500,
        body: str = "oops",
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``times`` requests whose path starts with ``prefix`` fail.

        ``status=0`` answers with bytes that are not HTTP at all (a broken proxy).
        """
        with self._cond:
            self._failures.append(_Failure(prefix, times, status, body, headers or {}))

    # --- assertions -----------------------------------------------------
    def requests(self, path: str | None = None) -> list[Received]:
        with self._cond:
            return [r for r in self.received if path is None or r.path == path]

    def wait_for(
        self, count: int, *, path: str | None = None, timeout_s: float = 30.0
    ) -> list[Received]:
        """At least ``count`` requests to ``path`` (all paths if None), or AssertionError."""
        deadline = time.monotonic() + timeout_s

        def enough() -> bool:
            return len([r for r in self.received if path is None or r.path == path]) >= count

        with self._cond:
            while not enough():
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [r.path for r in self.received]
                    raise AssertionError(f"expected {count} requests to {path}, got {seen}")
                self._cond.wait(left)
            return [r for r in self.received if path is None or r.path == path]

    # --- serving --------------------------------------------------------
    def _handle(self, request: BaseHTTPRequestHandler, raw: str) -> None:
        path = urllib.parse.urlsplit(request.path).path
        content_type = request.headers.get("Content-Type", "")
        body: Any = raw
        if "json" in content_type:
            body = json.loads(raw or "null")
        elif "form" in content_type:
            body = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
        record = Received("POST", path, {k.lower(): v for k, v in request.headers.items()}, body)
        if self.on_receive is not None:
            self.on_receive(record)
        errors = message_errors(body) if isinstance(body, dict) and "blocks" in body else []
        with self._cond:
            self.received.append(record)
            failure = None
            if errors:
                self.invalid.append((path, errors))
            else:
                failure = next((f for f in self._failures if path.startswith(f.prefix)), None)
            if failure is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
            self._cond.notify_all()
        if errors:
            # What Slack answers: a Web API error, or HTTP 400 on a response_url.
            if path.startswith("/api/"):
                invalid = json.dumps({"ok": False, "error": "invalid_blocks"})
                self._reply(request, 200, invalid, "application/json")
            else:
                self._reply(request, 400, "invalid_blocks", "text/plain")
            return
        if failure is not None and failure.status == 0:
            request.wfile.write(b"garbage\r\n\r\n")
            request.close_connection = True
            return
        if failure is not None:
            self._reply(request, failure.status, failure.body, "text/plain", failure.headers)
            return
        route: Callable[[Received], tuple[int, Any]] = self._routes().get(path, self._default)
        status, answer = route(record)
        if isinstance(answer, str):
            self._reply(request, status, answer, "text/plain")
        else:
            self._reply(request, status, json.dumps(answer), "application/json")

    def _routes(self) -> dict[str, Callable[[Received], tuple[int, Any]]]:
        return {
            "/api/auth.test": lambda r: (200, {"ok": True, "team_id": "T0001", "user_id": "UBOT"}),
            "/api/chat.postMessage": self._post_message,
        }

    def _post_message(self, record: Received) -> tuple[int, Any]:
        auth = record.headers.get("authorization", "")
        if not auth.startswith("Bearer xoxb-"):
            return 200, {"ok": False, "error": "not_authed"}
        body = record.body if isinstance(record.body, dict) else {}
        if not body.get("channel"):
            return 200, {"ok": False, "error": "channel_not_found"}
        with self._cond:
            self._ts += 1
            ts = f"1700000000.{self._ts:06d}"
        return 200, {"ok": True, "channel": body["channel"], "ts": ts}

    def _default(self, record: Received) -> tuple[int, Any]:
        if record.path.startswith("/response/"):
            return 200, "ok"
        return 404, {"ok": False, "error": "unknown_method"}

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler,
        status: int,
        text: str,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = text.encode()
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)
