"""The touch tour, sheets: Settings, Models, Templates and Themes by tap alone
(``pilot.click``), at 40x24 and 40x14. Each sheet is opened as a phone user opens it: the
footer's **^p palette**, then its name. The only keys pressed are the letters of text typed
into a field. History is in ``test_touch_tour_history.py``.

The app runs on ``ScriptedEngine`` (tests/doubles.py), a TEST DOUBLE of the engine; the
Models sheet lists the real bundled model file (the double loads nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from doubles import ScriptedEngine
from textual.geometry import Offset
from textual.pilot import Pilot
from textual.widgets import Input, OptionList
from touch_helpers import (
    PHONE_SIZE_IDS,
    PHONE_SIZES,
    find_text,
    model_file,
    screen_lines,
    scripted_app,
    tap,
    tap_command,
    tap_text,
    type_text,
    wait_screen,
    widget,
)
from ui_helpers import chat, make_app, wait_for, wait_ready

from tui import paths
from tui.settings import setting_specs
from tui.ui.app import BurrowApp
from tui.ui.screens.dialogs import ConfirmSheet, MessageActionsSheet
from tui.ui.screens.models import ModelsScreen
from tui.ui.screens.settings import SettingsScreen
from tui.ui.screens.templates import TemplatesScreen
from tui.ui.screens.themes import ThemeScreen


async def back_to_chat(pilot: Pilot[Any], app: BurrowApp) -> None:
    await wait_for(pilot, lambda: app.screen is chat(app), 10, "the chat")


@pytest.mark.parametrize("size", PHONE_SIZES, ids=PHONE_SIZE_IDS)
async def test_settings_invalid_value_then_reset_and_apply(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = scripted_app(tmp_path)  # max_tokens 24 (ui_helpers.FAST), not the default
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot, app, 10)
        await tap_command(pilot, "Settings")
        sheet = await wait_screen(pilot, SettingsScreen)
        field = sheet.query_one("#set-max_tokens", Input)
        field.scroll_visible(animate=False, immediate=True)  # as a finger scrolls the form
        await tap(pilot, field)
        await type_text(pilot, "x")
        assert sheet.query_one("#row-max_tokens").has_class("-invalid")
        await tap(pilot, "settings_apply")
        assert app.screen is sheet, "an invalid value was applied"
        assert chat(app).session.settings.max_tokens == 24

        await tap(pilot, "settings_reset")
        default = setting_specs()["max_tokens"].default
        assert field.value == str(default)
        assert not sheet.query_one("#row-max_tokens").has_class("-invalid")
        await tap(pilot, "settings_apply")
        if isinstance(app.screen, ConfirmSheet):  # the default context size needs a reload
            await tap(pilot, app.screen.query_one("#confirm-no"))
        await back_to_chat(pilot, app)
        assert chat(app).session.settings.max_tokens == default


@pytest.mark.parametrize("size", PHONE_SIZES, ids=PHONE_SIZE_IDS)
async def test_models_unload_load_rescan_and_load_by_row(
    tmp_path: Path, smollm2_path: Path, size: tuple[int, int]
) -> None:
    app = make_app(
        model_file(tmp_path),
        engine=ScriptedEngine(),
        default_template="chatml",
        model_dirs=(str(smollm2_path.parent),),
    )
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot, app, 10)
        engine = app.services.engine
        await tap_command(pilot, "Models")
        screen: ModelsScreen = await wait_screen(pilot, ModelsScreen)
        await wait_for(pilot, lambda: screen.scans >= 1, 30, "the scan")

        await tap(pilot, "models_unload")
        await wait_for(pilot, lambda: app.model_state.state == "none", 10, "the unload")
        assert engine.model is None

        entry = screen.selected()
        assert entry is not None
        await tap(pilot, "models_load")
        await wait_for(pilot, lambda: app.model_state.state == "ready", 10, "the load")
        assert engine.model is not None and Path(engine.model.path) == Path(entry.path)

        scans = screen.scans
        await tap(pilot, "models_rescan")
        await wait_for(pilot, lambda: screen.scans > scans, 30, "the rescan")

        await tap(pilot, "models_unload")
        await wait_for(pilot, lambda: app.model_state.state == "none", 10, "the unload")
        await tap_text(pilot, smollm2_path.stem)  # a tap on a model's row loads it
        await wait_for(pilot, lambda: app.model_state.state == "ready", 10, "the load")
        assert engine.model is not None and Path(engine.model.path) == smollm2_path

        await tap(pilot, screen.query_one("#sheet-close"))
        await back_to_chat(pilot, app)
        assert chat(app).model_ready


@pytest.mark.parametrize("size", PHONE_SIZES, ids=PHONE_SIZE_IDS)
async def test_template_edit_save_duplicate_delete(tmp_path: Path, size: tuple[int, int]) -> None:
    app = scripted_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot, app, 10)
        await tap_command(pilot, "Templates")
        await wait_screen(pilot, TemplatesScreen)
        await tap_text(pilot, "Edit")
        await pilot.pause(0.2)
        # Edit: tap just before the closing quote of the name, type.
        name = find_text(app, 'my-template"')
        await pilot.click(offset=Offset(name.x + len("my-template"), name.y))
        await type_text(pilot, "-x")
        assert 'name = "my-template-x"' in widget(app, "editor").text  # type: ignore[attr-defined]
        folder = paths.user_templates_dir()

        await tap(pilot, "edit_save")
        await wait_for(pilot, lambda: (folder / "my-template-x.toml").is_file(), 5, "the save")
        assert chat(app).session.template_name == "my-template-x"

        await tap(pilot, "edit_duplicate")
        await tap(pilot, "edit_save")
        copy = folder / "my-template-x-copy.toml"
        await wait_for(pilot, copy.is_file, 5, "the copy saved")

        await tap(pilot, "edit_more")
        sheet = await wait_screen(pilot, MessageActionsSheet)
        await tap(pilot, sheet.query_one("#act-delete"))
        sheet = await wait_screen(pilot, ConfirmSheet)
        await tap(pilot, sheet.query_one("#confirm-yes"))
        await wait_for(pilot, lambda: not copy.exists(), 5, "the delete")
        assert sorted(p.name for p in folder.iterdir()) == ["my-template-x.toml"]


@pytest.mark.parametrize("size", PHONE_SIZES, ids=PHONE_SIZE_IDS)
async def test_theme_switch(tmp_path: Path, size: tuple[int, int]) -> None:
    app = scripted_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot, app, 10)
        await tap_command(pilot, "Themes")
        sheet = await wait_screen(pilot, ThemeScreen)
        options = sheet.query_one(OptionList)
        names = [str(options.get_option_at_index(i).id) for i in range(options.option_count)]
        shown = "\n".join(screen_lines(app))
        target = next(n for n in names if f" {n} ·" in shown and n != app.theme)
        await tap_text(pilot, f" {target} ·")
        await back_to_chat(pilot, app)
        assert app.theme == target
