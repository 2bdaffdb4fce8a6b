"""Which engine answers: embedded (llama-cpp-python in Burrow's worker), local (llama-server
started by Burrow on a Unix socket) or remote (a llama-server the user named by URL).

Remote is opt-in and guarded: ``https://`` anywhere; ``http://`` only to loopback, or to a
private-network address when the user turned on ``allow_plain_http`` (then marked
unencrypted); never plain http to a public address. The first use of a host needs the user's
confirmation naming it (remembered in the engine preferences).
"""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tui.engine.http import Endpoint, is_loopback_host, is_private_host
from tui.engine.process import EngineError

if TYPE_CHECKING:
    from tui.engine.client import EngineClient
    from tui.engine.server_client import LocalServerClient, RemoteServerClient
    from tui.settings import Settings

    AnyEngine = EngineClient | LocalServerClient | RemoteServerClient

ENGINE_CHOICES: tuple[str, ...] = ("auto", "embedded", "local", "remote")
KINDS: tuple[str, ...] = ("embedded", "local", "remote")


class HostNotConfirmed(EngineError):
    """A remote host the user has not confirmed yet; ``host`` names it."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"{host}: Burrow has not sent anything to this server before; confirm it first "
            "(burrow ask --trust-host, or answer the question in the app)"
        )
        self.host = host


def embedded_available() -> bool:
    """Whether llama-cpp-python (the embedded engine) is installed."""
    try:
        return importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        return False


def is_url(value: str) -> bool:
    return value.strip().lower().startswith(("http://", "https://"))


@dataclass(frozen=True)
class RemoteTarget:
    """A checked server URL: where, and whether the link is encrypted."""

    endpoint: Endpoint
    url: str

    @property
    def host(self) -> str:
        return self.endpoint.label

    @property
    def encrypted(self) -> bool:
        return self.endpoint.encrypted

    @property
    def marker(self) -> str:
        """The status line's text for it."""
        return f"remote: {self.host}" + (
            " (unencrypted)" if self.endpoint.unencrypted_network else ""
        )


def check_url(url: str, api_key: str = "", *, allow_plain_http: bool = False) -> RemoteTarget:
    """A server URL the rules allow, or :class:`EngineError` saying which rule refuses it."""
    try:
        endpoint = Endpoint.from_url(url, api_key or None)
    except ValueError as exc:
        raise EngineError(f"server URL {exc}") from None
    if endpoint.scheme == "http" and not is_loopback_host(endpoint.host):
        if not is_private_host(endpoint.host):
            raise EngineError(
                f"{url}: plain http:// to a public address would send your conversation "
                "unencrypted over the internet; use https://"
            )
        if not allow_plain_http:
            raise EngineError(
                f"{url}: plain http:// to another machine is unencrypted; use https://, or "
                "turn on the allow_plain_http setting for your own network"
            )
    return RemoteTarget(endpoint, url.strip())


def resolve_kind(choice: str | None, settings: Settings) -> str:
    """``embedded``, ``local`` or ``remote`` for an engine choice (a URL means remote)."""
    choice = (choice or settings.engine or "auto").strip()
    if is_url(choice):
        return "remote"
    if choice not in ENGINE_CHOICES:
        raise EngineError(f"unknown engine {choice!r}: use embedded, local, remote or a server URL")
    if choice != "auto":
        return choice
    if embedded_available():
        return "embedded"
    from tui.engine.server_process import find_llama_server

    return "local" if find_llama_server(settings.llama_server) else "embedded"


def remote_target(choice: str | None, settings: Settings) -> RemoteTarget:
    url = choice if choice and is_url(choice) else settings.server_url
    if not url:
        raise EngineError("no server URL: set server_url (burrow config set server_url URL)")
    return check_url(url, settings.server_api_key, allow_plain_http=settings.allow_plain_http)


def make_engine(choice: str | None, settings: Settings, *, trusted: bool = False) -> AnyEngine:
    """The engine for ``choice`` (None: the configured one). A remote host must have been
    confirmed before (or ``trusted`` now, which remembers it): else :class:`HostNotConfirmed`."""
    kind = resolve_kind(choice, settings)
    if kind == "embedded":
        if not embedded_available():
            raise EngineError(
                "the embedded engine is not installed (pip install 'burrow-chat[embedded]'); "
                "or use llama-server: --engine local"
            )
        from tui.engine.client import EngineClient

        return EngineClient()
    if kind == "local":
        from tui.engine.server_client import LocalServerClient

        return LocalServerClient(binary=settings.llama_server or None)
    target = remote_target(choice, settings)
    if trusted:
        confirm_host(target.host)
    elif not host_confirmed(target.host):
        raise HostNotConfirmed(target.host)
    from tui.engine.server_client import RemoteServerClient

    return RemoteServerClient(target.endpoint)


def engine_kind(engine: Any) -> str:
    """``embedded``, ``local`` or ``remote`` for an engine object."""
    return str(getattr(engine, "kind", "embedded"))


# -- confirmed hosts (kept beside the per-model engine preferences) -------------------------


def _hosts() -> dict[str, Any]:
    from tui.engine import prefs

    hosts = prefs.load().get("remote_hosts")
    return hosts if isinstance(hosts, dict) else {}


def host_confirmed(host: str) -> bool:
    return host in _hosts()


def confirm_host(host: str) -> None:
    from tui import paths
    from tui.engine import prefs

    data = prefs.load()
    found = data.get("remote_hosts")
    hosts: dict[str, Any] = found if isinstance(found, dict) else {}
    hosts[host] = {"since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    data["remote_hosts"] = hosts
    paths.write_private_text(paths.engine_prefs_file(), json.dumps(data, indent=2) + "\n")
