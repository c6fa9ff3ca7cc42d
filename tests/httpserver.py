"""A real HTTP server on 127.0.0.1 for tests, serving fixed routes."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serve(routes: dict[str, tuple[int, str, bytes] | tuple[int, str, bytes, float]]):
    """routes: path -> (status, content type, body[, seconds to wait before answering]).
    Yields the base URL; a path not in routes answers 404."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, ctype, body, *delay = routes.get(self.path, (404, "text/plain", b"not found"))
            if delay:
                time.sleep(delay[0])
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
