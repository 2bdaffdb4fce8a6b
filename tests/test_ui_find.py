"""Find in the open conversation: the find bar, by tap (``pilot.click``) at 40x24 and 40x14
and by keys, its count, marks and scrolling, and the pure matching under it
(``tui/ui/find.py``).

The app runs on ``ScriptedEngine`` (tests/doubles.py), a TEST DOUBLE of the engine: fixed
answers, one token per word. The store, session and settings are real.
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
    find_text,
    finish_answer,
    model_file,
    screen_lines,
    scripted_app,
    start_answer,
    tap,
    tap_command,
    tap_text,
    type_text,
    widget,
)
from ui_helpers import chat, make_app, views, wait_for, wait_ready

from tui.store.store import Store
from tui.ui.app import BurrowApp
from tui.ui.find import FindMatch, find_matches, match_count_text, step
from tui.ui.widgets.find_bar import FindBar
from tui.ui.widgets.message_view import MessageView

#: A conversation with "apple" in three answers and a question, six times in all, and
#: enough text between them that they do not fit one screen.
EXCHANGES = [
    ("What fruit keeps?", "An **Apple** keeps for months in a cool cellar.\n\n" + "Filler. " * 40),
    ("And pears?", "Pears ripen fast. " * 20),
    (
        "Which apple for pie?",
        "A tart apple: Bramley. Apple pie wants apple slices.\n\n" + "x " * 80,
    ),
    ("Bread?", "Flour, water, salt, time. " * 12),
    ("Cider?", "Cider is pressed APPLE juice, fermented."),
]
APPLES = 6


def seed_conversation() -> None:
    """The conversation the app reopens at start (the setting ``reopen_last``)."""
    with Store.open() as store:
        conversation = store.create_conversation(title="Fruit")
        for question, reply in EXCHANGES:
            user = store.add_message(conversation.id, "user", question)
            store.add_message(conversation.id, "assistant", reply, parent_id=user.id)


def bar(app: BurrowApp) -> FindBar:
    return chat(app).query_one(FindBar)


def found(app: BurrowApp) -> list[MessageView]:
    return [v for v in views(app) if v.has_class("-found")]


def shown_in_log(app: BurrowApp, view: MessageView) -> bool:
    """Some of ``view`` is inside the conversation's visible region."""
    return bool(view.region.intersection(chat(app).log_view.region).area)


async def open_by_tap(pilot: Pilot[Any], app: BurrowApp) -> None:
    await tap(pilot, chat(app).query_one("#find-button"))
    await wait_for(pilot, lambda: bar(app).is_open, 5, "the find bar")


async def reopened(pilot: Pilot[Any], app: BurrowApp) -> None:
    """Wait for the seeded conversation, shown from its end (where the first match is
    looked for from)."""
    log = chat(app).log_view
    await wait_for(pilot, lambda: len(views(app)) == 10, 10, "the conversation")
    await wait_for(pilot, lambda: 0 < log.max_scroll_y <= log.scroll_y, 10, "its end")
    await pilot.pause()


async def settled(pilot: Pilot[Any]) -> None:
    await pilot.pause(0.05)
    await pilot.pause()


@pytest.mark.parametrize("size", PHONE_SIZES, ids=PHONE_SIZE_IDS)
async def test_find_by_tap_counts_moves_marks_and_closes(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    seed_conversation()
    app = scripted_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot, app, 10)
        await reopened(pilot, app)
        await open_by_tap(pilot, app)
        field = bar(app).query_one("#find-input")
        assert app.focused is field
        assert field.region.area and widget(app, "log").region.height >= 5
        await type_text(pilot, "apple")
        await settled(pilot)
        # Read from the end of the conversation (where it opened): the first match below
        # the top of what is shown is in the last answer.
        assert bar(app).count_text == f"{APPLES} of {APPLES}"
        assert found(app) == [views(app)[-1]]
        assert shown_in_log(app, views(app)[-1])
        assert f"{APPLES} of {APPLES}" in "\n".join(screen_lines(app))

        await tap_text(pilot, "›")  # wraps to the first: the first answer
        await settled(pilot)
        assert bar(app).count_text == f"1 of {APPLES}"
        assert found(app) == [views(app)[1]]
        assert shown_in_log(app, views(app)[1])
        await tap_text(pilot, "›")  # the question "Which apple for pie?"
        await settled(pilot)
        assert bar(app).count_text == f"2 of {APPLES}"
        assert found(app) == [views(app)[4]]
        back = find_text(app, "‹")
        await pilot.click(offset=back)  # two quick taps (a Button ignores the second
        await pilot.click(offset=back)  # within its 0.2 s press effect): two steps
        await settled(pilot)
        assert bar(app).count_text == f"{APPLES} of {APPLES}"
        assert app.focused is field  # the taps left the typing in the field

        await tap_text(pilot, "✕")
        await settled(pilot)
        assert not bar(app).is_open and not bar(app).region.area
        assert found(app) == []
        assert app.focused is chat(app).composer
        assert chat(app).composer.region.area  # back below the conversation


