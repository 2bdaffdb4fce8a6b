"""Copy one code block of an answer: its "⧉ copy" line, by tap (``pilot.click``) at 40x24
and 40x14 and by keys, in a finished answer and in one being written, and with escape
sequences in the stored code.

The app runs on ``ScriptedEngine`` (tests/doubles.py), a TEST DOUBLE of the engine: fixed
answers, one token per word. The store, session and settings are real; the clipboard is
what the app sent with OSC 52 (``app.clipboard``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.content import Content
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Label
from touch_helpers import (
    PHONE_SIZE_IDS,
    PHONE_SIZES,
    GatedEngine,
    finish_answer,
    model_file,
    screen_lines,
    scripted_app,
    start_answer,
)
from ui_helpers import chat, make_app, views, wait_for, wait_ready

from tui.store.store import Store
from tui.ui.app import BurrowApp
from tui.ui.widgets.code_block import COPY_LABEL, CodeBlock, CopyCode, lines_text
from tui.ui.widgets.message_view import MessageView

FIRST = 'print("one")\nprint("two")'
#: Stored text is not trusted: an OSC title sequence and a raw ESC [ 2 J in the code.
HOSTILE = 'echo hi\necho "\x1b]0;owned\x07"\n\x1b[2Jls'
HOSTILE_SHOWN = 'echo hi\necho "^[]0;owned^G"\n^[[2Jls'
ANSWER = f"Run this:\n\n```python\n{FIRST}\n```\n\nThen this:\n\n```sh\n{HOSTILE}\n```\n\nDone."


def seed_answer(question: str = "How?", answer: str = ANSWER) -> None:
    """A conversation the app reopens at start, its answer holding two code blocks."""
    with Store.open() as store:
        conversation = store.create_conversation(title="Code")
        user = store.add_message(conversation.id, "user", question)
        store.add_message(conversation.id, "assistant", answer, parent_id=user.id)


def copy_targets(view: MessageView) -> list[CopyCode]:
    return list(view.query(CopyCode))


def toasts(app: BurrowApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def tap_on_screen(pilot: Pilot[Any], app: BurrowApp, target: Widget) -> None:
    """Scroll ``target`` into the conversation's view as a finger would, then tap it."""
    target.scroll_visible(animate=False, immediate=True)
    await pilot.pause()
    shown = target.region.intersection(chat(app).log_view.region)
    assert shown.area, f"{target} is not on the screen"
    await pilot.click(offset=shown.center)
    await pilot.pause()


@pytest.mark.parametrize("size", PHONE_SIZES, ids=PHONE_SIZE_IDS)
async def test_tap_copies_one_block_without_fences_and_neutralised(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    seed_answer()
    app = scripted_app(tmp_path)
    async with app.run_test(size=size, notifications=True) as pilot:
        await wait_ready(pilot, app, 10)
        await wait_for(pilot, lambda: len(views(app)) == 2, 10, "the conversation")
        answer = views(app)[-1]
        await wait_for(pilot, lambda: len(copy_targets(answer)) == 2, 10, "the code blocks")
        assert copy_targets(views(app)[0]) == []  # a question has no copy line

        first, second = copy_targets(answer)
        await tap_on_screen(pilot, app, second)
        assert app.clipboard == HOSTILE_SHOWN
        assert "\x1b" not in app.clipboard
        assert "Copied 3 lines." in toasts(app)
        assert app.screen is chat(app)  # the tap copied; it did not open the action sheet
        # The toast covers the top rows of the conversation for 2 s (a tap on it closes it).
        app.clear_notifications()
        await pilot.pause()

        await tap_on_screen(pilot, app, first)
        assert COPY_LABEL in "\n".join(screen_lines(app))
        assert app.clipboard == FIRST
        assert "Copied 2 lines." in toasts(app)
        shown = "\n".join(screen_lines(app))
        assert "\x1b" not in shown


async def test_copy_by_keys(tmp_path: Path) -> None:
    """Tab (or Down from the message) reaches a block's copy line; Enter copies."""
    seed_answer()
    app = scripted_app(tmp_path)
    async with app.run_test(size=(40, 24), notifications=True) as pilot:
        await wait_ready(pilot, app, 10)
        await wait_for(pilot, lambda: len(views(app)) == 2, 10, "the conversation")
        answer = views(app)[-1]
        await wait_for(pilot, lambda: len(copy_targets(answer)) == 2, 10, "the code blocks")
        answer.focus()
        await pilot.press("down")
        assert app.focused is copy_targets(answer)[0]
        await pilot.press("enter")
        assert app.clipboard == FIRST
        await pilot.press("down", "enter")
        assert app.clipboard == HOSTILE_SHOWN

        # The find bar finds and marks text in a code block too.
        await pilot.press("ctrl+b", *"print")
        await pilot.pause()
        assert chat(app).find_bar.count_text == "1 of 2"
        code = answer.query(CodeBlock).first().query_one("#code-content", Label)
        assert isinstance(code.content, Content)
        spans = code.content.spans
        assert [(s.start, s.end, str(s.style)) for s in spans if "reverse" in str(s.style)] == [
            (0, 5, "reverse bold")
        ]


async def test_copy_while_an_answer_is_written_and_after(tmp_path: Path) -> None:
    """A closed block moves into the formatted answer when the page turns; its copy line
    works while the answer goes on, and again once the answer is formatted whole."""
    engine = GatedEngine(hold_after=50)
    engine._answers = ["Code:\n\n```\na = 1\nb = 2\n```\n\n" + "word " * 80 + "end."]
    app = make_app(model_file(tmp_path), engine=engine, default_template="chatml", max_tokens=512)
    async with app.run_test(size=(40, 14), notifications=True) as pilot:
        await wait_ready(pilot, app, 10)
        await start_answer(pilot, app, engine)
        answer = views(app)[-1]
        await wait_for(pilot, lambda: bool(copy_targets(answer)), 10, "the block, formatted")
        assert chat(app).streaming
        await tap_on_screen(pilot, app, copy_targets(answer)[0])
        assert app.clipboard == "a = 1\nb = 2"
        assert lines_text(app.clipboard) in toasts(app)
        assert chat(app).streaming  # the tap did not stop or disturb the answer

        await finish_answer(pilot, app, engine)
        assert answer.text.endswith("end.")
        assert len(answer.query(CodeBlock)) == 1
        app.copy_to_clipboard("")
        await tap_on_screen(pilot, app, copy_targets(answer)[0])
        assert app.clipboard == "a = 1\nb = 2"


def test_lines_text() -> None:
    assert lines_text("x") == "Copied 1 line."
    assert lines_text("") == "Copied 1 line."
    assert lines_text("a\nb\n\nc") == "Copied 4 lines."
