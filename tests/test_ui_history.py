"""The history browser: search as you type, open a hit, rename/pin/tag, delete, export,
import and wipe. The first test asks the real model; the others need no model (the browser
never talks to the engine), so they seed the real store directly and skip loading one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input
from ui_helpers import answer, chat, make_app, wait_for, wait_ready

from tui.settings import Settings
from tui.store.store import Store
from tui.ui.app import BurrowApp
from tui.ui.screens.dialogs import ConfirmSheet, MessageActionsSheet
from tui.ui.screens.history import HistoryScreen
from tui.ui.services import Services
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.history_results import HistoryResults
from tui.ui.widgets.sheets import TextPromptSheet

pytestmark = pytest.mark.slow


def seed(titles_and_questions: list[tuple[str, str]]) -> list[int]:
    ids = []
    with Store.open() as store:
        for title, question in titles_and_questions:
            conversation = store.create_conversation(title=title)
            user = store.add_message(conversation.id, "user", question)
            store.add_message(conversation.id, "assistant", f"About {question}", parent_id=user.id)
            ids.append(conversation.id)
    return ids


async def open_history(pilot: Pilot[Any], app: BurrowApp) -> HistoryScreen:
    await app.run_action("open_history")
    screen = app.screen
    assert isinstance(screen, HistoryScreen)
    await wait_for(pilot, lambda: screen.searches >= 1, 20, "the list")
    return screen


async def search(pilot: Pilot[Any], screen: HistoryScreen, query: str) -> None:
    before = screen.searches
    screen.query_one("#history-search", Input).value = query
    await wait_for(pilot, lambda: screen.searches > before, 20, f"results for {query!r}")


async def test_search_history_and_open_a_hit(smollm2_path: Path) -> None:
    seed([("Pets", "Which animals purr?")])
    # A new chat at start (not "Pets" reopened), so the question makes a second conversation.
    app = make_app(smollm2_path, max_tokens=8, reopen_last=False)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app)
        composer = chat(app).query_one(Composer)
        composer.insert("Tell me about capybaras")
        async with answer(pilot, app):
            await pilot.press("enter")
        asked = chat(app).session.conversation_id
        await pilot.press("ctrl+n")  # a new chat, so opening the hit changes something
        assert chat(app).session.conversation_id is None

        screen = await open_history(pilot, app)
        assert len(screen.rows) == 2
        await search(pilot, screen, "capyb*")
        assert {r.conversation_id for r in screen.rows} == {asked}
        index, hit = next((i, r) for i, r in enumerate(screen.rows) if r.message_id is not None)
        label = str(screen.query_one(HistoryResults).labels[index])
        assert "capybaras" in label
        screen.query_one(HistoryResults).highlighted = index
        await pilot.click("#history-open")
        await wait_for(pilot, lambda: app.screen is chat(app), 10, "the chat screen")
        assert chat(app).session.conversation_id == asked
        ids = [m.id for m in chat(app).session.path()]
        assert hit.message_id in ids, "opened on the branch with the matching message"


async def choose(pilot: Pilot[Any], app: BurrowApp, action: str) -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, MessageActionsSheet), 10, "actions")
    await pilot.click(f"#act-{action}")
    await pilot.pause(0.1)


async def answer_prompt(pilot: Pilot[Any], app: BurrowApp, text: str) -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, TextPromptSheet), 10, "the question")
    app.screen.query_one("#prompt-input", Input).value = text
    # A button ignores a second tap within its 0.2 s press effect: let the last one end.
    await pilot.pause(0.3)
    await pilot.click("#prompt-ok")
    await pilot.pause(0.1)


async def test_rename_pin_tag_delete_export_import_wipe(tmp_path: Path) -> None:
    first, second = seed([("Otters", "Do otters hold hands?"), ("Bread", "How to bake bread?")])
    app = BurrowApp(Services(settings=Settings()), load_model=False)
    async with app.run_test(size=(60, 30)) as pilot:
        screen = await open_history(pilot, app)
        option_list = screen.query_one(HistoryResults)

        def select(conversation_id: int) -> None:
            index = [r.conversation_id for r in screen.rows].index(conversation_id)
            option_list.highlighted = index

        select(first)
        await pilot.click("#history-manage")
        await choose(pilot, app, "rename")
        await answer_prompt(pilot, app, "Sea otters")
        select(first)
        await pilot.click("#history-manage")
        await choose(pilot, app, "pin")
        select(first)
        await pilot.click("#history-manage")
        await choose(pilot, app, "tag")
        await answer_prompt(pilot, app, "animals")
        await wait_for(pilot, lambda: app.screen is screen, 5, "the browser")
        with Store.open() as store:
            conversation = store.get_conversation(first)
        assert conversation.title == "Sea otters" and conversation.pinned
        assert conversation.tag == "animals"
        await search(pilot, screen, "tag:animals")
        assert [r.conversation_id for r in screen.rows] == [first]
        await search(pilot, screen, "")

        # Export everything as JSON into a folder the user chose.
        out = tmp_path / "shared" / "Documents"
        await pilot.click("#history-more")
        await choose(pilot, app, "folder")
        await answer_prompt(pilot, app, str(out))
        await pilot.click("#history-more")
        await choose(pilot, app, "export_all_json")
        await wait_for(pilot, lambda: list(out.glob("*.json")) and screen.busy == 0, 20, "export")
        exported = next(out.glob("*.json"))
        assert len(json.loads(exported.read_text())["conversations"]) == 2
        select(second)
        await pilot.click("#history-manage")
        await choose(pilot, app, "export_md")
        await wait_for(pilot, lambda: list(out.glob("*.md")) and screen.busy == 0, 20, "export")

        # Delete one (with confirmation).
        select(second)
        await pilot.click("#history-manage")
        await choose(pilot, app, "delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmSheet), 10, "confirmation")
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: len(screen.rows) == 1, 20, "the list without it")

        # Wipe needs the word typed exactly.
        await pilot.click("#history-more")
        await choose(pilot, app, "wipe")
        await answer_prompt(pilot, app, "yes")
        assert isinstance(app.screen, TextPromptSheet), "a wrong word does not wipe"
        await answer_prompt(pilot, app, "wipe")
        await wait_for(pilot, lambda: screen.busy == 0 and not screen.rows, 30, "the wipe")
        with Store.open() as store:
            assert store.count_conversations() == 0

        # Import the export: both conversations come back.
        await pilot.click("#history-more")
        await choose(pilot, app, "import")
        await answer_prompt(pilot, app, str(exported))
        await wait_for(pilot, lambda: len(screen.rows) == 2, 30, "the import")
        await search(pilot, screen, "otters")
        assert screen.rows and screen.rows[0].conversation_id is not None
