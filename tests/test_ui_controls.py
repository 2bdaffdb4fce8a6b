"""Controls of the chat screen that do not depend on what the model says: the composer's
keys, the responsive layout, the command palette, the sheet slots and the model-load states.

These use ``ScriptedEngine`` (tests/doubles.py), a TEST DOUBLE of the engine client, because
they check the screen's wiring, not answers; the answer lifecycle on the real engine is in
``test_ui_chat.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from doubles import ScriptedEngine
from textual import events
from textual.widget import Widget
from textual.widgets import Button
from ui_helpers import ask, chat, make_app, views, wait_for, wait_ready

from tui.ui.app import SHEETS, BurrowApp
from tui.ui.formatting import format_stats
from tui.ui.screens.dialogs import ConfirmSheet, MessageActionsSheet
from tui.ui.widgets.composer import Composer


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    path.write_bytes(b"")
    return path


def scripted(model_file: Path, **kwargs: Any) -> BurrowApp:
    return make_app(model_file, engine=ScriptedEngine(), default_template="chatml", **kwargs)


async def test_enter_sends_ctrl_j_adds_a_line_and_paste_keeps_newlines(model_file: Path) -> None:
    app = scripted(model_file)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app)
        composer = chat(app).query_one(Composer)
        await pilot.press("a", "ctrl+j", "b")
        assert composer.text == "a\nb"
        app.post_message(events.Paste("line 1\nline 2"))  # as the driver delivers it
        await pilot.pause()
        assert composer.text == "a\nbline 1\nline 2"
        await ask(pilot, app, "")  # Enter sends what is there
        assert views(app)[0].text == "a\nbline 1\nline 2"
        assert composer.text == ""


async def test_send_button_sends_and_an_empty_composer_sends_nothing(model_file: Path) -> None:
    app = scripted(model_file)
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app)
        await pilot.click("#send")
        await pilot.pause(0.2)
        assert views(app) == []
        chat(app).query_one(Composer).insert("Hello")
        screen = chat(app)
        before = screen.answers_ended
        await pilot.click("#send")
        await wait_for(pilot, lambda: screen.answers_ended > before, 10, "the answer")
        assert [v.data.role for v in views(app)] == ["user", "assistant"]


@pytest.mark.parametrize(
    ("width", "breakpoint", "list_shown"),
    [(40, "-compact", False), (60, "-narrow", False), (120, "-wide", True)],
)
async def test_layout_breakpoints(
    model_file: Path, width: int, breakpoint: str, list_shown: bool
) -> None:
    app = scripted(model_file)
    async with app.run_test(size=(width, 30)) as pilot:
        await wait_ready(pilot, app)
        screen = chat(app)
        assert screen.has_class(breakpoint)
        sidebar = screen.query_one("#sidebar")
        assert sidebar.display == list_shown
        await pilot.click("#toggle-list")
        await pilot.pause()
        assert sidebar.display != list_shown
        if not list_shown:  # narrow: the list replaces the chat while open
            assert not screen.query_one("#chat").display
        for button in screen.query(Button):
            # shown: it and every container above it (the context bar is hidden until needed)
            if all(node.display for node in button.ancestors_with_self if isinstance(node, Widget)):
                assert button.outer_size.height >= 3, f"{button} is too small to tap"


async def test_tap_a_message_opens_its_actions(model_file: Path) -> None:
    app = scripted(model_file)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app)
        await ask(pilot, app, "Hi")
        answer = views(app)[-1]
        await pilot.click(answer)
        await wait_for(pilot, lambda: isinstance(app.screen, MessageActionsSheet), 5, "sheet")
        names = {b.name for b in app.screen.query(Button)}
        assert {"copy", "regenerate", "continue", "delete"} <= names
        await pilot.click("#act-copy")
        await pilot.pause()
        assert app.clipboard == answer.text


async def test_delete_a_question_from_its_actions(model_file: Path) -> None:
    app = scripted(model_file)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app)
        await ask(pilot, app, "First question")
        await ask(pilot, app, "Second question")
        assert len(views(app)) == 4
        # Scrolled into view as a user would: the last answer's page may cover it.
        views(app)[2].scroll_visible(animate=False, immediate=True)
        await pilot.pause()
        await pilot.click(views(app)[2])  # the second question
        await wait_for(pilot, lambda: isinstance(app.screen, MessageActionsSheet), 5, "sheet")
        await pilot.click("#act-delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmSheet), 5, "the question")
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: len(views(app)) == 2, 10, "the question and its answer gone")
        assert views(app)[0].text == "First question"
        conversation_id = chat(app).session.conversation_id
        assert conversation_id is not None
        stored = app.services.store.active_path(conversation_id)
        assert stored[0].content == "First question" and len(stored) == 2


async def test_every_action_is_in_the_command_palette(model_file: Path) -> None:
    app = scripted(model_file)
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        expected = {
            "New chat",
            "Incognito",
            "Conversations",
            "Regenerate",
            "Continue",
            "Edit last question",
            "Copy last answer",
            "Previous branch",
            "Next branch",
            "Restart engine",
            *SHEETS.values(),
        }
        assert expected <= titles


async def test_a_missing_model_shows_why_and_offers_retry(tmp_path: Path) -> None:
    app = make_app(tmp_path / "missing.gguf", engine=ScriptedEngine())
    async with app.run_test(size=(60, 30)) as pilot:
        screen = chat(app)
        await wait_for(pilot, lambda: app.model_state.state == "failed", 10, "the failure")
        await pilot.pause()
        assert screen.query_one("#banner").display
        assert "missing.gguf" in str(screen.query_one("#banner-text").render())
        assert str(screen.query_one("#banner-button", Button).label) == "Retry"
        assert "model failed" in str(screen.query_one("#status").render())
        screen.query_one(Composer).insert("Hello")
        await pilot.press("enter")
        await pilot.pause()
        assert views(app) == [], "nothing is sent without a model"


def test_stats_line() -> None:
    stats = {
        "completion_tokens": 12,
        "generation_tps": 30.25,
        "ttft_seconds": 0.5,
        "stop_reason": "length",
    }
    assert format_stats(stats, "done") == (
        "12 tokens · 30.2 tok/s · first token 0.50s · stopped at max tokens (Continue)"
    )
    assert format_stats({}, "cancelled") == "stopped"
