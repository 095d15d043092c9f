"""A local API Gateway: HTTP requests -> the same events -> the same handlers.

- ``/checks...`` and ``/watches...``: REST API (v1) events into the api handler,
  with the ``x-api-key`` header checked the way API Gateway checks it.
- ``POST /slack/events``: HTTP API (v2) events, body base64-encoded, into the
  slack handler (loaded on first use).
- ``POST /_local/tick``: one scheduler event into the dispatch handler (what
  ``make tick`` calls); the probe messages it sends run in-process.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from bannercheck.invoke import LocalContext, load_function_handler
from bannercheck.local.events import (
    to_http_api_event,
    to_resource,
    to_response,
    to_rest_event,
    to_scheduler_event,
)

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20
Handler = Callable[[dict[str, Any], Any], Any]


class LocalGateway(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 resets connections under a burst of clients.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        *,
        api_key: str,
        api_key_id: str = "local-key",
        handlers: dict[str, Handler] | None = None,
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.api_key = api_key
        self.api_key_id = api_key_id
        self._handlers = dict(handlers or {})
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def handler(self, name: str) -> Handler:
        with self._lock:
            if name not in self._handlers:
                self._handlers[name] = load_function_handler(name)
            return self._handlers[name]


class _RequestHandler(BaseHTTPRequestHandler):
    server: LocalGateway
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, *_error("too_large", "request body too large"))
            return
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        path = parts.path.rstrip("/") or "/"
        if to_resource(path) is not None:  # a route of the REST API in template.yaml
            self._api(method, path, parts.query, headers, body)
        elif path == "/slack/events" and method == "POST":
            event = to_http_api_event(method, path, query=parts.query, headers=headers, body=body)
            self._invoke("slack", event)
        elif path == "/_local/tick" and method == "POST":
            self._invoke("dispatch", to_scheduler_event(), raw=True)
        elif path == "/" and method == "GET":
            self._send(200, *_json(self._index()))
        else:
            self._send(404, *_error("not_found", "no such resource"))

    def _api(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> None:
        key = next((v for k, v in headers.items() if k.lower() == "x-api-key"), None)
        if key != self.server.api_key:
            # API Gateway answers this itself; the function is never called.
            self._send(403, *_error("gateway", "Forbidden"))
            return
        # Served at this server's root: the links the API returns carry no stage.
        event = to_rest_event(
            method,
            path,
            query=query,
            headers=headers,
            body=body,
            api_key_id=self.server.api_key_id,
            base_path="",
        )
        self._invoke("api", event)

    def _invoke(self, name: str, event: dict[str, Any], *, raw: bool = False) -> None:
        try:
            result = self.server.handler(name)(event, LocalContext.new(name))
        except Exception:
            # What API Gateway does when the function fails: a bare 502.
            log.exception("%s handler failed", name)
            self._send(502, *_error("gateway", "Internal server error"))
            return
        if raw:
            self._send(200, *_json(result))
            return
        self._send(*to_response(result))

    def _index(self) -> dict[str, Any]:
        base = self.server.url
        return {
            "api": f"{base}/checks",
            "watches": f"{base}/watches",
            "slack": f"{base}/slack/events",
            "tick": f"{base}/_local/tick",
        }

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _json(data: Any) -> tuple[dict[str, str], bytes]:
    return {"Content-Type": "application/json"}, json.dumps(data).encode()


def _error(code: str, message: str) -> tuple[dict[str, str], bytes]:
    return _json({"error": {"code": code, "message": message}})
