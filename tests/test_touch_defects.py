"""Defects a phone user meets on the chat screen, each shown with the taps that meet it
(40x24 portrait unless said otherwise). The sheets' defects are in
``test_touch_defects_sheets.py``; rotation in ``test_touch_rotation.py``.

The app runs on ``ScriptedEngine`` (tests/doubles.py), a TEST DOUBLE of the engine: fixed
answers, one token per word, so context sizes are easy to reach. Widgets are found through
``touch_helpers.IDS``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from touch_helpers import (
    GatedEngine,
    finish_answer,
    model_file,
    screen_lines,
    scripted_app,
    seed,
    start_answer,
    tap,
    tap_text,
    wait_screen,
    widget,
    widgets,
)
from ui_helpers import answer, ask, chat, make_app, views, wait_for, wait_ready

from tui.store.store import Store
from tui.ui.app import BurrowApp
from tui.ui.screens.dialogs import MessageActionsSheet
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.message_view import MessageView

PHONE = (40, 24)


def composer(app: BurrowApp) -> Composer:
    return chat(app).query_one(Composer)


def editing_shown(app: BurrowApp) -> bool:
    return "Editing" in str(composer(app).border_title or "")


async def start_edit(pilot: Pilot[Any], app: BurrowApp) -> None:
    """Tap the first question, then "Edit & resend" in its action sheet."""
    await tap(pilot, views(app)[0])
    await wait_screen(pilot, MessageActionsSheet)
    await pilot.click("#act-edit")
    await wait_for(pilot, lambda: app.screen is chat(app), 5, "the chat")
    assert composer(app).text == "Original question" and editing_shown(app)


def all_messages(app: BurrowApp) -> list[Any]:
    store = app.services.store
    return [m for c in store.list_conversations() for m in store.messages(c.id)]


# 2: a tap on a conversation in the list opens that conversation -----------------------


@pytest.mark.parametrize("size", [(40, 24), (60, 30), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_tap_in_the_list_opens_the_conversation_under_the_finger(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    ids = seed([("Alpha apples", "a?"), ("Bravo bananas", "b?"), ("Charlie cherries", "c?")])
    app = scripted_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await wait_ready(pilot, app, 10)
        if not chat(app).query_one("#sidebar").display:
            await tap(pilot, "toggle_list")
        await tap_text(pilot, "Bravo bananas")
        await pilot.pause(0.2)
        assert chat(app).session.conversation_id == ids[1]


# 3: an edit can be cancelled, and never leaks into a new chat -----------------------


async def test_escape_cancels_an_edit(tmp_path: Path) -> None:
    app = scripted_app(tmp_path, answers=("First answer.", "Second answer."))
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await ask(pilot, app, "Original question", timeout=10)
        await start_edit(pilot, app)
        await pilot.press("escape")
        assert composer(app).text == "" and not editing_shown(app)


async def test_cancel_button_ends_an_edit_and_the_next_question_is_new(tmp_path: Path) -> None:
    app = scripted_app(tmp_path, answers=("First answer.", "Second answer."))
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await ask(pilot, app, "Original question", timeout=10)
        await start_edit(pilot, app)
        await tap(pilot, "cancel_edit")
        assert composer(app).text == "" and not editing_shown(app)
        composer(app).insert("Follow-up")
        async with answer(pilot, app, 10):
            await tap(pilot, "send")
        assert [v.text for v in views(app) if v.data.role == "user"] == [
            "Original question",
            "Follow-up",
        ]


async def test_new_chat_during_an_edit_leaves_the_old_conversation_alone(tmp_path: Path) -> None:
    app = scripted_app(tmp_path, answers=("First answer.", "Second answer."))
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await ask(pilot, app, "Original question", timeout=10)
        old_id = chat(app).session.conversation_id
        await start_edit(pilot, app)
        await tap(pilot, "new_chat")
        assert composer(app).text == "" and not editing_shown(app)
        composer(app).insert("Fresh question")
        async with answer(pilot, app, 10):
            await tap(pilot, "send")
        store = app.services.store
        assert old_id is not None and chat(app).session.conversation_id != old_id
        assert store.get_conversation(old_id).title == "Original question"
        assert [m.content for m in store.messages(old_id)] == ["Original question", "First answer."]


# 4: context policy "stop" refuses visibly, keeps the question, saves nothing ----------

LONG_QUESTION = " ".join(f"word{i}" for i in range(80))


def stop_app(tmp_path: Path) -> BurrowApp:
    return scripted_app(tmp_path, context_policy="stop", n_ctx=64, max_tokens=8)


async def refused(pilot: Pilot[Any], app: BurrowApp, question: str = LONG_QUESTION) -> None:
    """Send ``question`` with Send and wait until the app has dealt with it."""
    screen = chat(app)
    before = screen.answers_ended
    composer(app).insert(question)
    await tap(pilot, "send")
    bar = widgets(app, "context_bar")
    await wait_for(
        pilot,
        lambda: screen.answers_ended > before or any(b.display for b in bar),
        10,
        "the refusal",
    )
    await pilot.pause(0.2)


async def test_stop_policy_keeps_the_question_in_the_composer_and_saves_nothing(
    tmp_path: Path,
) -> None:
    app = stop_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await refused(pilot, app)
        assert composer(app).text == LONG_QUESTION
        assert LONG_QUESTION not in [m.content for m in all_messages(app)]


async def test_stop_policy_shows_a_bar_with_new_chat_raise_context_and_trim(
    tmp_path: Path,
) -> None:
    app = stop_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await refused(pilot, app)
        await pilot.pause(10.5)  # longer than any toast: the bar stays
        assert widget(app, "context_bar").display
        for key in ("context_new_chat", "context_raise", "context_trim"):
            assert widget(app, key).region.area, key
        await tap(pilot, "context_trim")
        assert chat(app).session.settings.context_policy == "trim"
        assert not widget(app, "context_bar").display


async def test_stop_policy_applied_to_a_trimmed_conversation_refuses(tmp_path: Path) -> None:
    app = scripted_app(tmp_path, answers=("Short answer.",) * 10, n_ctx=96, max_tokens=8)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        for turn in range(6):
            await ask(pilot, app, f"Question {turn} " + "padding " * 12, timeout=10)
        session = chat(app).session
        assert session.measure() is not None and session.measure().dropped_messages > 0
        answers = [m for m in all_messages(app) if m.role == "assistant"]
        session.apply_settings({"context_policy": "stop"})  # what the settings sheet's Apply does
        await refused(pilot, app, "One more question?")
        assert [m for m in all_messages(app) if m.role == "assistant"] == answers


# 5: trimming is shown where it starts, and the status notice is not cut ---------------


async def trimmed_conversation(pilot: Pilot[Any], app: BurrowApp) -> None:
    await wait_ready(pilot, app, 10)
    for turn in range(6):
        await ask(pilot, app, f"Question {turn} " + "padding " * 12, timeout=10)
    await wait_for(pilot, lambda: widget(app, "status").dropped > 0, 10, "a trim")  # type: ignore[attr-defined]
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", [(40, 24), (60, 30)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_trim_divider_and_an_uncut_notice(tmp_path: Path, size: tuple[int, int]) -> None:
    app = scripted_app(tmp_path, answers=("Short answer.",) * 10, n_ctx=96, max_tokens=8)
    async with app.run_test(size=size) as pilot:
        await trimmed_conversation(pilot, app)
        dropped = widget(app, "status").dropped  # type: ignore[attr-defined]
        dividers = widgets(app, "trim_divider")
        assert len(dividers) == 1
        text = str(dividers[0].render())
        assert f"{dropped} earlier message" in text and "not sent to the model" in text
        status_row = screen_lines(app)[widget(app, "status").region.y]
        assert not status_row.rstrip().endswith("…"), status_row


# 8: toasts never cover the composer or Send, and never swallow a tap ------------------


async def show_toast(pilot: Pilot[Any], app: BurrowApp) -> list[Any]:
    app.notify("A long notice that takes a few rows on a phone " * 2, timeout=30)
    await wait_for(
        pilot, lambda: any(t.region.area for t in app.screen.query("Toast")), 5, "the toast"
    )
    return list(app.screen.query("Toast"))


async def test_a_toast_covers_neither_composer_nor_send_nor_status(tmp_path: Path) -> None:
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE, notifications=True) as pilot:
        await wait_ready(pilot, app, 10)
        toasts = await show_toast(pilot, app)
        for toast in toasts:
            for key in ("composer", "send", "status"):
                assert not toast.region.overlaps(widget(app, key).region), f"toast covers {key}"


async def test_a_tap_on_send_while_a_toast_shows_sends(tmp_path: Path) -> None:
    app = scripted_app(tmp_path, answers=("An answer.",))
    async with app.run_test(size=PHONE, notifications=True) as pilot:
        await wait_ready(pilot, app, 10)
        await show_toast(pilot, app)
        composer(app).insert("Hello")
        async with answer(pilot, app, 10):
            await tap(pilot, "send")


# 10: a branch flip by keyboard keeps the focus, so the second press works too ---------


async def test_left_twice_flips_branches_twice(tmp_path: Path) -> None:
    app = scripted_app(tmp_path, answers=("Answer one.", "Answer two."))
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await ask(pilot, app, "A question", timeout=10)
        async with answer(pilot, app, 10):
            await app.run_action("screen.regenerate_last")
        last = views(app)[-1]
        last.focus()
        await pilot.pause()
        assert (last.data.branch_index, last.data.branch_count) == (2, 2)
        await pilot.press("left")
        await pilot.pause(0.3)
        assert views(app)[-1].data.branch_index == 1
        assert isinstance(app.focused, MessageView) and app.focused.data.role == "assistant"
        await pilot.press("left")
        await pilot.pause(0.3)
        assert views(app)[-1].data.branch_index == 2


# 11: the footer never shows a cut key label ------------------------------------------


@pytest.mark.parametrize("width", [40, 48])
async def test_footer_shows_whole_key_labels_only(tmp_path: Path, width: int) -> None:
    engine = GatedEngine()
    app = make_app(model_file(tmp_path), engine=engine, default_template="chatml")
    async with app.run_test(size=(width, 24)) as pilot:
        await wait_ready(pilot, app, 10)
        await start_answer(pilot, app, engine)
        await tap(pilot, "composer")  # where a phone user's focus is while reading
        labels = {b.binding.description for b in app.active_bindings.values()}
        footer = screen_lines(app)[-1].split("▏")[0]
        for item in (i.strip() for i in footer.split("  ") if i.strip()):
            _key, _, label = item.partition(" ")
            assert label in labels, f"{item!r} is cut: {footer!r}"
        await finish_answer(pilot, app, engine)


# 12: Enter in the conversation filter opens the first hit ---------------------------


async def test_enter_in_the_list_filter_opens_the_first_match(tmp_path: Path) -> None:
    ids = seed([("Alpha apples", "a?"), ("Bravo bananas", "b?")])
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await tap(pilot, "toggle_list")
        await tap(pilot, "list_filter")
        await pilot.press(*"alp", "enter")
        await pilot.pause(0.2)
        assert chat(app).session.conversation_id == ids[0]
        assert chat(app).query_one("#chat").display  # the list closed on the phone


# 14: titles, start-up, the space under an answer, one pin mark -----------------------


async def test_a_multi_line_question_keeps_its_lines_and_is_titled_by_the_first(
    tmp_path: Path,
) -> None:
    app = scripted_app(tmp_path, answers=("Fine.",))
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await tap(pilot, "composer")
        await pilot.press(*"line one", "ctrl+j", *"line two", "ctrl+j", *"line three")
        async with answer(pilot, app, 10):
            await tap(pilot, "send")
        assert str(widget(app, "title").render()) == "line one"
        conversation_id = chat(app).session.conversation_id
        assert conversation_id is not None
        assert app.services.store.get_conversation(conversation_id).title == "line one"
        # and the question reads as typed: three lines, not one paragraph
        shown = [line.strip(" ▌") for line in screen_lines(app)]
        for text in ("line one", "line two", "line three"):
            assert text in shown, "\n".join(shown)


async def test_start_reopens_the_last_conversation_scrolled_to_its_end(tmp_path: Path) -> None:
    ids = seed([("Older", "old?"), ("Latest talk", "latest?")])
    with Store.open() as store:
        for turn in range(8):
            store.add_message(ids[1], "user", f"More question {turn}")
            store.add_message(ids[1], "assistant", f"More answer {turn}\n\nwith a second para")
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await wait_for(pilot, lambda: len(views(app)) == 18, 10, "the last conversation")
        assert chat(app).session.conversation_id == ids[1]
        await pilot.pause(0.3)
        log = widget(app, "log")
        assert log.scroll_y == log.max_scroll_y  # type: ignore[attr-defined]


async def test_no_blank_page_stays_under_a_short_answer(tmp_path: Path) -> None:
    # A conversation taller than the screen (reopened at start): in a short one the rows
    # under the answer are the empty screen, not a gap the app left.
    ids = seed([("Long talk", "first?")])
    with Store.open() as store:
        for turn in range(6):
            store.add_message(ids[0], "user", f"More question {turn}")
            store.add_message(ids[0], "assistant", f"More answer {turn}")
    # Streamed (a delay per word) and shorter than the rows held for it: rows stay unused.
    app = scripted_app(tmp_path, answers=("Yes it is. " * 12,), delay=0.01)
    async with app.run_test(size=PHONE) as pilot:
        await wait_ready(pilot, app, 10)
        await wait_for(pilot, lambda: len(views(app)) == 14, 10, "the last conversation")
        await ask(pilot, app, "Short?", timeout=10)
        await tap(pilot, "composer")  # the user's next move
        await pilot.pause(0.2)
        log = widget(app, "log")
        last = views(app)[-1]
        below = log.virtual_size.height - (last.virtual_region.bottom)
        assert below <= 2, f"{below} blank rows under the answer"


async def test_pins_look_the_same_in_the_list_and_in_history(tmp_path: Path) -> None:
    ids = seed([("Pinned one", "p?")])
    with Store.open() as store:
        store.set_pinned(ids[0], True)
    app = scripted_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_ready(pilot, app, 10)
        marks = {"★", "📌"}

        def listed() -> bool:  # the list's rows are mounted a frame after the start
            return any("Pinned one" in line for line in screen_lines(app)[3:])

        await wait_for(pilot, listed, 5, "the list's rows")
        in_list = marks & set(find_row(app, "Pinned one"))
        await app.run_action("open_history")
        await wait_for(pilot, lambda: "Pinned one" in "\n".join(screen_lines(app)), 10, "history")
        in_history = marks & set(find_row(app, "Pinned one"))
        assert in_list and in_list == in_history


def find_row(app: BurrowApp, text: str) -> str:
    """The first row under the 3-row top bar that shows ``text`` (the chat reopens the last
    conversation at start, so its title is in the top bar too)."""
    return next(line for line in screen_lines(app)[3:] if text in line)
