"""A reasoning model's thinking on the chat screen, by tap at 40x24, on the real engine:
SmolLM2 with Nemotron-3-Nano's published chat template, whose generation prompt opens
``<think>`` so everything the model writes is thinking (see tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Select
from textual.widgets._select import SelectOverlay
from touch_helpers import find_text, tap, tap_text
from ui_helpers import Recorder, ask, chat, make_app, views, wait_for, wait_ready

from tui.store.store import Store
from tui.ui.app import BurrowApp
from tui.ui.formatting import thought_summary
from tui.ui.messages import Answer
from tui.ui.screens.settings import SettingsScreen
from tui.ui.widgets.message_view import MessageView
from tui.ui.widgets.thought import ThinkingLine, ThoughtView

pytestmark = pytest.mark.slow


async def open_settings(pilot: Pilot[Any], app: BurrowApp) -> SettingsScreen:
    await app.run_action("open_settings")
    await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), 10, "settings")
    await pilot.pause(0.1)
    assert isinstance(app.screen, SettingsScreen)
    return app.screen


async def test_thinking_streams_as_one_line_then_folds_under_the_answer(
    thinking_model_path: Path,
) -> None:
    app = make_app(thinking_model_path, max_tokens=48)
    recorder = Recorder()
    lines: list[str] = []

    def watch(message: Any) -> None:
        recorder(message)
        if isinstance(message, Answer.Chunk) and app.chat is not None:
            for line in app.chat.query(ThinkingLine):
                if line.text:
                    lines.append(line.text)

    async with app.run_test(size=(40, 24), message_hook=watch) as pilot:
        await wait_ready(pilot, app)
        await ask(pilot, app, "What is 2+2?")
        chunks = [m.event for m in recorder.of(Answer.Chunk)]
        assert chunks and all(c.thinking for c in chunks)
        # While it streamed: a one-line count, never the thinking itself.
        assert lines and all(line.startswith("thinking… ") for line in lines)
        answer = views(app)[-1]
        thought = answer.query_one(ThoughtView)
        assert not answer.query_one(ThinkingLine).display
        with Store.open() as store:
            stored = store.active_path(chat(app).session.conversation_id or -1)[-1]
        summary = "▸ " + thought_summary(stored.stats)
        assert f", {stored.stats['reasoning_tokens']} tokens" in summary
        find_text(app, summary)  # collapsed, with its count, under the answer
        assert not thought.is_open
        first_words = stored.reasoning.strip().split("\n")[0][:12]
        assert first_words and first_words not in "What is 2+2?"
        with pytest.raises(AssertionError):
            find_text(app, first_words)
        # A tap opens it (and not the message's action sheet); another closes it.
        await tap_text(pilot, "▸ Thought for")
        assert thought.is_open and app.screen is chat(app)
        find_text(app, "▾ Thought for")
        find_text(app, first_words)
        await tap_text(pilot, "▾ Thought for")
        assert not thought.is_open
        # The answer shown is the answer alone (empty: the model never closed its block).
        assert answer.data.text == stored.content == ""
        assert answer.data.reasoning == stored.reasoning


async def test_reopened_conversation_shows_the_folded_thought(thinking_model_path: Path) -> None:
    with Store.open() as store:
        conversation = store.create_conversation(title="Old thoughts")
        store.add_message(conversation.id, "user", "Why is the sky blue?")
        writer = store.begin_assistant(conversation.id)
        writer.append("Rayleigh scattering.", "Blue light scatters more than red.")
        writer.finish("done", {"reasoning_tokens": 7, "reasoning_seconds": 12.4})
    app = make_app(thinking_model_path)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app)
        await wait_for(pilot, lambda: len(views(app)) == 2, 10, "the conversation")
        find_text(app, "▸ Thought for 12 s, 7 tokens")
        find_text(app, "Rayleigh scattering.")
        answer = views(app)[-1]
        await tap(pilot, answer.query_one(ThoughtView))
        find_text(app, "Blue light scatters more")
        # Keys too: t on the focused message closes it.
        answer.focus()
        await pilot.press("t")
        assert not answer.query_one(ThoughtView).is_open


async def test_thinking_switch_in_the_settings_sheet_by_tap(thinking_model_path: Path) -> None:
    app = make_app(thinking_model_path, max_tokens=16)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app)
        screen = await open_settings(pilot, app)
        select = screen.query_one("#set-thinking", Select)
        assert select.value == "auto"
        select.scroll_visible(animate=False)
        await pilot.pause(0.1)
        await tap(pilot, select)
        overlay = select.query_one(SelectOverlay)
        await wait_for(pilot, lambda: overlay.display and overlay.region.area > 0, 5, "choices")
        await pilot.pause(0.1)
        options = [overlay.get_option_at_index(i).prompt for i in range(overlay.option_count)]
        row = options.index("off")
        region = overlay.region
        await pilot.click(offset=(region.x + 2, region.y + 1 + row))
        await pilot.pause(0.1)
        assert select.value == "off"
        await tap(pilot, "settings_apply")
        await wait_for(pilot, lambda: app.screen is chat(app), 10, "the chat screen")
        assert chat(app).session.settings.thinking == "off"
        await ask(pilot, app, "Name a fruit.")
        answer = views(app)[-1]
        assert isinstance(answer, MessageView)
        # Off: the template closes the block itself, so the model answers at once (what it
        # answers is the 135M model's business: on some CPUs greedy decoding ends at once).
        assert answer.data.status == "done" and answer.data.reasoning == ""
        assert "<think>" not in answer.data.text
        assert not answer.query_one(ThoughtView).display


async def test_no_thinking_row_for_a_template_without_the_switch(smollm2_path: Path) -> None:
    app = make_app(smollm2_path)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app)
        screen = await open_settings(pilot, app)
        assert not screen.query("#row-thinking")
        assert screen.query("#row-temperature")
