"""The chat screen driven by a pilot, on the real engine worker and the bundled model.

Every test has its own ``BURROW_HOME`` (conftest), so the history each one checks is its own.
Answers are short (``max_tokens`` 24, greedy) to keep the suite fast on two cores.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button
from ui_helpers import (
    Recorder,
    answer,
    ask,
    chat,
    make_app,
    views,
    wait_for,
    wait_idle,
    wait_ready,
)

from tui.store.store import Store
from tui.ui.app import BurrowApp
from tui.ui.messages import Answer
from tui.ui.screens.dialogs import ConfirmSheet
from tui.ui.widgets.composer import Composer

pytestmark = pytest.mark.slow

LONG = "Write a very long story about a cat who travels around the world."


async def start_long_answer(
    pilot: Pilot[Any], app: BurrowApp, recorder: Recorder, chunks: int
) -> None:
    """Send a question with a long answer and wait until ``chunks`` pieces of it arrived."""
    chat(app).query_one(Composer).insert(LONG)
    await pilot.press("enter")
    await wait_for(pilot, lambda: len(recorder.of(Answer.Chunk)) >= chunks, 60, "chunks")


def stored_path() -> list[tuple[str, str, str]]:
    with Store.open() as store:
        conversations = store.list_conversations()
        assert len(conversations) == 1, conversations
        return [(m.role, m.content, m.status) for m in store.active_path(conversations[0].id)]


async def test_ask_streams_the_answer_and_saves_it(smollm2_path: Path) -> None:
    app = make_app(smollm2_path)
    recorder = Recorder()
    async with app.run_test(size=(60, 30), message_hook=recorder) as pilot:
        await wait_ready(pilot, app)
        assert isinstance(app.focused, Composer), "the composer has focus at start"
        await ask(pilot, app, "What is the capital of France?")
        chunks = recorder.of(Answer.Chunk)
        assert len(recorder.of(Answer.Started)) == 1
        assert len(chunks) >= 2, "the answer streamed in pieces"
        assert len(recorder.of(Answer.Finished)) == 1
        shown = views(app)
        assert [v.data.role for v in shown] == ["user", "assistant"]
        answer = shown[1]
        assert answer.text.strip()
        assert "tok/s" in answer.data.meta
        assert "tok/s" in str(chat(app).query_one("#status").render())
    path = stored_path()
    assert path[0] == ("user", "What is the capital of France?", "done")
    assert path[1][0] == "assistant" and path[1][2] == "done"
    assert path[1][1] == "".join(c.event.text for c in chunks)


async def test_stop_mid_answer_keeps_the_partial_answer(smollm2_path: Path) -> None:
    app = make_app(smollm2_path, max_tokens=400)
    recorder = Recorder()
    async with app.run_test(size=(60, 30), message_hook=recorder) as pilot:
        await wait_ready(pilot, app)
        screen = chat(app)
        await start_long_answer(pilot, app, recorder, 3)
        assert str(screen.query_one("#send", Button).label) == "Stop"
        await pilot.click("#send")
        await wait_idle(pilot, app, 30)
        finished = recorder.of(Answer.Finished)
        assert finished and finished[-1].event.status == "cancelled"
        assert str(screen.query_one("#send", Button).label) == "Send"
        assert "stopped" in views(app)[-1].data.meta
    role, content, status = stored_path()[-1]
    assert role == "assistant" and status == "cancelled" and content.strip()


async def test_regenerate_then_flip_back_to_the_old_branch(smollm2_path: Path) -> None:
    # A random seed per answer (and some temperature) so the new branch differs.
    app = make_app(smollm2_path, temperature=1.0, seed_mode="random")
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app)
        await ask(pilot, app, "Name a colour.")
        first = views(app)[-1]
        first_id, first_text = first.data.id, first.text
        async with answer(pilot, app):  # a short answer may start and end between checks
            await pilot.press("ctrl+r")
        second = views(app)[-1]
        assert second.data.id != first_id
        assert (second.data.branch_index, second.data.branch_count) == (2, 2)
        assert "2/2" in str(second.query_one(".message--header").render())
        second.focus()
        await pilot.press("left")  # previous branch
        await wait_for(pilot, lambda: views(app)[-1].data.id == first_id, 10, "the old branch")
        assert views(app)[-1].text == first_text
        assert views(app)[-1].data.branch_index == 1
    with Store.open() as store:
        assert store.siblings(first_id or 0).count == 2


async def test_edit_and_resend_makes_a_new_branch(smollm2_path: Path) -> None:
    app = make_app(smollm2_path)
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app)
        await ask(pilot, app, "What is 2 plus 2?")
        question = views(app)[0]
        question.focus()
        await pilot.press("e")
        composer = chat(app).query_one(Composer)
        assert composer.text == "What is 2 plus 2?"
        assert app.focused is composer
        composer.clear()
        await pilot.press(*"What is 3 plus 3?")
        async with answer(pilot, app):
            await pilot.press("enter")
        shown = views(app)
        assert [v.data.role for v in shown] == ["user", "assistant"]
        assert shown[0].text == "What is 3 plus 3?"
        assert shown[0].data.branch_count == 2
    path = stored_path()
    assert path[0][1] == "What is 3 plus 3?"


async def test_continue_an_answer_cut_at_max_tokens(smollm2_path: Path) -> None:
    app = make_app(smollm2_path, max_tokens=6)
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app)
        await ask(pilot, app, "Tell me about the moon.")
        cut = views(app)[-1]
        answer_id, before = cut.data.id, cut.text
        assert "max tokens" in cut.data.meta
        async with answer(pilot, app):
            await pilot.press("ctrl+t")
        after = views(app)[-1]
        assert after.data.id == answer_id, "continue extends the same message"
        assert len(after.text) > len(before)
        assert after.text.startswith(before.rstrip()[:10])
    _role, content, _status = stored_path()[-1]
    assert len(content) > len(before)


async def test_incognito_writes_nothing(smollm2_path: Path, burrow_home: Path) -> None:
    app = make_app(smollm2_path, incognito=True)
    secret = "My secret pony is called Zanzibar"
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app)
        screen = chat(app)
        assert screen.query_one("#topbar").has_class("-incognito")
        assert "Incognito" in str(screen.query_one("#title").render())
        assert "INCOGNITO" in str(screen.query_one("#status").render())
        await ask(pilot, app, secret)
        assert views(app)[-1].text.strip()
    with Store.open() as store:
        assert store.count_conversations() == 0
    for path in burrow_home.rglob("*"):
        if path.is_file():
            assert b"Zanzibar" not in path.read_bytes(), f"{path} holds incognito text"


async def test_worker_crash_shows_error_and_restarts(smollm2_path: Path) -> None:
    app = make_app(smollm2_path, max_tokens=400)
    recorder = Recorder()
    async with app.run_test(size=(60, 30), message_hook=recorder) as pilot:
        await wait_ready(pilot, app)
        screen = chat(app)
        await start_long_answer(pilot, app, recorder, 2)
        pid = app.services.engine.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await wait_idle(pilot, app, 30)
        failed = recorder.of(Answer.Failed)
        assert failed and failed[-1].event.crashed
        assert views(app)[-1].has_class("-failed")
        assert screen.query_one("#banner").display
        await pilot.click("#banner-button")  # one tap: restart
        await wait_ready(pilot, app)
        assert app.services.engine.worker_pid not in (None, pid)
        await ask(pilot, app, "Say hello.")
        assert views(app)[-1].data.status == "done"
    statuses = [status for _role, _content, status in stored_path()]
    assert statuses[1] in ("error", "interrupted")


async def test_quit_while_streaming_asks_then_saves_partial(smollm2_path: Path) -> None:
    app = make_app(smollm2_path, max_tokens=400)
    recorder = Recorder()
    async with app.run_test(size=(60, 30), message_hook=recorder) as pilot:
        await wait_ready(pilot, app)
        await start_long_answer(pilot, app, recorder, 2)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmSheet), 5, "the question")
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: app._exit, 30, "the app to exit")
    role, content, status = stored_path()[-1]
    assert role == "assistant" and status == "cancelled" and content.strip()
