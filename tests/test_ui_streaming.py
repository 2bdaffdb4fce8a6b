"""How a streaming answer reaches the screen (issue 7): redraws paced to a CPU budget, one
layout pass per redraw, plain text for the block being written, Markdown for the rest.

The screen tests use the scripted engine (``tests/doubles.py``, a test double named as such):
what is checked here is the app's drawing, and the double delivers text piece by piece without
pacing, which is the worst case for the screen. The real engine's pacing is tested in
``tests/test_engine.py``.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from doubles import ScriptedEngine
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Markdown, TextArea
from ui_helpers import ask, chat, make_app, views, wait_ready

from tui.ui.messages import Answer
from tui.ui.pacing import SHARED_BUDGET, SPARE_BUDGET, RedrawPacer, budget_for
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.message_view import (
    LiveTail,
    MessageData,
    MessageView,
    split_finished_blocks,
)

STORY = " ".join(
    f"Word{i}" + ("\n\n" if i % 25 == 24 else "") + ("**bold**" if i % 40 == 3 else "")
    for i in range(400)
)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    path.write_bytes(b"")
    return path


def test_split_finished_blocks() -> None:
    assert split_finished_blocks("a paragraph") == ("", "a paragraph")
    assert split_finished_blocks("one\n\ntwo") == ("one\n\n", "two")
    assert split_finished_blocks("one\n\ntwo\n\n") == ("one\n\ntwo\n\n", "")
    assert split_finished_blocks("one\n") == ("", "one\n")
    # A blank line inside an open code fence does not end a block; a closed fence does.
    fenced = "```\nx = 1\n\ny = 2\n"
    assert split_finished_blocks(fenced) == ("", fenced)
    assert split_finished_blocks(fenced + "```\n\nnext") == (fenced + "```\n\n", "next")


class FakeClocks:
    def __init__(self) -> None:
        self.wall = 100.0
        self.cpu = 5.0

    def run(self, wall: float, cpu: float) -> None:
        self.wall += wall
        self.cpu += cpu


def test_redraw_pacer_keeps_the_ui_under_its_budget() -> None:
    clocks = FakeClocks()
    pacer = RedrawPacer(0.02, 0.1, 0.5, clock=lambda: clocks.wall, cpu_clock=lambda: clocks.cpu)
    pacer.start()
    assert pacer.wait() == 0.0, "the first text is drawn at once"
    pacer.drawn()
    assert pacer.interval == 0.1, "nothing measured yet: the shortest interval"
    clocks.run(0.04, 0.0)
    assert pacer.wait() == pytest.approx(0.06)
    # A cheap UI (1 ms per redraw) redraws as often as allowed ...
    for _ in range(5):
        clocks.run(0.1, 0.001)
        pacer.drawn()
    assert pacer.interval == 0.1
    # ... an expensive one (6 ms) is spaced to 6 / 0.02 = 300 ms ...
    for _ in range(20):
        clocks.run(pacer.interval, 0.006)
        pacer.drawn()
    assert pacer.interval == pytest.approx(0.3, rel=0.01)
    # ... and never slower than the longest interval.
    for _ in range(20):
        clocks.run(pacer.interval, 0.05)
        pacer.drawn()
    assert pacer.interval == 0.5
    # What was learned carries over to the next answer, whose first text is still at once.
    pacer.start()
    assert pacer.wait() == 0.0 and pacer.interval == 0.5


async def test_a_streamed_answer_costs_one_layout_per_redraw(
    model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Textual relayouts twice per size change of a growing widget unless told not to
    (``GrowsWithoutRelayout``); per-token redraws would cost a frame per token."""
    engine = ScriptedEngine([STORY], delay=0.01)
    app = make_app(model_file, engine=engine, default_template="chatml", max_tokens=512)
    layouts: list[float] = []
    appends: list[str] = []
    original_layout = Screen._refresh_layout
    original_append = MessageView.append

    def counting_layout(self: Screen[Any], *args: Any, **kwargs: Any) -> None:
        if appends:  # from the first text on
            layouts.append(0)
        original_layout(self, *args, **kwargs)

    async def counting_append(self: MessageView, fragment: str) -> None:
        appends.append(fragment)
        await original_append(self, fragment)

    monkeypatch.setattr(Screen, "_refresh_layout", counting_layout)
    monkeypatch.setattr(MessageView, "append", counting_append)
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app)
        await ask(pilot, app, "Tell me a story.")
        pieces = len(STORY.split(" "))
        assert 3 <= len(appends) < pieces / 3, "redraws are paced, not one per piece"
        assert "".join(appends) == STORY
        # One layout per redraw, a few for the end of the answer (stats line, buttons,
        # footer) and for finished blocks moving into the Markdown body.
        # (Measured: 27 layouts for 19 redraws; 41 without GrowsWithoutRelayout.)
        assert len(layouts) <= len(appends) + 10, (len(layouts), len(appends))
        answer = views(app)[-1]
        assert answer.text == STORY
        assert answer.query_one(Markdown).source == STORY
        assert not answer.query_one(LiveTail).display
        assert "-streaming" not in answer.classes


