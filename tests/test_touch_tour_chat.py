"""The touch tour, chat screen: every chat action done by tap alone (``pilot.click``), at
40x24 (a phone held upright) and 40x14 (the same with the soft keyboard up). The only keys
pressed are the letters of text typed into a field. Sheets are in
``test_touch_tour_sheets.py``, History in ``test_touch_tour_history.py``; what these do not
repeat (tap a row of the list, Cancel an edit, the context bar, Reset, Rescan) is in
``test_touch_defects*.py``.

The app runs on ``ScriptedEngine`` (tests/doubles.py), a TEST DOUBLE of the engine: fixed
answers, one token per word.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from touch_helpers import (
    PHONE_SIZE_IDS,
    PHONE_SIZES,
    GatedEngine,
    model_file,
    scripted_app,
    seed,
    tap,
    tap_command,
    tap_message,
    tap_text,
    type_text,
    wait_screen,
    widget,
    widgets,
)
from ui_helpers import answer, chat, make_app, views, wait_for, wait_ready

from tui import paths
from tui.store.store import Store
from tui.ui.app import BurrowApp
from tui.ui.screens.dialogs import ConfirmSheet, MessageActionsSheet
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.sheets import TextPromptSheet


def exported(suffix: str) -> bool:
    folder = paths.exports_dir()
    return folder.is_dir() and any(p.suffix == suffix for p in folder.iterdir())


def composer(app: BurrowApp) -> Composer:
    return chat(app).query_one(Composer)


async def ask_by_tap(pilot: Pilot[Any], app: BurrowApp, question: str) -> None:
    """Tap the composer, type, tap Send; wait for the answer to end."""
    await tap(pilot, "composer")
    await type_text(pilot, question)
    async with answer(pilot, app, 10):
        await tap(pilot, "send")


async def message_action(pilot: Pilot[Any], app: BurrowApp, index: int, action: str) -> None:
    """Tap message ``index`` (negative from the end), then ``action`` in its sheet."""
    await tap_message(pilot, views(app)[index])
    await wait_screen(pilot, MessageActionsSheet)
    await tap(pilot, app.screen.query_one(f"#act-{action}"))
    await wait_for(pilot, lambda: app.screen is chat(app) or isinstance(app.screen, ConfirmSheet))


@pytest.mark.parametrize("size", PHONE_SIZES, ids=PHONE_SIZE_IDS)
async def test_ask_stop_regenerate_flip_continue_copy_delete(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    engine = GatedEngine(hold_after=3)
    engine._answers = [
        "One two three four five.",
        "Alpha beta gamma delta epsilon zeta.",
        "and then more.",
    ]
    app = make_app(model_file(tmp_path), engine=engine, default_template="chatml", max_tokens=4)
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot, app, 10)
        screen = chat(app)
        # ask, then Stop (the Send button while the answer streams)
        await tap(pilot, "composer")
        await type_text(pilot, "Why?")
        await tap(pilot, "send")
        await wait_for(pilot, lambda: engine.pieces >= 3 and screen.streaming, 10, "half")
        assert str(widget(app, "send").label) == "Stop"  # type: ignore[attr-defined]
        async with answer(pilot, app, 10):
            await tap(pilot, "send")
            engine.open()  # the double's held answer goes on, sees the cancel and stops
        assert views(app)[-1].text.split() == ["One", "two", "three"]
        assert views(app)[-1].data.status == "cancelled"

        # regenerate: a second branch, cut at max_tokens (4 words)
        async with answer(pilot, app, 10):
            await message_action(pilot, app, -1, "regenerate")
        last = views(app)[-1]
        assert last.text.split() == ["Alpha", "beta", "gamma", "delta"]
        assert (last.data.branch_index, last.data.branch_count) == (2, 2)

        # flip back and forth
        await message_action(pilot, app, -1, "branch_prev")
        await wait_for(pilot, lambda: views(app)[-1].data.branch_index == 1, 5, "branch 1")
        assert views(app)[-1].text.split() == ["One", "two", "three"]
        await message_action(pilot, app, -1, "branch_next")
        await wait_for(pilot, lambda: views(app)[-1].data.branch_index == 2, 5, "branch 2")

        # continue the cut answer
        async with answer(pilot, app, 10):
            await message_action(pilot, app, -1, "continue")
        assert views(app)[-1].text.split()[-3:] == ["and", "then", "more."]

        # copy
        await message_action(pilot, app, -1, "copy")
        assert app.clipboard == views(app)[-1].text

        # delete (the answer), confirmed by tap: the other branch is what is left
        await message_action(pilot, app, -1, "delete")
        await wait_screen(pilot, ConfirmSheet)
        await tap(pilot, app.screen.query_one("#confirm-yes"))
        await wait_for(pilot, lambda: views(app)[-1].data.branch_count == 1, 10, "the delete")
        assert views(app)[-1].text.split() == ["One", "two", "three"]


@pytest.mark.parametrize("size", PHONE_SIZES, ids=PHONE_SIZE_IDS)
async def test_edit_cancel_then_edit_and_resend(tmp_path: Path, size: tuple[int, int]) -> None:
    app = scripted_app(tmp_path, answers=("First answer.", "Second answer."))
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot, app, 10)
        await ask_by_tap(pilot, app, "Original")
        await message_action(pilot, app, 0, "edit")
        assert composer(app).text == "Original"
        await tap(pilot, "cancel_edit")
        assert composer(app).text == "" and composer(app).editing_id is None

        await message_action(pilot, app, 0, "edit")
        await tap(pilot, "composer")
        await type_text(pilot, " question")
        assert str(widget(app, "send").label) == "Resend"  # type: ignore[attr-defined]
        async with answer(pilot, app, 10):
            await tap(pilot, "send")
        question, reply = views(app)
        assert question.text == "Original question" and reply.text == "Second answer."
        assert (question.data.branch_index, question.data.branch_count) == (2, 2)


@pytest.mark.parametrize("size", PHONE_SIZES, ids=PHONE_SIZE_IDS)
async def test_new_chat_incognito_and_open_from_the_list(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    ids = seed([("Alpha apples", "a?"), ("Bravo bananas", "b?"), ("Charlie cherries", "c?")])
    app = scripted_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot, app, 10)
        screen = chat(app)
        assert screen.session.conversation_id == ids[2]  # reopened where the user left off
        await tap(pilot, "new_chat")
        assert screen.session.conversation_id is None and not views(app)

        # At 40 columns the top bar has no room for Incognito: it is in the palette.
        await tap_command(pilot, "Incognito")
        await wait_for(pilot, lambda: bool(screen.session.incognito), 5, "incognito")
        await ask_by_tap(pilot, app, "Secret")
        await tap_command(pilot, "Incognito")  # leaves it
        await wait_for(pilot, lambda: not screen.session.incognito, 5, "incognito left")
        with Store.open() as store:
            assert store.count_conversations() == 3  # the incognito chat was never saved

        await tap(pilot, "toggle_list")
        await tap_text(pilot, "Bravo bananas")
        await wait_for(pilot, lambda: screen.session.conversation_id == ids[1], 5, "Bravo")
        assert [v.text for v in views(app)] == ["b?", "About b?"]


@pytest.mark.parametrize("size", PHONE_SIZES, ids=PHONE_SIZE_IDS)
async def test_conversation_list_row_actions(tmp_path: Path, size: tuple[int, int]) -> None:
    """Each action of a row's "⋯" in the chat screen's list, on a row that is not the first."""
    ids = seed([("Alpha apples", "a?"), ("Bravo bananas", "b?"), ("Charlie cherries", "c?")])
    app = scripted_app(tmp_path)

    async def row_action(pilot: Pilot[Any], title: str, action: str) -> None:
        if not chat(app).show_list:
            await tap(pilot, "toggle_list")
        rows = chat(app).query_one("#sidebar").rows  # type: ignore[attr-defined]
        index = next(i for i, row in enumerate(rows) if row.title == title)
        button = widgets(app, "row_actions")[index]
        button.scroll_visible(animate=False, immediate=True)
        await tap(pilot, button)
        sheet = await wait_screen(pilot, MessageActionsSheet)
        await tap(pilot, sheet.query_one(f"#act-{action}"))

    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot, app, 10)
        store = app.services.store

        await row_action(pilot, "Bravo bananas", "pin")
        await wait_for(pilot, lambda: store.get_conversation(ids[1]).pinned, 5, "the pin")

        await row_action(pilot, "Alpha apples", "rename")
        await wait_screen(pilot, TextPromptSheet)
        await type_text(pilot, " and pears")
        await tap(pilot, "prompt_ok")
        await wait_for(pilot, lambda: app.screen is chat(app), 5, "the chat")
        assert store.get_conversation(ids[0]).title == "Alpha apples and pears"

        await row_action(pilot, "Alpha apples and pears", "tag")
        await wait_screen(pilot, TextPromptSheet)
        await type_text(pilot, "fruit")
        await tap(pilot, "prompt_ok")
        await wait_for(pilot, lambda: store.get_conversation(ids[0]).tag == "fruit", 5, "tag")

        for fmt in ("md", "json"):
            await row_action(pilot, "Alpha apples and pears", f"export_{fmt}")
            await wait_for(pilot, lambda f=fmt: exported(f".{f}"), 10, f"the .{fmt} export")

        await row_action(pilot, "Alpha apples and pears", "delete")
        await wait_screen(pilot, ConfirmSheet)
        await tap(pilot, app.screen.query_one("#confirm-yes"))
        await wait_for(pilot, lambda: store.count_conversations() == 2, 10, "the delete")

        await row_action(pilot, "Bravo bananas", "open")
        await wait_for(pilot, lambda: chat(app).session.conversation_id == ids[1], 5, "open")
        assert not chat(app).show_list
