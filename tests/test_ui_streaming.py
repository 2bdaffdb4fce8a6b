"""How a streaming answer reaches the screen: redraws paced to a CPU budget, the
answer written like a page (text within rows held for it is a repaint of those rows alone;
a layout only when the page turns), plain text for the block being written, Markdown for the
rest.

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
from textual.geometry import Region
from textual.message import Message
from textual.screen import Screen
from textual.visual import Visual
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


async def new_answer(pilot: Any, app: Any) -> MessageView:
    """An answer view at the end of the conversation, streaming, laid out."""
    await wait_ready(pilot, app)
    view = MessageView(MessageData(None, "assistant", ""))
    await chat(app).log_view.mount(view)
    view.start_stream()
    # Long enough for the footer to finish recomposing after the mount (it re-lays out its
    # keys; on a loaded machine that can take over 0.2 s and land in a test's measurement).
    await pilot.pause(0.6)
    return view


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


async def test_a_streamed_answer_is_laid_out_only_when_its_page_turns(
    model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each layout redraws the whole conversation (everything in it moves); text written
    within the rows held for it is a repaint of those rows."""
    engine = ScriptedEngine([STORY], delay=0.01)
    app = make_app(model_file, engine=engine, default_template="chatml", max_tokens=512)
    layouts: list[float] = []
    appends: list[str] = []
    turns: list[str] = []
    original_layout = Screen._refresh_layout
    original_append = MessageView.append
    original_hold = LiveTail.hold

    def counting_layout(self: Screen[Any], *args: Any, **kwargs: Any) -> None:
        if appends:  # from the first text on
            layouts.append(0)
        original_layout(self, *args, **kwargs)

    async def counting_append(self: MessageView, fragment: str) -> None:
        appends.append(fragment)
        await original_append(self, fragment)

    def counting_hold(self: LiveTail, text: str, page_rows: int) -> None:
        turns.append(text)
        original_hold(self, text, page_rows)

    monkeypatch.setattr(Screen, "_refresh_layout", counting_layout)
    monkeypatch.setattr(MessageView, "append", counting_append)
    monkeypatch.setattr(LiveTail, "hold", counting_hold)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_ready(pilot, app)
        await ask(pilot, app, "Tell me a story.")
        pieces = len(STORY.split(" "))
        assert 3 <= len(appends) < pieces / 3, "redraws are paced, not one per piece"
        assert "".join(appends) == STORY
        # ~2,800 characters, ~1,800 a page (94 columns, 20 rows): the rows held at the
        # start, once more at the first text if it came before the first layout, and a
        # turn for each page, not one for each redraw.
        assert 2 <= len(turns) <= 7 < len(appends), (len(turns), len(appends))
        # Two layouts per page turn (the rows held, then the new Markdown blocks), and a few
        # for the start and the end of the answer (stats line, buttons, footer).
        # (Measured: 12 layouts, 19 redraws, 5 turns; a layout per redraw before.)
        assert len(layouts) <= 2 * len(turns) + 6, (len(layouts), len(appends), len(turns))
        answer = views(app)[-1]
        assert answer.text == STORY
        assert answer.query_one(Markdown).source == STORY
        assert not answer.query_one(LiveTail).display
        assert "-streaming" not in answer.classes


