"""The system prompt sheet by tap at 40x24, on the real engine (its token count is the
bundled model's tokenizer's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static, TextArea
from textual.widgets._select import SelectOverlay
from touch_helpers import tap
from ui_helpers import ask, chat, make_app, wait_for, wait_ready

from tui.store.store import Store
from tui.ui.app import BurrowApp
from tui.ui.screens.system_prompt import SystemPromptScreen

pytestmark = pytest.mark.slow


async def open_sheet(pilot: Pilot[Any], app: BurrowApp) -> SystemPromptScreen:
    await app.run_action("open_system_prompt")
    await wait_for(pilot, lambda: isinstance(app.screen, SystemPromptScreen), 10, "the sheet")
    await pilot.pause(0.1)
    assert isinstance(app.screen, SystemPromptScreen)
    return app.screen


async def pick(pilot: Pilot[Any], select: Select[Any], choice: str) -> None:
    """Tap the select, then tap ``choice`` in the list it opens."""
    select.scroll_visible(animate=False)
    await pilot.pause(0.1)
    await tap(pilot, select)
    overlay = select.query_one(SelectOverlay)
    await wait_for(pilot, lambda: overlay.display and overlay.region.area > 0, 5, "choices")
    await pilot.pause(0.1)
    prompts = [str(overlay.get_option_at_index(i).prompt) for i in range(overlay.option_count)]
    row = prompts.index(choice)
    overlay.scroll_to_region(overlay.region, animate=False)
    await pilot.click(offset=(overlay.region.x + 2, overlay.region.y + 1 + row))
    await pilot.pause(0.1)


def tokens_shown(screen: SystemPromptScreen) -> str:
    return str(screen.query_one("#system-tokens", Static).render())


async def test_preset_variables_get_fields_and_the_count_follows(smollm2_path: Path) -> None:
    app = make_app(smollm2_path)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app)
        session = chat(app).session
        screen = await open_sheet(pilot, app)
        editor = screen.query_one("#system-text", TextArea)
        assert editor.text == session.system_prompt  # the conversation's own, to edit
        count = len(session.engine.tokenize(editor.text, special=False, add_bos=False))
        await wait_for(pilot, lambda: tokens_shown(screen) == f"{count} tokens", 20, "the count")

        await pick(pilot, screen.query_one("#system-preset", Select), "translate")
        field = screen.query_one("#param-language", Input)
        assert field.value == "English"
        assert "into English" in editor.text and "{language}" not in editor.text
        # Typing in the field rewrites the text from the preset.
        await tap(pilot, field)
        await pilot.press("end", *["backspace"] * len("English"), *"French")
        assert "into French" in editor.text and "{language}" not in editor.text
        count = len(session.engine.tokenize(editor.text, special=False, add_bos=False))
        await wait_for(pilot, lambda: tokens_shown(screen) == f"{count} tokens", 20, "recount")

        await tap(pilot, screen.query_one("#system-use"))
        await wait_for(pilot, lambda: app.screen is chat(app), 10, "the chat screen")
        assert "into French" in session.system_prompt
        await ask(pilot, app, "Bonjour")
    with Store.open() as store:
        [conversation] = store.list_conversations()
        assert "into French" in (conversation.system_prompt or "")


async def test_clear_and_write_your_own(smollm2_path: Path) -> None:
    app = make_app(smollm2_path)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app)
        screen = await open_sheet(pilot, app)
        await tap(pilot, screen.query_one("#system-clear"))
        editor = screen.query_one("#system-text", TextArea)
        assert editor.text == ""
        await wait_for(pilot, lambda: tokens_shown(screen) == "0 tokens", 20, "zero")
        await tap(pilot, editor)
        await pilot.press(*"Answer like a pirate.")
        await wait_for(pilot, lambda: tokens_shown(screen) not in ("", "0 tokens"), 20, "count")
        await tap(pilot, screen.query_one("#system-use"))
        await wait_for(pilot, lambda: app.screen is chat(app), 10, "the chat screen")
        assert chat(app).session.system_prompt == "Answer like a pirate."
