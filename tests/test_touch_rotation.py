"""Rotation: a phone turned while Burrow runs (or while an answer streams) resizes the
terminal, sometimes through tiny sizes. Every size from 1x1 up must be survivable and the
answer must come out whole.

These use ``ScriptedEngine`` (tests/doubles.py), a TEST DOUBLE of the engine, held half way
through its answer by a gate, so the resizes happen mid-answer without any timing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from doubles import DEFAULT_ANSWER, ScriptedEngine
from touch_helpers import GatedEngine, finish_answer, model_file, start_answer, widget
from ui_helpers import chat, make_app, views, wait_ready

from tui.ui.app import BurrowApp
from tui.ui.widgets.composer import Composer

ROTATION = [(40, 24), (100, 30), (48, 50), (1, 1), (60, 30)]


def gated_app(tmp_path: Path) -> tuple[BurrowApp, GatedEngine]:
    engine = GatedEngine()
    app = make_app(model_file(tmp_path), engine=engine, default_template="chatml", max_tokens=512)
    return app, engine


def assert_answer_intact(app: BurrowApp) -> None:
    assert app.is_running, "the app exited"
    answer = views(app)[-1]
    assert answer.data.role == "assistant"
    assert answer.text == DEFAULT_ANSWER
    conversation_id = chat(app).session.conversation_id
    assert conversation_id is not None
    stored = app.services.store.active_path(conversation_id)[-1]
    assert (stored.role, stored.status, stored.content) == ("assistant", "done", DEFAULT_ANSWER)


async def test_rotation_mid_answer_through_every_size(tmp_path: Path) -> None:
    """120x40 -> 40x24 -> 100x30 -> 48x50 -> 1x1 -> 60x30 while the answer streams."""
    app, engine = gated_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_ready(pilot, app, 10)
        await start_answer(pilot, app, engine)
        for size in ROTATION:
            await pilot.resize_terminal(*size)
            await pilot.pause(0.1)
            assert app.is_running, f"the app exited at {size}"
            assert chat(app).streaming, f"the answer ended early at {size}"
        await finish_answer(pilot, app, engine)
        assert_answer_intact(app)
        # and the app still works after the tour: a tap on Send asks again
        await pilot.resize_terminal(40, 24)
        await pilot.pause(0.1)
        assert widget(app, "send").region.area


@pytest.mark.parametrize("start", [(120, 40), (100, 30), (100, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("end", [(40, 24), (45, 40), (48, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_rotate_from_landscape_to_portrait(
    tmp_path: Path, start: tuple[int, int], end: tuple[int, int]
) -> None:
    app = make_app(model_file(tmp_path), engine=ScriptedEngine(), default_template="chatml")
    async with app.run_test(size=start) as pilot:
        await wait_ready(pilot, app, 10)
        await pilot.resize_terminal(*end)
        await pilot.pause(0.2)
        assert app.is_running, "the app exited"
        composer = chat(app).query_one(Composer)
        assert composer.region.width > 0
        await pilot.click(composer)
        await pilot.press("h", "i")
        assert composer.text == "hi"


async def test_rotation_to_one_cell_and_back_when_idle(tmp_path: Path) -> None:
    app = make_app(model_file(tmp_path), engine=ScriptedEngine(), default_template="chatml")
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app, 10)
        for size in [(1, 1), (2, 3), (10, 5), (40, 14), (1, 40), (120, 1), (40, 24)]:
            await pilot.resize_terminal(*size)
            await pilot.pause(0.1)
            assert app.is_running, f"the app exited at {size}"
