"""A local HTTP server for the download-client tests (127.0.0.1 only, no internet)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


class LocalServer:
    """Threaded 127.0.0.1 server; `routes[path](req)` returns a response dict.

    A response dict has `status`, `headers`, `body` (bytes) and optionally `drop_after` (send the
    full Content-Length header but close the connection after that many body bytes) or `delay`.
    """

    def __init__(self, routes):
        self.routes = routes
        self.log = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = {"method": self.command, "path": parts.path,
                       "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
                       "headers": dict(self.headers), "form": dict(parse_qsl(body.decode()))}
                outer.log.append(req)
                route = outer.routes.get(parts.path)
                resp = route(req) if route else {"status": 404, "body": b"not found"}
                if resp.get("delay"):
                    threading.Event().wait(resp["delay"])
                payload = resp.get("body", b"")
                if isinstance(payload, str):
                    payload = payload.encode("utf-8")
                self.send_response(resp.get("status", 200))
                headers = {"Content-Length": str(len(payload)), **resp.get("headers", {})}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command == "HEAD":
                    return
                if "drop_after" in resp:
                    self.wfile.write(payload[: resp["drop_after"]])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client went away (e.g. a timeout test)

            do_GET = do_POST = do_HEAD = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def sequence(*responses):
    """Route that answers with the given responses in turn, repeating the last one."""
    state = {"i": 0}

    def route(req):
        resp = responses[min(state["i"], len(responses) - 1)]
        state["i"] += 1
        return resp(req) if callable(resp) else resp

    return route


def ranged(payload: bytes, *, drop_first_after: int | None = None, honour_range: bool = True):
    """Route serving `payload` with HTTP Range support; the first response may be cut short."""
    state = {"n": 0}

    def route(req):
        state["n"] += 1
        rng = req["headers"].get("Range")
        if rng and honour_range:
            start = int(rng.split("=")[1].split("-")[0])
            resp = {"status": 206, "body": payload[start:],
                    "headers": {"Content-Range": f"bytes {start}-{len(payload) - 1}/{len(payload)}"}}
        else:
            resp = {"status": 200, "body": payload}
        if state["n"] == 1 and drop_first_after is not None:
            resp["drop_after"] = drop_first_after
        return resp

    return route
