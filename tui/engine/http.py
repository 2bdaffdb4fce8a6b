"""HTTP to a llama-server, with the standard library only: over a Unix socket (the local
server Burrow starts) or TCP (a remote server the user named).

Every request has a timeout, every failure is a :class:`ServerError` whose message is meant
for the user (it names the server, never the prompt), and a streaming answer can be cut from
another thread (:meth:`Stream.close`), which is how a generation is cancelled: llama-server
stops a task whose client went away.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


class ServerError(Exception):
    """A request to llama-server failed; ``kind`` says how: ``unreachable``, ``auth``,
    ``timeout``, ``http`` (an error status), ``payload`` (an answer that is not what
    llama-server sends), ``dropped`` (the connection closed mid-answer), ``unsupported`` (a
    setting the local server's binary cannot honour)."""

    def __init__(self, message: str, kind: str = "http", status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client`` over a Unix socket (llama-server listens on one when its host ends in
    ``.sock``)."""

    def __init__(self, socket_path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def is_private_host(host: str) -> bool:
    """Loopback or a private (RFC 1918 / unique local / link-local) address, or localhost."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Endpoint:
    """Where a llama-server listens: a Unix socket path, or a URL's scheme, host and port."""

    socket_path: str | None = None
    scheme: str = "http"
    host: str = "localhost"
    port: int = 0
    base_path: str = ""
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def unix(cls, path: str) -> Endpoint:
        return cls(socket_path=path)

    @classmethod
    def from_url(cls, url: str, api_key: str | None = None) -> Endpoint:
        """``http://host:port`` or ``https://host[:port]``; raises ValueError naming the
        problem."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"{url!r}: a server URL starts with https:// or http://")
        if not parts.hostname:
            raise ValueError(f"{url!r}: no host name in the URL")
        if parts.username or parts.password:
            raise ValueError(f"{url!r}: put the API key in the api key setting, not the URL")
        if parts.query or parts.fragment:
            raise ValueError(f"{url!r}: a server URL has no ?query or #fragment")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise ValueError(f"{url!r}: bad port ({exc})") from None
        return cls(
            scheme=parts.scheme,
            host=parts.hostname,
            port=port,
            base_path=parts.path.rstrip("/"),
            api_key=api_key or None,
        )

    @property
    def is_unix(self) -> bool:
        return self.socket_path is not None

    @property
    def label(self) -> str:
        """How the user sees the server: ``HOST`` (``HOST:PORT`` off the default port)."""
        if self.socket_path is not None:
            return "local"
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def encrypted(self) -> bool:
        return self.socket_path is None and self.scheme == "https"

    @property
    def unencrypted_network(self) -> bool:
        """Plain http to another machine (loopback never leaves this device)."""
        return (
            self.socket_path is None and self.scheme == "http" and not is_loopback_host(self.host)
        )

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.socket_path is not None:
            return UnixHTTPConnection(self.socket_path, timeout=timeout)
        if self.scheme == "https":
            import ssl  # only for a remote server: the local engines never load it

            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def headers(self, body: bool) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if body:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers


def _open(
    endpoint: Endpoint, method: str, path: str, body: Any, timeout: float
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse, socket.socket | None]:
    """Send a request; the connection, its response (status not checked yet) and the socket
    (``http.client`` forgets it once the response owns it, but a cancel needs it)."""
    conn = endpoint.connection(timeout)
    data = None if body is None else json.dumps(body).encode("utf-8")
    try:
        conn.request(
            method, endpoint.base_path + path, body=data, headers=endpoint.headers(data is not None)
        )
        sock = conn.sock
        return conn, conn.getresponse(), sock
    except BaseException as exc:
        conn.close()
        raise _transport_error(endpoint, exc) from exc


def _transport_error(endpoint: Endpoint, exc: BaseException) -> BaseException:
    where = endpoint.socket_path if endpoint.socket_path else endpoint.label
    if isinstance(exc, TimeoutError | socket.timeout):
        return ServerError(f"llama-server at {where} did not answer in time", "timeout")
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        return ServerError(
            f"llama-server at {where} is not running (connection refused)", "unreachable"
        )
    ssl = sys.modules.get("ssl")
    if ssl is not None and isinstance(exc, ssl.SSLError):
        return ServerError(f"{where}: the secure connection failed ({exc})", "unreachable")
    if isinstance(exc, http.client.HTTPException | ConnectionError):
        return ServerError(f"llama-server at {where} closed the connection", "dropped")
    if isinstance(exc, OSError):
        return ServerError(
            f"cannot reach llama-server at {where} ({exc.strerror or exc})", "unreachable"
        )
    return exc


def _error_from_response(endpoint: Endpoint, status: int, raw: bytes) -> ServerError:
    message = ""
    try:
        payload = json.loads(raw)
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            message = str(error.get("message") or "")
        elif isinstance(error, str):
            message = error
    except ValueError:
        message = raw[:200].decode("utf-8", "replace").strip()
    if status == 401:
        return ServerError(
            f"llama-server at {endpoint.label} refused the API key (HTTP 401)", "auth", status
        )
    detail = f": {message}" if message else ""
    return ServerError(
        f"llama-server at {endpoint.label} answered HTTP {status}{detail}", "http", status
    )


_idle = threading.local()
"""Per thread: one kept-alive connection per TCP endpoint (a remote server over the internet
would otherwise cost a TLS handshake per /tokenize call). Unix sockets connect for free."""


def _pooled(endpoint: Endpoint) -> dict[Endpoint, http.client.HTTPConnection]:
    pool = getattr(_idle, "pool", None)
    if pool is None:
        pool = _idle.pool = {}
    return pool  # type: ignore[no-any-return]


def _exchange(
    endpoint: Endpoint, method: str, path: str, body: Any, timeout: float
) -> tuple[int, bytes]:
    """``(status, raw body)``, on a kept-alive connection when there is one (retried once on
    a fresh one if the server closed it meanwhile)."""
    if endpoint.is_unix:
        conn, response, _ = _open(endpoint, method, path, body, timeout)
        try:
            return response.status, response.read()
        except BaseException as exc:
            raise _transport_error(endpoint, exc) from exc
        finally:
            conn.close()
    pool = _pooled(endpoint)
    kept = pool.pop(endpoint, None)
    data = None if body is None else json.dumps(body).encode("utf-8")
    attempts: list[http.client.HTTPConnection | None] = [kept, None] if kept else [None]
    for candidate in attempts:
        fresh = candidate is None
        conn = candidate if candidate is not None else endpoint.connection(timeout)
        try:
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            conn.request(
                method,
                endpoint.base_path + path,
                body=data,
                headers=endpoint.headers(data is not None),
            )
            response = conn.getresponse()
            raw = response.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            conn.close()
            if fresh:
                raise _transport_error(endpoint, exc) from exc
            continue  # the kept connection had been closed by the server: a new one
        except BaseException as exc:
            conn.close()
            raise _transport_error(endpoint, exc) from exc
        if response.will_close:
            conn.close()
        else:
            pool[endpoint] = conn
        return response.status, raw
    raise ServerError(f"llama-server at {endpoint.label} closed the connection", "dropped")


def request_json(
    endpoint: Endpoint, method: str, path: str, body: Any = None, *, timeout: float = 30.0
) -> Any:
    """One request, its JSON answer. Raises :class:`ServerError`."""
    status, raw = _exchange(endpoint, method, path, body, timeout)
    if status >= 400:
        raise _error_from_response(endpoint, status, raw)
    try:
        return json.loads(raw)
    except ValueError:
        raise ServerError(
            f"llama-server at {endpoint.label} sent an answer that is not JSON ({path})",
            "payload",
        ) from None


class Stream:
    """A server-sent-events answer (``/completion`` with ``stream``), one JSON object per
    ``data:`` line. :meth:`close` may be called from any thread: the reader wakes at once
    and the server sees the client go away."""

    def __init__(
        self, endpoint: Endpoint, path: str, body: Any, *, timeout: float, idle_timeout: float
    ) -> None:
        self.endpoint = endpoint
        self._lock = threading.Lock()
        self.closed = False
        conn, response, sock = _open(endpoint, "POST", path, body, timeout)
        self._conn, self._response, self._sock = conn, response, sock
        if response.status >= 400:
            raw = response.read()
            response.close()
            conn.close()
            raise _error_from_response(endpoint, response.status, raw)
        self._idle_timeout = idle_timeout

    def events(self) -> Iterator[dict[str, Any]]:
        """The decoded events, in order; ends when the server ends the answer."""
        try:
            while True:
                try:
                    line = self._response.readline()
                except BaseException as exc:
                    if self.closed:
                        return
                    raise _transport_error(self.endpoint, exc) from exc
                if not line:
                    if self.closed:
                        return
                    raise ServerError(
                        f"llama-server at {self.endpoint.label} closed the connection mid-answer",
                        "dropped",
                    )
                line = line.strip()
                if not line.startswith(b"data:"):
                    if line.startswith(b"error:"):
                        raise ServerError(
                            f"llama-server at {self.endpoint.label}: "
                            f"{line[6:].decode('utf-8', 'replace').strip()}"
                        )
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    return
                try:
                    event = json.loads(data)
                except ValueError:
                    raise ServerError(
                        f"llama-server at {self.endpoint.label} sent an event that is not JSON",
                        "payload",
                    ) from None
                if not isinstance(event, dict):
                    raise ServerError(
                        f"llama-server at {self.endpoint.label} sent an unexpected event",
                        "payload",
                    )
                if self._sock is not None:  # the prompt is done: now the time between two
                    self._sock.settimeout(self._idle_timeout)
                if "error" in event and "content" not in event:
                    error = event["error"]
                    text = error.get("message") if isinstance(error, dict) else error
                    raise ServerError(f"llama-server at {self.endpoint.label}: {text}")
                yield event
        finally:
            self.close()

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        self._response.close()
        self._conn.close()
