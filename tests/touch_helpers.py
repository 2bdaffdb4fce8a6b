"""Helpers for the phone-grade touch tests (``tests/test_touch_*.py``).

Widgets are found through :data:`IDS`, one selector per thing a phone user taps or reads,
so a renamed id or class is a one-line change here. Some entries name widgets the app does
not have yet (a Cancel button for an edit, a "⋯" button per row, Reset and Rescan buttons
on every size, the bar shown when the context is full, the divider where trimming
starts): the tests that use them fail until those are built.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from doubles import ScriptedEngine
from textual.geometry import Offset, Region
from textual.pilot import Pilot
from textual.widget import Widget
from ui_helpers import chat, make_app, wait_for

from tui.engine.protocol import GenerationEvent, Prompt, SamplingParams, TextChunk
from tui.store.store import Store
from tui.ui.app import BurrowApp
from tui.ui.widgets.composer import Composer

#: A phone in Termux: portrait, and portrait with the soft keyboard up.
PHONE_SIZES = [(40, 24), (40, 14)]
PHONE_SIZE_IDS = [f"{w}x{h}" for w, h in PHONE_SIZES]

IDS: dict[str, str] = {
    # chat screen (exist today)
    "toggle_list": "#toggle-list",
    "new_chat": "#new-chat",
    "incognito": "#incognito-button",
    "title": "#title",
    "composer": "#composer",
    "send": "#send",
    "log": "#log",
    "banner": "#banner",
    "status": "#status",
    "list_options": "#chats-options",
    "list_filter": "#chats-filter",
    # chat screen (proposed)
    "cancel_edit": "#cancel-edit",
    "row_actions": ".row-actions",
    "context_bar": "#context-bar",
    "context_new_chat": "#context-new-chat",
    "context_raise": "#context-raise",
    "context_trim": "#context-trim",
    "trim_divider": ".trim-divider",
    # sheets (exist today)
    "history_search": "#history-search",
    "history_results": "#history-results",
    "history_more": "#history-more",
    "settings_form": "#settings-form",
    "settings_apply": "#settings-apply",
    "settings_save": "#settings-save",
    "editor": "#editor",
    "edit_save": "#edit-save",
    "edit_duplicate": "#edit-duplicate",
    "edit_more": "#edit-more",
    "models_load": "#models-load",
    "models_unload": "#models-unload",
    "models_add": "#models-add",
    "models_bench": "#models-bench",
    "models_state": "#models-state",
    "prompt_input": "#prompt-input",
    "prompt_ok": "#prompt-ok",
    # sheets (proposed, or shown on every size)
    "settings_reset": "#settings-reset",
    "models_rescan": "#models-rescan",
    "import_files": "#import-files",
}


class GatedEngine(ScriptedEngine):
    """The scripted answer stops after ``hold_after`` pieces until :meth:`open` is called."""

    def __init__(self, hold_after: int = 5) -> None:
        super().__init__()
        self.hold_after = hold_after
        self.pieces = 0
        self._gate: asyncio.Event | None = None

    def gate(self) -> asyncio.Event:
        if self._gate is None:
            self._gate = asyncio.Event()
        return self._gate

    def open(self) -> None:
        self.gate().set()

    async def agenerate(
        self,
        prompt: Prompt,
        params: SamplingParams | None = None,
        *,
        add_bos: bool = True,
        interval: float | Callable[[], float] = 0.0,
    ) -> AsyncIterator[GenerationEvent]:
        for event in self.generate(prompt, params, add_bos=add_bos):
            yield event
            if isinstance(event, TextChunk):
                self.pieces += 1
                if self.pieces == self.hold_after:
                    await self.gate().wait()
            await asyncio.sleep(0)


def sel(key: str) -> str:
    return IDS[key]


def widget(app: BurrowApp, key: str) -> Widget:
    """The one widget ``key`` names on the screen shown now."""
    return app.screen.query_one(IDS[key])


def widgets(app: BurrowApp, key: str) -> list[Widget]:
    return list(app.screen.query(IDS[key]))


def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    path.write_bytes(b"")  # the double never reads it
    return path


def scripted_app(
    tmp_path: Path, answers: tuple[str, ...] = (), delay: float = 0.0, **settings: Any
) -> BurrowApp:
    """The app on ``ScriptedEngine`` (a test double: fixed answers, a word per token)."""
    engine = ScriptedEngine(answers, delay=delay)
    return make_app(model_file(tmp_path), engine=engine, default_template="chatml", **settings)


def seed(conversations: list[tuple[str, str]]) -> list[int]:
    """Conversations (title, question) with one answer each, oldest first."""
    ids = []
    with Store.open() as store:
        for title, question in conversations:
            conversation = store.create_conversation(title=title)
            user = store.add_message(conversation.id, "user", question)
            store.add_message(conversation.id, "assistant", f"About {question}", parent_id=user.id)
            ids.append(conversation.id)
    return ids


def screen_lines(app: BurrowApp) -> list[str]:
    """The text on the screen, row by row, as a user sees it."""
    compositor = app.screen._compositor
    return [strip.text for strip in compositor.render_strips()]


def find_text(app: BurrowApp, text: str) -> Offset:
    """Where ``text`` is on the screen (its first cell); AssertionError if it is not."""
    lines = screen_lines(app)
    for y, line in enumerate(lines):
        x = line.find(text)
        if x >= 0:
            return Offset(x, y)
    raise AssertionError(f"{text!r} is not on the screen:\n" + "\n".join(lines))


async def tap_text(pilot: Pilot[Any], text: str) -> None:
    """Tap where ``text`` is shown, as a finger would (the screen decides who gets it)."""
    app = pilot.app
    assert isinstance(app, BurrowApp)
    await pilot.pause()
    where = find_text(app, text)
    await pilot.click(offset=where)
    await pilot.pause()


async def tap(pilot: Pilot[Any], key_or_widget: str | Widget) -> None:
    """Tap the middle of a widget (by :data:`IDS` key) at its place on the screen."""
    app = pilot.app
    assert isinstance(app, BurrowApp)
    target = widget(app, key_or_widget) if isinstance(key_or_widget, str) else key_or_widget
    await pilot.pause()  # a layout still due (text just typed grows the composer)
    region = target.region
    assert region.area, f"{target} is not on the screen"
    await pilot.click(offset=region.center)
    await pilot.pause()


async def tap_message(pilot: Pilot[Any], view: Widget) -> None:
    """Tap the middle of the part of a message the conversation shows (a long message
    may be taller than the screen), scrolling it into view first as a finger would."""
    app = pilot.app
    assert isinstance(app, BurrowApp)
    view.scroll_visible(animate=False, immediate=True)
    await pilot.pause()
    shown = view.region.intersection(app.screen.query_one(IDS["log"]).region)
    assert shown.area, f"{view} is not on the screen"
    await pilot.click(offset=shown.center)
    await pilot.pause()


async def type_text(pilot: Pilot[Any], text: str) -> None:
    """Type into the focused field, letter by letter, as the soft keyboard does."""
    keys = ["space" if c == " " else c for c in text]
    await pilot.press(*keys)
    await pilot.pause()


async def tap_command(pilot: Pilot[Any], title: str) -> None:
    """Run a command as a phone user does: tap the footer's **^p palette**, type (part of)
    its name into the palette's search, tap the hit."""
    from textual.command import CommandList, CommandPalette

    app = pilot.app
    key = "FooterKey.-command-palette"

    def palette_open() -> bool:
        return isinstance(app.screen, CommandPalette)

    # The footer is built again whenever the keys that work change (the model becoming
    # ready, a focus moving): a tap during that lands on nothing, and a user taps again.
    for _ in range(50):
        keys = list(app.screen.query(key))
        if keys and keys[0].region.area:
            await pilot.click(offset=keys[0].region.center)
        await pilot.pause(0.1)
        if palette_open():
            break
    await wait_for(pilot, palette_open, 5, "the palette")
    await type_text(pilot, title)
    hits = app.screen.query_one(CommandList)

    def hit_index() -> int | None:
        for index, option in enumerate(hits.options):
            if str(option.prompt).splitlines()[0].strip() == title:
                return index
        return None

    await wait_for(pilot, lambda: hit_index() is not None, 5, f"{title!r} in the palette")
    await pilot.pause(0.1)
    await pilot.click(offset=find_text_in(app, title, hits.region))
    await pilot.pause()


