"""The engines in the app, at phone size (40x24) and by tap: the "remote: HOST" marker on the
status line while a remote llama-server answers, the confirmation that names a host the
first time it is used, and the engine choice in the model picker.

The servers are ``tests/fake_llama_server.py`` (a test double for the llama-server binary:
on loopback TCP for "remote", on a Unix socket for "local"); what is tested is the app. The
same engines against the real llama-server: ``test_llama_server*.py``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_helpers import _healthy, free_port
from touch_helpers import tap, tap_text, wait_screen
from ui_helpers import FAST, chat, make_app, wait_for, wait_ready

from tui.engine.engines import host_confirmed
from tui.settings import Settings, load_settings
from tui.ui.app import BurrowApp
from tui.ui.screens.dialogs import ConfirmSheet
from tui.ui.screens.models import ModelsScreen
from tui.ui.services import Services
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.status_line import StatusLine

pytestmark = pytest.mark.slow

FAKE = Path(__file__).resolve().parent / "fake_llama_server.py"
PHONE = (40, 24)


@pytest.fixture(scope="module")
def server_url(smollm2_path: Path) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, str(FAKE), "-m", str(smollm2_path), "-c", "4096"]
    proc = subprocess.Popen(
        [*argv, "--host", "127.0.0.1", "--port", str(port)], stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while not _healthy(port):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def remote_app(model: Path, url: str) -> BurrowApp:
    """The app whose settings choose the remote engine (``engine`` is also ``make_app``'s
    name for an engine object)."""
    settings = Settings().replace(**FAST, engine="remote", server_url=url)
    return BurrowApp(Services(settings=settings, model=str(model)))


def status_text(app: Any) -> str:
    return str(chat(app).query_one(StatusLine).render())


async def test_first_use_of_a_host_asks_and_then_marks_the_status_line(
    server_url: str, smollm2_path: Path
) -> None:
    host = server_url.removeprefix("http://")
    app = remote_app(smollm2_path, server_url)
    async with app.run_test(size=PHONE) as pilot:
        sheet = await wait_screen(pilot, ConfirmSheet, "the host confirmation")
        assert host in str(sheet.query_one(".sheet--title").render())
        assert not host_confirmed(host)
        await tap(pilot, sheet.query_one("#confirm-yes"))
        await wait_for(pilot, lambda: app.services.engine_kind == "remote", 30, "remote engine")
        marked = f"remote: {host}"
        await wait_for(pilot, lambda: marked in status_text(app), 30, "the remote marker")
        await wait_for(pilot, lambda: app.model_state.state == "ready", 30, "the remote model")
        assert host_confirmed(host)
        assert marked in status_text(app)
        # an answer from the server, asked by tap
        chat(app).query_one(Composer).insert("Say hi.")
        await pilot.click("#send")
        await wait_for(
            pilot,
            lambda: not chat(app).streaming and bool(chat(app).session.conversation_id),
            60,
            "the answer",
        )
        await wait_for(pilot, lambda: not chat(app).streaming, 60, "the answer to end")
        assert f"remote: {host}" in status_text(app)


async def test_saying_no_keeps_answers_on_the_device(server_url: str, smollm2_path: Path) -> None:
    host = server_url.removeprefix("http://")
    app = remote_app(smollm2_path, server_url)
    async with app.run_test(size=PHONE) as pilot:
        sheet = await wait_screen(pilot, ConfirmSheet, "the host confirmation")
        await tap(pilot, sheet.query_one("#confirm-no"))
        await wait_ready(pilot, app)
        assert app.services.engine_kind == "embedded"
        assert "remote" not in status_text(app)
        assert not host_confirmed(host)


async def test_engine_choice_in_the_picker_by_tap(
    server_url: str, smollm2_path: Path, monkeypatch: pytest.MonkeyPatch, fake_binary: str
) -> None:
    monkeypatch.setenv("BURROW_LLAMA_SERVER", fake_binary)
    host = server_url.removeprefix("http://")
    app = make_app(smollm2_path, server_url=server_url)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app)
        assert app.services.engine_choices() == ["embedded", "local", "remote"]
        await app.run_action("open_models")
        screen: ModelsScreen = await wait_screen(pilot, ModelsScreen)
        await wait_for(pilot, lambda: screen.scans >= 1, 30, "the model list")
        options = screen.query_one("#models-list")
        assert any(f"remote: {host}" in str(o.prompt) for o in options.options)  # type: ignore[attr-defined]
        # embedded -> local: the same model, now in llama-server on a Unix socket
        await tap(pilot, screen.query_one("#models-engine"))
        await wait_for(pilot, lambda: app.services.engine_kind == "local", 30, "local engine")
        await wait_for(pilot, lambda: app.services.engine.model is not None, 60, "reload")
        assert str(screen.query_one("#models-engine").label) == "local"  # type: ignore[attr-defined]
        assert load_settings()[0].engine == "local"  # kept for the next start
        # local -> remote: asks first, naming the host
        await tap(pilot, screen.query_one("#models-engine"))
        sheet = await wait_screen(pilot, ConfirmSheet, "the host confirmation")
        assert host in str(sheet.query_one(".sheet--title").render())
        await tap(pilot, sheet.query_one("#confirm-yes"))
        await wait_for(pilot, lambda: app.services.engine_kind == "remote", 30, "remote")
        await wait_for(pilot, lambda: app.services.engine.model is not None, 60, "the model")
        await wait_screen(pilot, ModelsScreen)
        assert str(screen.query_one("#models-engine").label) == f"remote: {host}"  # type: ignore[attr-defined]
        # remote -> embedded: no question for a local engine (by key this time)
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: app.services.engine_kind == "embedded", 30, "embedded")
        await wait_for(pilot, lambda: app.services.engine.model is not None, 60, "reload")


async def test_the_remote_server_is_listed_with_the_models_and_tapped(
    server_url: str, smollm2_path: Path
) -> None:
    """The picker lists the models of every configured engine: the files here, and the
    remote server's; tapping that row asks (naming the host) and then answers there."""
    host = server_url.removeprefix("http://")
    app = make_app(smollm2_path, server_url=server_url)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app)
        await app.run_action("open_models")
        screen: ModelsScreen = await wait_screen(pilot, ModelsScreen)
        await wait_for(pilot, lambda: screen.scans >= 1, 30, "the model list")
        options = screen.query_one("#models-list")
        row = len(screen.entries)  # the remote server comes after the files
        assert f"remote: {host}" in str(options.get_option_at_index(row).prompt)  # type: ignore[attr-defined]
        options.scroll_visible()
        options.highlighted = row  # type: ignore[attr-defined]
        await pilot.pause()
        await tap_text(pilot, f"remote: {host}")
        sheet = await wait_screen(pilot, ConfirmSheet, "the host confirmation")
        assert host in str(sheet.query_one(".sheet--title").render())
        await tap(pilot, sheet.query_one("#confirm-yes"))
        await wait_for(pilot, lambda: app.services.engine_kind == "remote", 30, "remote")
        await wait_for(pilot, lambda: app.services.engine.model is not None, 30, "the model")
        assert app.services.engine.model.path == f"{host}/{smollm2_path}"  # type: ignore[union-attr]


async def test_no_engine_installed_says_what_to_install(
    smollm2_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``pip install .`` without the embedded extra and no llama-server: the app starts and
    says what to install, instead of a worker that cannot import llama.cpp."""
    monkeypatch.setattr("tui.engine.engines.embedded_available", lambda: False)
    monkeypatch.setattr("tui.engine.server_process.find_llama_server", lambda c=None: None)
    monkeypatch.setattr("tui.engine.server_client.find_llama_server", lambda c=None: None)
    settings = Settings().replace(**FAST, engine="embedded")
    app = BurrowApp(Services(settings=settings, model=str(smollm2_path)))
    async with app.run_test(size=PHONE) as pilot:
        await wait_for(pilot, lambda: app.model_state.state == "failed", 30, "the failed load")
        assert "pkg install llama-cpp" in app.model_state.detail
        notes = [n.message for n in app._notifications]
        assert any("embedded engine is not installed" in str(n) for n in notes), notes
