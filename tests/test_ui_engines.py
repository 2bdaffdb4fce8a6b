"""The engines in the app, at phone size (40x24) and by tap: the "remote: HOST" marker on the
status line while a remote llama-server answers, the confirmation that names a host the
first time it is used, and the engine choice in the model picker.

The servers are the real llama-server (on loopback TCP for "remote", a Unix socket for
"local") on the bundled model; without the binary these tests skip (CI builds it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_helpers import require_binary, tcp_server
from touch_helpers import tap, wait_screen
from ui_helpers import chat, make_app, wait_for, wait_ready

from tui.engine.engines import host_confirmed
from tui.ui.screens.dialogs import ConfirmSheet
from tui.ui.screens.models import ModelsScreen
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.status_line import StatusLine

pytestmark = pytest.mark.slow

PHONE = (40, 24)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> Iterator[str]:
    log = tmp_path_factory.mktemp("ui-remote") / "server.log"
    with tcp_server(require_binary(), smollm2_path, log) as url:
        yield url


def status_text(app: Any) -> str:
    return str(chat(app).query_one(StatusLine).render())


async def test_first_use_of_a_host_asks_and_then_marks_the_status_line(
    server_url: str, smollm2_path: Path
) -> None:
    host = server_url.removeprefix("http://")
    app = make_app(smollm2_path, engine="remote", server_url=server_url)
    async with app.run_test(size=PHONE) as pilot:
        sheet = await wait_screen(pilot, ConfirmSheet, "the host confirmation")
        assert host in str(sheet.query_one(".sheet--title").render())
        assert not host_confirmed(host)
        await tap(pilot, sheet.query_one("#confirm-yes"))
        await wait_for(pilot, lambda: app.services.engine_kind == "remote", 30, "remote engine")
        await wait_ready(pilot, app)
        assert host_confirmed(host)
        assert f"remote: {host}" in status_text(app)
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
    app = make_app(smollm2_path, engine="remote", server_url=server_url)
    async with app.run_test(size=PHONE) as pilot:
        sheet = await wait_screen(pilot, ConfirmSheet, "the host confirmation")
        await tap(pilot, sheet.query_one("#confirm-no"))
        await wait_ready(pilot, app)
        assert app.services.engine_kind == "embedded"
        assert "remote" not in status_text(app)
        assert not host_confirmed(host)


async def test_engine_choice_in_the_picker_by_tap(
    server_url: str, smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BURROW_LLAMA_SERVER", require_binary())
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
        # local -> remote: asks first, naming the host
        await tap(pilot, screen.query_one("#models-engine"))
        sheet = await wait_screen(pilot, ConfirmSheet, "the host confirmation")
        assert host in str(sheet.query_one(".sheet--title").render())
        await tap(pilot, sheet.query_one("#confirm-yes"))
        await wait_for(pilot, lambda: app.services.engine_kind == "remote", 30, "remote")
        await wait_for(pilot, lambda: app.services.engine.model is not None, 60, "the model")
        await wait_screen(pilot, ModelsScreen)
        assert str(screen.query_one("#models-engine").label) == f"remote: {host}"  # type: ignore[attr-defined]
        # remote -> embedded: no question for a local engine
        await tap(pilot, screen.query_one("#models-engine"))
        await wait_for(pilot, lambda: app.services.engine_kind == "embedded", 30, "embedded")
        await wait_for(pilot, lambda: app.services.engine.model is not None, 60, "reload")
