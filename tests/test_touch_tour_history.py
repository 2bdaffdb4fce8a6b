"""The touch tour, History: every History action by tap alone (``pilot.click``), on a row
that is not the first, at 40x24 and 40x14. History itself is opened as a phone user opens
it: the footer's **^p palette**, then "History". The only keys pressed are the letters of
text typed into a field.

The app runs on ``ScriptedEngine`` (tests/doubles.py), a TEST DOUBLE of the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from touch_helpers import (
    PHONE_SIZE_IDS,
    PHONE_SIZES,
    scripted_app,
    seed,
    tap,
    tap_command,
    tap_text,
    type_text,
    wait_screen,
    widget,
    widgets,
)
from ui_helpers import chat, wait_for, wait_ready

from tui import paths
from tui.ui.app import BurrowApp
from tui.ui.screens.dialogs import ConfirmSheet, MessageActionsSheet
from tui.ui.screens.history import HistoryScreen
from tui.ui.screens.history_import import ImportSheet
from tui.ui.widgets.sheets import TextPromptSheet

FOUR = [
    ("Alpha apples", "a?"),
    ("Bravo bananas", "b?"),
    ("Charlie cherries", "c?"),
    ("Delta dates", "d?"),
]


async def open_history(pilot: Pilot[Any], app: BurrowApp) -> HistoryScreen:
    await tap_command(pilot, "History")
    screen: HistoryScreen = await wait_screen(pilot, HistoryScreen)
    await wait_for(pilot, lambda: screen.searches >= 1, 10, "the list")
    return screen


async def second_row_action(pilot: Pilot[Any], app: BurrowApp, action: str) -> int:
    """Tap the "⋯" of the second row, then ``action``; the conversation it acted on."""
    screen = app.screen
    assert isinstance(screen, HistoryScreen)
    target = screen.rows[1].conversation_id
    button = widgets(app, "row_actions")[1]
    button.scroll_visible(animate=False, immediate=True)  # as a finger scrolls the list
    await tap(pilot, button)
    sheet = await wait_screen(pilot, MessageActionsSheet)
    await tap(pilot, sheet.query_one(f"#act-{action}"))
    return target


async def answer_prompt(pilot: Pilot[Any], app: BurrowApp, text: str) -> None:
    """Type ``text`` after what the prompt holds, then tap its OK."""
    await wait_screen(pilot, TextPromptSheet)
    await type_text(pilot, text)
    await tap(pilot, "prompt_ok")


async def more_action(pilot: Pilot[Any], app: BurrowApp, action: str) -> None:
    await tap(pilot, "history_more")
    sheet = await wait_screen(pilot, MessageActionsSheet)
    await tap(pilot, sheet.query_one(f"#act-{action}"))


def files(folder: Path, suffix: str) -> list[Path]:
    return sorted(folder.glob(f"*{suffix}")) if folder.is_dir() else []


@pytest.mark.parametrize("size", PHONE_SIZES, ids=PHONE_SIZE_IDS)
async def test_every_history_action_on_the_second_row(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    seed(FOUR)
    app = scripted_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot, app, 10)
        store = app.services.store
        screen = await open_history(pilot, app)

        async def refreshed() -> None:
            before = screen.searches
            await wait_for(pilot, lambda: screen.searches > before, 10, "the list again")

        target = await second_row_action(pilot, app, "rename")
        await answer_prompt(pilot, app, " renamed")
        await wait_for(pilot, lambda: store.get_conversation(target).title.endswith(" renamed"))

        target = await second_row_action(pilot, app, "tag")
        await answer_prompt(pilot, app, "fruit")
        await wait_for(pilot, lambda: store.get_conversation(target).tag == "fruit", 5, "tag")

        target = await second_row_action(pilot, app, "pin")
        await wait_for(pilot, lambda: store.get_conversation(target).pinned, 5, "the pin")

        for suffix in (".md", ".json"):
            await second_row_action(pilot, app, f"export_{suffix[1:]}")
            await wait_for(pilot, lambda s=suffix: files(paths.exports_dir(), s), 10, "export")

        target = await second_row_action(pilot, app, "delete")
        await wait_screen(pilot, ConfirmSheet)
        await tap(pilot, app.screen.query_one("#confirm-yes"))
        await wait_for(pilot, lambda: store.count_conversations() == 3, 10, "the delete")
        assert target not in [c.id for c in store.list_conversations()]

        await wait_for(pilot, lambda: len(screen.rows) == 3, 10, "the list without it")
        target = await second_row_action(pilot, app, "open")
        await wait_for(pilot, lambda: app.screen is chat(app), 10, "the chat")
        assert chat(app).session.conversation_id == target

        # Open by a tap on the row's text (the second row again).
        screen = await open_history(pilot, app)
        target = screen.rows[1].conversation_id
        widgets(app, "row_actions")[1].parent.scroll_visible(animate=False, immediate=True)
        await tap_text(pilot, screen.rows[1].title)
        await wait_for(pilot, lambda: app.screen is chat(app), 10, "the chat")
        assert chat(app).session.conversation_id == target


@pytest.mark.parametrize("size", PHONE_SIZES, ids=PHONE_SIZE_IDS)
async def test_export_all_folder_wipe_and_import_from_the_list(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    seed(FOUR)
    app = scripted_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot, app, 10)
        store = app.services.store
        screen = await open_history(pilot, app)

        await more_action(pilot, app, "folder")
        await answer_prompt(pilot, app, "/phone")  # the field holds the folder now
        folder = paths.exports_dir() / "phone"
        await wait_for(pilot, lambda: screen.export_dir == folder, 5, "the new folder")

        await more_action(pilot, app, "export_all_md")
        await wait_for(pilot, lambda: files(folder, ".md"), 10, "the Markdown export")
        await more_action(pilot, app, "export_all_json")
        await wait_for(pilot, lambda: files(folder, ".json"), 10, "the JSON export")

        await more_action(pilot, app, "wipe")
        await answer_prompt(pilot, app, "wipe")
        await wait_for(pilot, lambda: store.count_conversations() == 0, 20, "the wipe")

        await more_action(pilot, app, "import")
        await wait_screen(pilot, ImportSheet)
        assert widget(app, "import_files").region.area
        await tap_text(pilot, files(folder, ".json")[0].name)
        await wait_for(pilot, lambda: store.count_conversations() == 4, 20, "the import")
        await wait_for(pilot, lambda: len(screen.rows) == 4, 10, "the list again")
