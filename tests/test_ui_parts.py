"""Parts of the chat screen that need no app: the answer stream's gathering of text between
redraws, the actions on a message and the layout breakpoints shared by every screen."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tui.ui.answer_stream import AnswerStream
from tui.ui.layout import HORIZONTAL_BREAKPOINTS, NARROW_FROM, is_compact
from tui.ui.pacing import RedrawPacer
from tui.ui.screens.chat import ChatScreen
from tui.ui.screens.chat_actions import (
    HANDLERS,
    LAST_MESSAGE_COMMANDS,
    MessageAction,
    menu_for,
)
from tui.ui.widgets.message_view import MessageData
from tui.ui.widgets.sheets import SheetScreen


class FakeApp:
    @contextlib.contextmanager
    def batch_update(self) -> Iterator[None]:
        yield


class FakeOwner:
    """Stands for the screen: records the redraw timers instead of running them."""

    def __init__(self) -> None:
        self.app = FakeApp()
        self.timers: list[tuple[float, Callable[[], Any]]] = []

    def set_timer(self, delay: float, callback: Callable[[], Any]) -> Any:
        self.timers.append((delay, callback))
        return self

    def stop(self) -> None:  # the timer's stop()
        pass


class FakeView:
    def __init__(self) -> None:
        self.drawn: list[str] = []
        self.streaming = False

    def start_stream(self) -> None:
        self.streaming = True

    async def append(self, text: str) -> None:
        self.drawn.append(text)

    async def stop_stream(self) -> int:
        self.streaming = False
        return 3


async def test_text_between_redraws_is_drawn_in_one_go() -> None:
    wall = [100.0]
    owner = FakeOwner()
    rates: list[float] = []
    stream = AnswerStream(owner, rates.append)  # type: ignore[arg-type]
    stream.pacer = RedrawPacer(clock=lambda: wall[0], cpu_clock=lambda: 0.0)
    view = FakeView()
    stream.start(view, n_threads=None)  # type: ignore[arg-type]
    assert view.streaming
    await stream.add("Hello", 1)
    assert view.drawn == ["Hello"], "the first text is drawn at once"
    await stream.add(" there", 1)
    await stream.add(", you", 1)
    assert view.drawn == ["Hello"], "the next redraw is not due yet"
    assert len(owner.timers) == 1, "one redraw is due, however much text comes"
    delay, flush = owner.timers[0]
    assert delay == pytest.approx(stream.interval)
    await flush()
    assert view.drawn == ["Hello", " there, you"]
    await stream.add("!", 1)
    ended, unused = await stream.end()
    assert ended is view and unused == 3 and not view.streaming
    assert "".join(view.drawn) == "Hello there, you!", "the end draws what was left"
    assert stream.view is None


async def test_a_removed_view_gets_no_more_text() -> None:
    stream = AnswerStream(FakeOwner(), lambda rate: None)  # type: ignore[arg-type]
    view = FakeView()
    stream.start(view, n_threads=None)  # type: ignore[arg-type]
    stream.forget(view)  # type: ignore[arg-type]
    await stream.add("lost", 1)
    assert view.drawn == []
    assert await stream.end() == (None, 0)


def test_each_message_action_has_a_handler_for_the_right_role() -> None:
    assert set(HANDLERS) | {MessageAction.COPY} == set(MessageAction)
    assert HANDLERS[MessageAction.REGENERATE][0] == "assistant"
    assert HANDLERS[MessageAction.EDIT][0] == "user"
    assert HANDLERS[MessageAction.DELETE][0] is None
    assert HANDLERS.get("regenerate") == HANDLERS[MessageAction.REGENERATE], "plain strings work"
    palette = {action for _title, _help, _role, action in LAST_MESSAGE_COMMANDS}
    assert palette == set(MessageAction)


def test_the_menu_offers_what_applies_to_the_message() -> None:
    answer = menu_for(MessageData(1, "assistant", "hi", branch_count=2))
    assert [name for name, _label in answer] == [
        "copy",
        "regenerate",
        "continue",
        "branch_prev",
        "branch_next",
        "delete",
    ]
    question = menu_for(MessageData(2, "user", "hello"))
    assert [name for name, _label in question] == ["copy", "edit", "delete"]


def test_every_screen_changes_layout_at_the_same_widths() -> None:
    assert ChatScreen.HORIZONTAL_BREAKPOINTS == SheetScreen.HORIZONTAL_BREAKPOINTS
    assert SheetScreen.HORIZONTAL_BREAKPOINTS == HORIZONTAL_BREAKPOINTS
    assert is_compact(NARROW_FROM - 1) and not is_compact(NARROW_FROM)
    assert is_compact(50) and not is_compact(51)
