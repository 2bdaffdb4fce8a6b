"""Talking to the Hugging Face hub (or a mirror) for a download the user asked for.

Standard library ``urllib`` only: no new dependency to build on Termux, and it already
honours ``HTTPS_PROXY``/``https_proxy`` (and ``no_proxy``) from the environment, which is how
Orbot and similar apps expose a proxy. ``HF_ENDPOINT`` names the hub's base URL, as Hugging
Face's own tools read it (mirrors are how people reach the hub where it is blocked).

Rules kept here: HTTPS only, except to this device (loopback); redirects are followed by
hand so every hop is checked, and the ``HF_TOKEN`` bearer token goes only to the endpoint's
own host, never to the storage host a download is redirected to.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import re
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from urllib.parse import quote, urljoin, urlsplit

from tui.engine.model_store import ModelFileError

DEFAULT_ENDPOINT = "https://huggingface.co"
MAX_REDIRECTS = 5
_SHA256 = re.compile(r'^(?:W/)?"?([0-9a-fA-F]{64})"?$')


class DownloadError(ModelFileError):
    """The download failed or was refused; the message says why and what to do."""


def endpoint() -> str:
    """The hub's base URL: ``HF_ENDPOINT``, else https://huggingface.co."""
    value = os.environ.get("HF_ENDPOINT", "").strip()
    return (value or DEFAULT_ENDPOINT).rstrip("/")


def resolve_url(repo: str, file: str, base: str | None = None, revision: str = "main") -> str:
    """``{endpoint}/{repo}/resolve/{revision}/{file}``: where the hub serves a file."""
    return f"{base or endpoint()}/{repo}/resolve/{revision}/{quote(file)}"


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> None:
    """Refuse anything but HTTPS, except plain HTTP to this device."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and is_loopback(host):
        return
    raise DownloadError(
        f"refusing {url}: Burrow downloads only over HTTPS (plain HTTP only to this device)"
    )


def token() -> str | None:
    value = os.environ.get("HF_TOKEN", "").strip()
    return value or None


def published_sha256(headers: Message) -> str | None:
    """The SHA-256 the hub publishes for a file: its LFS object id, sent as the quoted
    ``X-Linked-Etag`` (or ``ETag``) of a ``resolve`` answer. None when it is a git hash."""
    for key in ("X-Linked-Etag", "ETag"):
        value = headers.get(key)
        match = _SHA256.match(value.strip()) if value else None
        if match:
            return match.group(1).lower()
    return None


def published_size(headers: Message) -> int | None:
    for key in ("X-Linked-Size", "Content-Length"):
        value = headers.get(key)
        if value and value.strip().isdigit():
            return int(value.strip())
    return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # followed by hand in open_url, so each hop is checked


def _opener() -> urllib.request.OpenerDirector:
    # ProxyHandler() reads https_proxy/HTTPS_PROXY, http_proxy and no_proxy.
    return urllib.request.build_opener(urllib.request.ProxyHandler(), _NoRedirect())


def http_message(exc: urllib.error.HTTPError, what: str, host: str) -> str:
    if exc.code == 404:
        return f"{what}: not found on {host} (HTTP 404); check the repository and file name"
    if exc.code in (401, 403):
        if token():
            return (
                f"{what}: {host} refused the token in HF_TOKEN (HTTP {exc.code}); check it "
                "can read this repository and that you accepted its licence on the hub"
            )
        return (
            f"{what}: {host} asks for a login (HTTP {exc.code}): the repository is gated or "
            "private. Accept its licence on the hub, create a read token there, then run "
            "again with HF_TOKEN=<token> set"
        )
    return f"{what}: {host} answered HTTP {exc.code} {exc.reason}"


def network_message(exc: BaseException, what: str, host: str, timeout: float) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"{what}: {host} did not answer within {timeout:g} s (slow or no network?)"
    if isinstance(reason, socket.gaierror):
        return f"{what}: cannot look up {host}: no network, or the name is wrong"
    if isinstance(reason, ConnectionRefusedError):
        return f"{what}: {host} refused the connection"
    if isinstance(reason, ssl.SSLError):
        return f"{what}: secure connection to {host} failed: {reason}"
    if isinstance(reason, OSError) and reason.errno in (101, 113):
        return f"{what}: no network to reach {host}"
    return f"{what}: connection to {host} failed: {reason}"


def _once(
    opener: urllib.request.OpenerDirector,
    url: str,
    what: str,
    auth_host: str,
    method: str,
    headers: dict[str, str] | None,
    timeout: float,
) -> tuple[http.client.HTTPResponse | None, Message, str]:
    """One request. A redirect comes back as ``(None, its headers, the next URL)``."""
    from tui import __version__

    check_url(url)
    host = host_of(url)
    sent = {"User-Agent": f"burrow/{__version__}", "Accept-Encoding": "identity"}
    sent.update(headers or {})
    bearer = token()
    if bearer and host == auth_host:
        sent["Authorization"] = f"Bearer {bearer}"
    request = urllib.request.Request(url, method=method, headers=sent)
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        location = exc.headers.get("Location")
        if exc.code in (301, 302, 303, 307, 308) and location:
            return None, exc.headers, urljoin(url, location)
        raise DownloadError(http_message(exc, what, host)) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(network_message(exc, what, host, timeout)) from exc
    assert isinstance(response, http.client.HTTPResponse)
    return response, response.headers, url


def open_url(
    url: str,
    what: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[http.client.HTTPResponse, Message]:
    """Open ``url`` following redirects by hand. Returns the final response and the first
    answer's headers (the hub puts ``X-Linked-Etag`` on its redirect). Raises DownloadError
    with a message for people."""
    auth_host = host_of(url)
    first: Message | None = None
    opener = _opener()
    for _ in range(MAX_REDIRECTS + 1):
        response, got, url = _once(opener, url, what, auth_host, method, headers, timeout)
        first = first or got
        if response is not None:
            return response, first
    raise DownloadError(f"{what}: too many redirects from {auth_host}")


@dataclass(frozen=True)
class Probe:
    headers: Message
    """The hub's own answer (with ``X-Linked-Etag`` when it redirects)."""
    size: int | None
    data_url: str
    """Where the bytes come from (the hub's storage host after a redirect)."""


def probe(url: str, what: str, *, timeout: float = 30) -> Probe:
    """``HEAD`` the hub for the size and hash of a file. Only the named host is contacted
    when its redirect states the size (the hub's does, with ``X-Linked-Size``); otherwise
    the redirect is followed to learn it."""
    response, got, next_url = _once(_opener(), url, what, host_of(url), "HEAD", None, timeout)
    if response is not None:
        response.close()
        return Probe(got, published_size(got), url)
    if got.get("X-Linked-Size"):
        return Probe(got, published_size(got), next_url)
    response, first = open_url(url, what, method="HEAD", timeout=timeout)
    with response:
        return Probe(first, published_size(response.headers), response.geturl())