def find_text_in(app: BurrowApp | Any, text: str, region: Region) -> Offset:
    """Where ``text`` first shows inside ``region`` of the screen."""
    lines = screen_lines(app)
    for y in range(region.y, min(region.bottom, len(lines))):
        x = lines[y].find(text, region.x, region.right)
        if x >= 0:
            return Offset(x, y)
    raise AssertionError(f"{text!r} is not in {region}:\n" + "\n".join(lines))


def fully_visible(app: BurrowApp, target: Widget) -> bool:
    """On the screen, whole, and the widget a tap on its middle reaches."""
    region = target.region
    if not region.area or not app.screen.region.contains_region(region):
        return False
    try:
        hit, _ = app.screen.get_widget_at(*region.center)
    except Exception:
        return False
    return hit is target or target in hit.ancestors


async def wait_screen(pilot: Pilot[Any], kind: type, what: str = "") -> Any:
    """Wait until a screen of ``kind`` is shown with its widgets in place."""
    app = pilot.app

    def shown() -> bool:
        return isinstance(app.screen, kind) and bool(app.screen.children)

    await wait_for(pilot, shown, 10, what or kind.__name__)
    await pilot.pause()
    return app.screen


async def start_answer(pilot: Pilot[Any], app: BurrowApp, engine: GatedEngine) -> None:
    """Send a question by tapping Send; wait until the answer is held mid-way."""
    chat(app).query_one(Composer).insert("Why is the sky blue?")
    await pilot.click(widget(app, "send"))
    await wait_for(pilot, lambda: engine.pieces >= engine.hold_after, 10, "half an answer")
    await wait_for(pilot, lambda: chat(app).streaming, 10, "the answer to show")


async def finish_answer(pilot: Pilot[Any], app: BurrowApp, engine: GatedEngine) -> None:
    screen = chat(app)
    before = screen.answers_ended
    engine.open()
    await wait_for(pilot, lambda: screen.answers_ended > before, 20, "the answer to end")
    await pilot.pause(0.1)
