"""The app opens no network connection: a full chat with socket creation blocked in both the
app's process and the engine worker's process.

In this process ``socket.socket`` is replaced for the test; the worker (a child process) gets
the same guard from a ``sitecustomize`` module put on its ``PYTHONPATH``, which also leaves a
marker file so the test knows the guard really ran there.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import ask, make_app, views, wait_ready

from tui.store.store import Store

GUARD = """
import os, socket

_Socket = socket.socket
_NET = {socket.AF_INET, socket.AF_INET6}


class _NoNetwork(_Socket):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is None and family in _NET or family == -1 and fileno is None:
            raise PermissionError("network blocked by the Burrow offline test")
        super().__init__(family, type, proto, fileno)


def _no_connection(*args, **kwargs):
    raise PermissionError("network blocked by the Burrow offline test")


socket.socket = _NoNetwork
socket.create_connection = _no_connection
marker = os.environ.get("BURROW_TEST_NO_NET_MARKER")
if marker:
    with open(marker + "." + str(os.getpid()), "w") as handle:
        handle.write("guarded")
"""


class NetworkAttempt(Exception):
    pass


@pytest.fixture
def no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    attempts: list[str] = []
    original = socket.socket

    class GuardedSocket(original):  # type: ignore[misc, valid-type]
        def __init__(
            self, family: Any = -1, type: Any = -1, proto: Any = -1, fileno: Any = None
        ) -> None:
            # socketpair() (asyncio's self-pipe) wraps an existing AF_UNIX fd: allowed.
            if fileno is None and family in (socket.AF_INET, socket.AF_INET6, -1):
                attempts.append(f"socket({family}, {type})")
                raise NetworkAttempt("network blocked by the Burrow offline test")
            super().__init__(family, type, proto, fileno)

    def no_connection(*args: Any, **kwargs: Any) -> Any:
        attempts.append(f"create_connection{args}")
        raise NetworkAttempt("network blocked by the Burrow offline test")

    monkeypatch.setattr(socket, "socket", GuardedSocket)
    monkeypatch.setattr(socket, "create_connection", no_connection)

    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD)
    monkeypatch.setenv("PYTHONPATH", str(guard_dir))
    monkeypatch.setenv("BURROW_TEST_NO_NET_MARKER", str(tmp_path / "worker-guarded"))
    return attempts


@pytest.mark.slow
async def test_full_chat_with_the_network_blocked(
    smollm2_path: Path, no_network: list[str], tmp_path: Path
) -> None:
    app = make_app(smollm2_path)
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app)
        await ask(pilot, app, "Say hello in French.")
        await pilot.press("ctrl+r")  # and a second answer, through the same guarded worker
        await pilot.pause(0.2)
        from ui_helpers import wait_idle

        await wait_idle(pilot, app)
        assert views(app)[-1].text.strip()
    assert no_network == [], f"the app tried the network: {no_network}"
    guarded = list(tmp_path.glob("worker-guarded.*"))
    assert guarded, "the worker process did not run with the network guard"
    with Store.open() as store:
        assert store.count_conversations() == 1