async def test_the_block_being_written_shows_as_plain_text_then_as_markdown(
    model_file: Path,
) -> None:
    app = make_app(model_file, engine=ScriptedEngine(), default_template="chatml")
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app)
        screen = chat(app)
        view = MessageView(MessageData(None, "assistant", ""))
        await screen.log_view.mount(view)
        view.start_stream()
        await view.append("A **finished** paragraph.\n\nThe one being wri")
        await pilot.pause()
        tail = view.query_one(LiveTail)
        assert tail.display and "-streaming" in view.classes
        # Right after the start nothing is formatted yet (finished blocks move every
        # FORMAT_EVERY seconds): everything is plain text, markers included.
        assert str(tail.render()).startswith("A **finished** paragraph.")
        view._formatted_at = 0.0  # as if FORMAT_EVERY had passed
        await view.append("tten")
        await pilot.pause()
        assert view.query_one(Markdown).source == "A **finished** paragraph.\n\n"
        assert str(tail.render()) == "The one being written"
        await view.stop_stream()
        await pilot.pause()
        assert view.query_one(Markdown).source == view.text
        assert view.text == "A **finished** paragraph.\n\nThe one being written"
        assert not tail.display


def test_the_budget_is_small_only_when_llama_cpp_takes_every_core() -> None:
    assert budget_for(2, cores=2) == SHARED_BUDGET
    assert budget_for(None, cores=8) == SHARED_BUDGET
    assert budget_for(1, cores=2) == SPARE_BUDGET
    assert budget_for(4, cores=8) == SPARE_BUDGET
    assert SHARED_BUDGET < SPARE_BUDGET


async def test_the_start_up_heap_is_frozen_out_of_the_collectors_way(model_file: Path) -> None:
    """Full collections scanned everything start-up built (~50 ms each, twice an answer)."""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    app = make_app(model_file, engine=ScriptedEngine(), default_template="chatml")
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app)
        await pilot.pause(0.2)
        assert gc.get_freeze_count() > 10_000


async def test_text_that_fits_the_last_line_is_a_repaint_not_a_layout(
    model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(model_file, engine=ScriptedEngine(), default_template="chatml")
    layouts: list[int] = []
    original_layout = Screen._refresh_layout

    def counting_layout(self: Screen[Any], *args: Any, **kwargs: Any) -> None:
        layouts.append(0)
        original_layout(self, *args, **kwargs)

    monkeypatch.setattr(Screen, "_refresh_layout", counting_layout)
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app)
        view = MessageView(MessageData(None, "assistant", ""))
        await chat(app).log_view.mount(view)
        view.start_stream()
        await view.append("One short line")
        await pilot.pause(0.2)
        tail = view.query_one(LiveTail)
        assert tail.content_region.height == 1
        layouts.clear()
        await view.append(", a little more")
        await pilot.pause(0.2)
        assert str(tail.render()) == "One short line, a little more"
        assert layouts == [], "the same height: a repaint only"
        await view.append(" and then enough words to need a second line under the first.")
        await pilot.pause(0.2)
        assert layouts, "a new line: the screen is laid out again"
        assert tail.content_region.height == 2


async def test_the_cursor_does_not_blink_while_an_answer_streams(
    model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each blink is a frame drawn on the CPU llama.cpp needs (two a second)."""
    blinks: list[bool] = []
    original = TextArea._toggle_cursor_blink_visible

    def counting(self: TextArea) -> None:
        blinks.append(chat(app).streaming)
        original(self)

    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", counting)
    engine = ScriptedEngine([STORY], delay=0.005)  # about 2 s of streaming
    app = make_app(model_file, engine=engine, default_template="chatml", max_tokens=512)
    shown: list[bool] = []  # is the cursor drawn, at each piece of the answer

    def on_message(message: Message) -> None:
        if isinstance(message, Answer.Chunk):
            shown.append(chat(app).query_one(Composer)._cursor_visible)

    async with app.run_test(size=(60, 30), message_hook=on_message) as pilot:
        await wait_ready(pilot, app)
        composer = chat(app).query_one(Composer)
        assert composer.has_focus
        await ask(pilot, app, "Tell me a story.")
        assert True not in blinks, "no blink while streaming"
        assert len(shown) > 3 and all(shown), "the cursor stays visible"
        blinks.clear()
        await pilot.pause(1.3)
        assert composer.has_focus and len(blinks) >= 2, "blinking again afterwards"
