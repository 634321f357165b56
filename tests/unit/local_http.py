"""A local HTTP server for the download-client tests (loopback only, no internet).

It can misbehave the ways real servers and networks do, so the client's defences can be tested:
a body cut off mid-way (clean close or TCP reset), a trickle of one byte at a time, a chunked body
that stops inside a chunk, a lying or huge Content-Length, gzip bodies, redirects, HTML pages.
"""

from __future__ import annotations

import gzip
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


class LocalServer:
    """Threaded loopback server; `routes[path](req)` returns a response dict.

    A response dict has `status`, `headers`, `body` (bytes or str) and optionally:
    `delay` (seconds before answering), `drop_after` (send the full Content-Length header but
    close cleanly after that many body bytes), `reset_after` (same, but abort the connection with
    a TCP reset), `trickle` (seconds between single body bytes), `chunked` (send the body with
    Transfer-Encoding: chunked, in chunks of that many bytes; `drop_after` then stops inside a
    chunk), `content_length` (the Content-Length to announce instead of the true one; None: none).
    `host` may be another loopback address (127.0.0.2) to act as a second, different host.
    """

    def __init__(self, routes, host: str = "127.0.0.1"):
        self.routes = routes
        self.log = []
        self.host = host
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _abort(self):
                """Close with RST instead of FIN: the client sees 'connection reset by peer'."""
                self.wfile.flush()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = {"method": self.command, "path": parts.path, "host": self.headers.get("Host", ""),
                       "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
                       "headers": dict(self.headers), "body": body,
                       "form": dict(parse_qsl(body.decode("utf-8", errors="replace")))}
                outer.log.append(req)
                route = outer.routes.get(parts.path)
                resp = route(req) if route else {"status": 404, "body": b"not found"}
                if resp.get("delay"):
                    threading.Event().wait(resp["delay"])
                payload = resp.get("body", b"")
                if isinstance(payload, str):
                    payload = payload.encode("utf-8")
                self.send_response(resp.get("status", 200))
                headers = dict(resp.get("headers", {}))
                if resp.get("chunked"):
                    headers["Transfer-Encoding"] = "chunked"
                else:
                    announced = resp.get("content_length", len(payload))
                    if announced is not None:
                        headers.setdefault("Content-Length", str(announced))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    self._body(resp, payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client went away (e.g. a timeout test)

            def _body(self, resp, payload):
                cut = resp.get("drop_after", resp.get("reset_after"))
                if resp.get("chunked"):
                    size = int(resp["chunked"])
                    sent = 0
                    for i in range(0, len(payload), size):
                        piece = payload[i:i + size]
                        frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
                        if cut is not None and sent + len(piece) > cut:
                            self.wfile.write(frame[: len(f"{len(piece):x}\r\n") + (cut - sent)])
                            return self._stop(resp)
                        self.wfile.write(frame)
                        sent += len(piece)
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if resp.get("trickle"):
                    for i in range(len(payload) if cut is None else cut):
                        self.wfile.write(payload[i:i + 1])
                        self.wfile.flush()
                        time.sleep(resp["trickle"])
                    return
                if cut is not None:
                    self.wfile.write(payload[:cut])
                    return self._stop(resp)
                self.wfile.write(payload)

            def _stop(self, resp):
                if "reset_after" in resp:
                    self._abort()
                else:
                    self.wfile.flush()
                    self.close_connection = True

            do_GET = do_POST = do_HEAD = _serve

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def url(self):
        return f"http://{self.host}:{self.httpd.server_port}"

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


def gzipped(payload: bytes, **extra):
    """A response whose body is `payload` gzip-compressed (Content-Encoding: gzip)."""
    headers = {"Content-Encoding": "gzip", **extra.pop("headers", {})}
    return {"status": 200, "body": gzip.compress(payload), "headers": headers, **extra}


def redirect(location: str, status: int = 302):
    """A redirect response to `location`."""
    return {"status": status, "headers": {"Location": location}, "body": b""}


def refused_port() -> int:
    """A loopback port with nothing listening (connecting to it is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