async def test_the_answer_is_written_like_a_page(
    model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are held for the block being written, shown as plain text; text within them is
    a repaint; beyond them the page turns: finished blocks become Markdown and the text being
    written moves a third of the way down the conversation, under its context."""
    app = make_app(model_file, engine=ScriptedEngine(), default_template="chatml")
    layouts: list[int] = []
    original_layout = Screen._refresh_layout

    def counting_layout(self: Screen[Any], *args: Any, **kwargs: Any) -> None:
        layouts.append(0)
        original_layout(self, *args, **kwargs)

    monkeypatch.setattr(Screen, "_refresh_layout", counting_layout)
    async with app.run_test(size=(60, 30)) as pilot:
        view = await new_answer(pilot, app)
        log = chat(app).log_view
        tail = view.query_one(LiveTail)
        page = log.scrollable_content_region.height
        assert tail.display and "-streaming" in view.classes
        assert tail.content_region.height == tail.rows == page - page // 3 - 1

        layouts.clear()
        await view.append("A **finished** paragraph.\n\nThe one being wri")
        await pilot.pause(0.2)
        await view.append("tten")
        await pilot.pause(0.2)
        assert layouts == [], "text within the held rows: a repaint only"
        # Plain text until the page turns, markers included.
        assert str(tail.render()) == "A **finished** paragraph.\n\nThe one being written"
        assert view.query_one(Markdown).source == ""

        more = "".join(f"\n\nParagraph {i}: " + "word " * 20 for i in range(6))
        await view.append(more + "\n\nStill being")
        await pilot.pause(0.2)
        assert layouts, "the page turned"
        formatted = view.query_one(Markdown).source
        assert formatted == "A **finished** paragraph.\n\nThe one being written" + more + "\n\n"
        assert str(tail.render()) == "Still being"
        assert tail.region.y - log.region.y == page // 3, "a third down, under its context"
        paragraphs = view.query_one(Markdown).children
        assert paragraphs[-1].region.bottom < tail.region.y, "a blank line before the tail"

        # A new size (a phone turned, a keyboard shown) turns the page at the next text.
        await pilot.resize_terminal(60, 40)
        await pilot.pause(0.2)
        await view.append(" written")
        await pilot.pause(0.2)
        page = log.scrollable_content_region.height
        assert tail.content_region.height == tail.rows == page - page // 3 - 1

        await view.stop_stream()
        await pilot.pause()
        assert view.query_one(Markdown).source == view.text
        assert view.text == formatted + "Still being written"
        assert not tail.display and tail.rows == 0


async def test_a_block_longer_than_a_page_gets_rows_beyond_it(model_file: Path) -> None:
    app = make_app(model_file, engine=ScriptedEngine(), default_template="chatml")
    async with app.run_test(size=(40, 24)) as pilot:
        view = await new_answer(pilot, app)
        log = chat(app).log_view
        tail = view.query_one(LiveTail)
        page_rows = tail.rows
        await view.append("```\n" + "".join(f"line {i}\n" for i in range(page_rows + 3)))
        await pilot.pause(0.2)
        # An open code fence is one block: nothing to format, the rows grow past the page.
        assert view.query_one(Markdown).source == ""
        assert tail.rows > page_rows + 4
        assert tail.content_region.height == tail.rows
        log.scroll_end(animate=False, immediate=True)
        await pilot.pause(0.2)
        assert tail.region.bottom > log.region.y + page_rows, "the text written is in view"
        await view.stop_stream()


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


async def test_the_text_stays_where_it_is_when_the_answer_ends(model_file: Path) -> None:
    """The rows held and not written stay as a gap under the answer (less its stats line),
    so the conversation does not shrink and the text being read does not jump down; the
    next message closes the gap."""
    words = " ".join(f"word{i}" for i in range(30))
    engine = ScriptedEngine([STORY[:1500], f"{words}.\n\n{words}.", "Short."], delay=0.002)
    app = make_app(model_file, engine=engine, default_template="chatml")
    tops: list[int] = []  # the answer's first row on screen, as each piece arrives

    def on_message(message: Message) -> None:
        if isinstance(message, Answer.Chunk):
            tail = views(app)[-1].query_one(LiveTail)
            tops.append(tail.region.y)

    async with app.run_test(size=(60, 30), message_hook=on_message) as pilot:
        await wait_ready(pilot, app)
        await ask(pilot, app, "A long one first, to fill the screen.")
        tops.clear()
        await ask(pilot, app, "Two paragraphs, please.")
        await pilot.pause(0.2)
        answer = views(app)[-1]
        first = answer.query_one(Markdown).children[0]
        assert "-streaming" not in answer.classes and tops
        assert first.region.y == tops[-1], "the text did not move when the answer ended"
        assert answer.styles.margin.bottom > 1, "a gap under the answer"
        await ask(pilot, app, "Again.")
        await pilot.pause(0.2)
        question = views(app)[views(app).index(answer) + 1]
        assert question.region.y == answer.region.bottom + 1, "the next message closed the gap"


async def test_new_text_repaints_only_the_rows_that_changed(
    model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repaint of the rows held would draw a page of text again at every redraw; the
    rows shown must still be exactly what drawing all of them would show."""
    app = make_app(model_file, engine=ScriptedEngine(), default_template="chatml")
    async with app.run_test(size=(60, 30)) as pilot:
        view = await new_answer(pilot, app)
        tail = view.query_one(LiveTail)
        repainted: list[int] = []
        original = LiveTail.refresh

        def counting_refresh(self: LiveTail, *regions: Region, **kwargs: Any) -> LiveTail:
            repainted.extend(region.height for region in regions)
            return original(self, *regions, **kwargs)

        monkeypatch.setattr(LiveTail, "refresh", counting_refresh)
        # Words of growing length, so the last row keeps wrapping differently; a paragraph.
        for i in range(70):
            await view.append(f"w{i}{'x' * (i % 9)}" + ("\n\n" if i == 30 else " "))
            await pilot.pause(0.01)
        width = tail.content_region.width
        assert tail.rows == tail.page_rows, "no page turn: every append was a repaint"
        assert len(repainted) == 70 and max(repainted) <= 3, repainted
        shown = [strip.text.rstrip() for strip in tail.render_lines(Region(0, 0, width, tail.rows))]
        fresh = Visual.to_strips(tail, tail.render(), width, tail.rows, tail.visual_style)
        written = [strip.text.rstrip() for strip in fresh]
        assert 5 < len(written) < tail.rows
        assert shown == written + [""] * (tail.rows - len(written))
        assert shown[0].startswith("w0 w1x w2xx") and "w69" in "".join(shown)
