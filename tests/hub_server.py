"""A real HTTP server on 127.0.0.1 that answers like the Hugging Face hub, and a tiny
forwarding proxy, for the download tests.

The hub: ``HEAD``/``GET /{repo}/resolve/main/{file}`` answers 302 with ``X-Linked-Etag``
(the quoted SHA-256), ``X-Linked-Size`` and a ``Location`` on another host name
(``localhost`` instead of ``127.0.0.1``, like the hub's storage host), which serves the
bytes with ``Range`` support. It counts the body bytes it sends, and can cut a transfer,
send slowly, stall, or ask for a token.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "hf_test_token"


@dataclass
class Hub:
    files: dict[str, bytes]
    """``"owner/repo/file.gguf"`` -> content."""
    published: dict[str, str] = field(default_factory=dict)
    """Override the SHA-256 published for a file (to test a mismatch)."""
    gated: set[str] = field(default_factory=set)
    redirect: bool = True
    linked_size: bool = True
    """Send ``X-Linked-Size`` with the redirect (the hub does)."""
    cut_after: int | None = None
    """Close the connection after this many body bytes (once)."""
    chunk: int = 64 * 1024
    delay: float = 0.0
    stall: float = 0.0
    """Wait this long before answering anything."""
    bytes_sent: int = 0
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sha(self, key: str) -> str:
        return self.published.get(key) or hashlib.sha256(self.files[key]).hexdigest()


class _HubHandler(BaseHTTPRequestHandler):
    hub: Hub

    def log_message(self, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        hub = self.hub
        hub.requests.append((self.command, self.path, dict(self.headers.items())))
        if hub.stall:
            time.sleep(hub.stall)
        match = re.match(r"^/(.+)/resolve/main/(.+)$", self.path)
        cdn = re.match(r"^/cdn/(.+)$", self.path)
        if cdn:
            key = cdn.group(1)
            return self._serve(hub.files[key], key, body) if key in hub.files else self._404()
        if not match or f"{match.group(1)}/{match.group(2)}" not in hub.files:
            return self._404()
        key = f"{match.group(1)}/{match.group(2)}"
        if key in hub.gated and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if not hub.redirect:
            return self._serve(hub.files[key], key, body)
        self.send_response(302)
        self.send_header("Location", f"http://localhost:{hub.port}/cdn/{key}")
        self.send_header("X-Linked-Etag", f'"{hub.sha(key)}"')
        if hub.linked_size:
            self.send_header("X-Linked-Size", str(len(hub.files[key])))
        self.send_header("ETag", '"0123456789abcdef0123456789abcdef01234567"')  # a git hash
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def _404(self) -> None:
        self.send_response(404)
        self.send_header("X-Error-Code", "EntryNotFound")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _serve(self, data: bytes, key: str, body: bool) -> None:
        hub = self.hub
        start = 0
        wanted = re.match(r"^bytes=(\d+)-$", self.headers.get("Range", ""))
        if wanted:
            start = int(wanted.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Accept-Ranges", "bytes")
        if not hub.redirect:
            self.send_header("ETag", f'"{hub.sha(key)}"')
        self.end_headers()
        if body:
            self._send_body(data[start:])

    def _send_body(self, data: bytes) -> None:
        hub = self.hub
        sent = 0
        try:
            while sent < len(data):
                piece = data[sent : sent + hub.chunk]
                if hub.cut_after is not None and sent + len(piece) > hub.cut_after:
                    piece = piece[: hub.cut_after - sent]
                    self.wfile.write(piece)
                    hub.bytes_sent += len(piece)
                    hub.cut_after = None
                    self.close_connection = True
                    return
                self.wfile.write(piece)
                self.wfile.flush()
                sent += len(piece)
                hub.bytes_sent += len(piece)
                if hub.delay:
                    time.sleep(hub.delay)
        except (BrokenPipeError, ConnectionResetError):
            return


@contextmanager
def _running(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """Serve ``handler`` on a free loopback port in a thread; yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve(hub: Hub) -> Iterator[Hub]:
    with _running(type("Handler", (_HubHandler,), {"hub": hub})) as port:
        hub.port = port
        yield hub


# ---------------------------------------------------------------- forwarding proxy
@dataclass
class Proxy:
    seen: list[str] = field(default_factory=list)
    """Request lines received, e.g. ``GET http://127.0.0.1:1234/... HTTP/1.1``."""
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _ProxyHandler(BaseHTTPRequestHandler):
    proxy: Proxy

    def log_message(self, *args: Any) -> None:
        pass

    def do_CONNECT(self) -> None:
        self.proxy.seen.append(self.requestline)
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except OSError:
            self.send_error(502)
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self._pipe(self.connection, upstream)

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        with b:
            while True:
                ready, _, _ = select.select([a, b], [], [], 10)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def _forward(self) -> None:
        self.proxy.seen.append(self.requestline)
        match = re.match(r"^http://([^/]+)(/.*)$", self.path)
        if not match:
            self.send_error(400)
            return
        host, port = match.group(1).split(":")
        upstream = http.client.HTTPConnection(host, int(port), timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        upstream.request(self.command, match.group(2), headers=headers)
        response = upstream.getresponse()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("connection", "transfer-encoding"):
                self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            while block := response.read(65536):
                self.wfile.write(block)
        upstream.close()
        self.close_connection = True


@contextmanager
def serve_proxy() -> Iterator[Proxy]:
    proxy = Proxy()
    with _running(type("Handler", (_ProxyHandler,), {"proxy": proxy})) as port:
        proxy.port = port
        yield proxy
