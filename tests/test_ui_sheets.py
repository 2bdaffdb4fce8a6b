"""The settings sheet and the template editor, driven by a pilot on the real engine.

Every test has its own ``BURROW_HOME`` (conftest). Answers are tiny (``max_tokens`` 24 or 8,
greedy) to keep the suite fast on two cores. Buttons are clicked (a tap in Termux) rather
than actions called, so the tap path is what is tested.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select, TabbedContent, TextArea
from ui_helpers import answer, chat, make_app, views, wait_for, wait_ready

from tui import paths
from tui.settings import load_settings
from tui.store.store import Store
from tui.ui.app import BurrowApp
from tui.ui.screens.dialogs import ConfirmSheet
from tui.ui.screens.settings import SettingsScreen
from tui.ui.screens.templates import TemplatesScreen
from tui.ui.services import Services
from tui.ui.widgets.composer import Composer

pytestmark = pytest.mark.slow


async def ask(pilot: Pilot[Any], app: BurrowApp, text: str) -> None:
    """Put ``text`` in the composer and press Enter (typing it key by key is slow under load)."""
    composer = chat(app).query_one(Composer)
    composer.focus()
    composer.insert(text)
    async with answer(pilot, app):
        await pilot.press("enter")


async def open_sheet(pilot: Pilot[Any], app: BurrowApp, action: str, kind: type) -> Any:
    await app.run_action(action)
    await wait_for(pilot, lambda: isinstance(app.screen, kind), 10, f"{kind.__name__}")
    await pilot.pause(0.1)
    return app.screen


async def type_setting(pilot: Pilot[Any], screen: SettingsScreen, key: str, text: str) -> None:
    field = screen.query_one(f"#set-{key}", Input)
    field.value = text
    await pilot.pause(0.05)


async def test_invalid_value_is_refused_in_place_and_max_tokens_applies(
    smollm2_path: Path,
) -> None:
    app = make_app(smollm2_path)
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app)
        screen = await open_sheet(pilot, app, "open_settings", SettingsScreen)
        await type_setting(pilot, screen, "temperature", "9")
        row = screen.query_one("#row-temperature")
        assert row.has_class("-invalid")
        assert "out of range" in str(row.query_one(".setting-error").render())
        await pilot.click("#settings-apply")
        await pilot.pause(0.1)
        assert app.screen is screen, "an invalid value keeps the sheet open"
        await type_setting(pilot, screen, "temperature", "0")
        assert not row.has_class("-invalid")
        await type_setting(pilot, screen, "max_tokens", "8")
        await pilot.click("#settings-apply")
        await wait_for(pilot, lambda: app.screen is chat(app), 10, "the chat screen")
        assert chat(app).session.settings.max_tokens == 8
        await ask(pilot, app, "Tell me a long story about a fox.")
        answer = views(app)[-1]
        assert "8 tokens" in answer.data.meta, answer.data.meta
        assert "max tokens" in answer.data.meta
    with Store.open() as store:
        conversation = store.list_conversations()[0]
        assert conversation.settings["max_tokens"] == 8, "the conversation keeps its own value"


async def test_save_as_default_writes_config_reloads_and_restart_reads_it(
    smollm2_path: Path,
) -> None:
    app = make_app(smollm2_path)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app)
        # Keys only this time: Ctrl+S opens the sheet, and inside it saves.
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), 10, "settings")
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        titles = {c.title for c in app.get_system_commands(screen)}
        assert {"Apply settings", "Save settings as default"} <= titles, "in the palette"
        await type_setting(pilot, screen, "max_tokens", "8")
        await type_setting(pilot, screen, "n_ctx", "512")
        screen.query_one("#set-n_ctx", Input).focus()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmSheet), 10, "reload question")
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: (
                app.services.engine.model is not None
                and app.services.engine.model.n_ctx == 512
                and app.model_state.state == "ready"
            ),
            90,
            "the model to reload at n_ctx 512",
        )
        assert app.screen is chat(app)
    data = tomllib.loads(paths.config_file().read_text(encoding="utf-8"))
    assert data["max_tokens"] == 8 and data["n_ctx"] == 512
    settings, problems = load_settings()
    assert not problems and settings.max_tokens == 8 and settings.n_ctx == 512

    # Restart: a new app reads config.toml (no settings passed in).
    again = BurrowApp(Services(model=str(smollm2_path)), load_model=False)
    async with again.run_test(size=(40, 24)) as pilot:
        screen = await open_sheet(pilot, again, "open_settings", SettingsScreen)
        assert screen.query_one("#set-max_tokens", Input).value == "8"
        assert screen.query_one("#set-n_ctx", Input).value == "512"


async def test_switch_template_changes_the_rendered_prompt(smollm2_path: Path) -> None:
    app = make_app(smollm2_path)
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app)
        screen = await open_sheet(pilot, app, "open_templates", TemplatesScreen)
        await wait_for(pilot, lambda: screen.previews >= 1, 30, "the first preview")
        before = screen.preview_text
        assert "<|im_start|>" in before, "SmolLM2's own (auto) template is ChatML"
        assert screen.preview_tokens and screen.preview_tokens > 5
        seen = screen.previews
        screen.query_one("#pick-template", Select).value = "alpaca"
        await wait_for(pilot, lambda: screen.previews > seen, 30, "the new preview")
        assert screen.preview_text != before
        assert "<|im_start|>" not in screen.preview_text
        assert chat(app).session.template_name == "alpaca"
        assert "alpaca" in str(screen.query_one("#preview-title").render())


BROKEN_TEMPLATE = """name = "mine"
description = "My format"
user = "USER: no hole here"
assistant = "ASSISTANT: {content}\\n"
generation_prompt = "ASSISTANT: "
stop = ["USER:"]
"""


async def test_user_template_error_shows_line_then_fix_and_use(smollm2_path: Path) -> None:
    app = make_app(smollm2_path, max_tokens=8)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app)
        screen = await open_sheet(pilot, app, "open_templates", TemplatesScreen)
        screen.query_one(TabbedContent).active = "tab-edit"
        await pilot.pause(0.1)
        editor = screen.query_one("#editor", TextArea)
        editor.load_text(BROKEN_TEMPLATE)
        await pilot.pause(0.1)
        problems = str(screen.query_one("#edit-problems").render())
        assert "line 3" in problems and "{content}" in problems, problems
        await pilot.click("#edit-save")
        await pilot.pause(0.1)
        assert not (paths.user_templates_dir() / "mine.toml").exists(), "errors are not saved"
        editor.load_text(BROKEN_TEMPLATE.replace("no hole here", "{content}\\n"))
        await pilot.pause(0.1)
        assert "valid template 'mine'" in str(screen.query_one("#edit-problems").render())
        await pilot.click("#edit-save")
        await pilot.pause(0.2)
        assert (paths.user_templates_dir() / "mine.toml").is_file()
        assert chat(app).session.template_name == "mine"
        await pilot.click("#sheet-close")
        await wait_for(pilot, lambda: app.screen is chat(app), 10, "the chat screen")
        await ask(pilot, app, "Say hello.")
        assert views(app)[-1].data.status == "done"
    with Store.open() as store:
        assert store.list_conversations()[0].template == "mine"
