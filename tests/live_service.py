"""A real `alttext serve` HTTP server on 127.0.0.1, on a free port, in a thread, and a client for it."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

from alttext.serve import Server, Service


@contextmanager
def running(service: Service):
    """Yields the service's base URL (http://127.0.0.1:PORT) while it serves."""
    with serving(service) as server:
        yield server.url


@contextmanager
def serving(service: Service | None, app_of=None):
    """Yields the Server while it serves on 127.0.0.1 (`app_of`: another app than the service's, see Server)."""
    server = Server(service, "127.0.0.1", 0, app_of)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.uvicorn.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.uvicorn.started, "the service did not start"
        yield server
    finally:
        server.stop()
        thread.join(30)


def call(base: str, method: str, path: str, body=None, headers: dict | None = None):
    """(status, headers, JSON body) of one request; `body` is sent as JSON unless it is bytes. A streamed
    (NDJSON) body is a list of its lines, in the order they came."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        if (response.getheader("Content-Type") or "").startswith("application/x-ndjson"):
            return response.status, dict(response.getheaders()), [json.loads(line) for line in raw.splitlines()]
        return response.status, dict(response.getheaders()), json.loads(raw) if raw else None
    finally:
        connection.close()


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