async def test_find_from_the_open_conversation_list(tmp_path: Path) -> None:
    """At phone width the open list replaces the chat: Find shows the chat again."""
    seed_conversation()
    app = scripted_app(tmp_path)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app, 10)
        await reopened(pilot, app)
        await tap(pilot, "toggle_list")
        await wait_for(pilot, lambda: not widget(app, "log").region.area, 5, "the list")
        await open_by_tap(pilot, app)
        await settled(pilot)
        field = bar(app).query_one("#find-input")
        assert app.focused is field and field.region.area
        assert widget(app, "log").region.area


async def test_find_by_keys_and_the_palette(tmp_path: Path) -> None:
    seed_conversation()
    app = scripted_app(tmp_path)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app, 10)
        await reopened(pilot, app)
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: bar(app).is_open, 5, "the find bar")
        await type_text(pilot, "apple pie")
        await settled(pilot)
        assert bar(app).count_text == "1 of 1"
        await pilot.press("backspace", "backspace", "backspace", "backspace")  # "apple"
        await settled(pilot)
        # Found anew from where the conversation is shown now (at "apple pie"): the first
        # match not above it is the question "Which apple for pie?".
        assert bar(app).count_text == f"2 of {APPLES}"
        await pilot.press("enter")
        assert bar(app).count_text == f"3 of {APPLES}"
        await pilot.press("down", "down", "down", "down")  # past the last: the first
        assert bar(app).count_text == f"1 of {APPLES}"
        assert found(app) == [views(app)[1]]
        await pilot.press("up")
        assert bar(app).count_text == f"{APPLES} of {APPLES}"
        await type_text(pilot, "zzz")
        assert bar(app).count_text == "no match"
        assert found(app) == []
        await pilot.press("escape")
        await settled(pilot)
        assert not bar(app).is_open
        assert app.focused is chat(app).composer

        # By the command palette, as a phone user does; what was typed is kept.
        await tap_command(pilot, "Find in chat")
        await wait_for(pilot, lambda: bar(app).is_open, 5, "the find bar")
        await settled(pilot)
        assert bar(app).count_text == "no match"
        assert app.focused is bar(app).query_one("#find-input")


def test_matching_ignores_case_and_spacing() -> None:
    texts = ["Apple apple", "no", "an\nAPPLE  pie", ""]
    assert find_matches(texts, "apple") == [
        FindMatch(0, 0, 5),
        FindMatch(0, 6, 11),
        FindMatch(2, 3, 8),
    ]
    assert find_matches(texts, " apple pie ") == [FindMatch(2, 3, 13)]
    assert find_matches(texts, "   ") == []
    assert find_matches(["a.c abc"], "a.c") == [FindMatch(0, 0, 3)]  # not a pattern
    assert find_matches(["aaa"], "aa") == [FindMatch(0, 0, 2)]
    assert match_count_text(None, 0, "") == ""
    assert match_count_text(None, 0, "x") == "no match"
    assert match_count_text(1, 7, "x") == "2 of 7"
    assert step(None, 3, 1) == 0 and step(None, 3, -1) == 2
    assert step(2, 3, 1) == 0 and step(0, 3, -1) == 2
    assert step(None, 0, 1) is None


async def test_find_while_an_answer_streams_and_through_a_resize(tmp_path: Path) -> None:
    seed_conversation()
    engine = GatedEngine(hold_after=3)
    engine._answers = ["apple one apple two apple three apple four."]
    app = make_app(model_file(tmp_path), engine=engine, default_template="chatml")
    async with app.run_test(size=(40, 14)) as pilot:
        await wait_ready(pilot, app, 10)
        await reopened(pilot, app)
        await start_answer(pilot, app, engine)  # held after "apple one apple"
        await open_by_tap(pilot, app)
        await type_text(pilot, "apple")
        await settled(pilot)
        assert bar(app).count_text == f"{APPLES + 1} of {APPLES + 2}"
        assert found(app) == [views(app)[-1]]
        await tap_text(pilot, "›")
        assert bar(app).count_text == f"{APPLES + 2} of {APPLES + 2}"
        await pilot.resize_terminal(1, 1)
        await pilot.pause(0.1)
        await pilot.resize_terminal(40, 14)
        await pilot.pause(0.1)
        await finish_answer(pilot, app, engine)
        # The answer has grown: the next step finds it all, from the match it was on.
        await tap_text(pilot, "›")
        assert bar(app).count_text == f"{APPLES + 3} of {APPLES + 4}"
        assert found(app) == [views(app)[-1]]
        await tap_text(pilot, "✕")
        await settled(pilot)
        assert not bar(app).is_open and app.focused is chat(app).composer
