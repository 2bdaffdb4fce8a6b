"""Every sheet's footer at 40 columns shows whole key labels only (keys that do not fit are
left out, never cut to "^u Unlo"), and the sheet is never painted with a blank footer row.

The app runs on ``ScriptedEngine`` (tests/doubles.py), a TEST DOUBLE of the engine. The
frames are the ones the app hands to its (headless) terminal: ``App._display`` is wrapped to
keep the bottom row of each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen
from touch_helpers import screen_lines, scripted_app
from ui_helpers import wait_for, wait_ready

from tui.ui.app import BurrowApp
from tui.ui.screens.get_models import GetModelsScreen
from tui.ui.screens.history import HistoryScreen
from tui.ui.screens.models import ModelsScreen
from tui.ui.screens.settings import SettingsScreen
from tui.ui.screens.system_prompt import SystemPromptScreen
from tui.ui.screens.templates import TemplatesScreen
from tui.ui.screens.themes import ThemeScreen
from tui.ui.screens.welcome import WelcomeScreen
from tui.ui.widgets.sheets import SheetScreen

SHEETS: list[tuple[str, type[SheetScreen]]] = [
    ("open_settings", SettingsScreen),
    ("open_models", ModelsScreen),
    ("open_templates", TemplatesScreen),
    ("open_system_prompt", SystemPromptScreen),
    ("open_history", HistoryScreen),
    ("pick_theme", ThemeScreen),
    ("open_get_models", GetModelsScreen),
    ("welcome", WelcomeScreen),
]


def cut_items(footer: str, labels: set[str]) -> list[str]:
    """The footer's items ("key label", two spaces apart) whose label is not one of the
    screen's binding descriptions, i.e. a cut one ("^u Unlo") or a bare key ("^u")."""
    keys = footer.split("▏")[0]
    items = [item.strip() for item in keys.split("  ") if item.strip()]
    return [item for item in items if item.partition(" ")[2] not in labels]


def bottom_row(app: BurrowApp) -> str:
    lines = screen_lines(app)  # none before the screen's first layout
    return lines[-1] if lines else ""


@pytest.mark.parametrize("action, kind", SHEETS, ids=[kind.__name__ for _a, kind in SHEETS])
async def test_sheet_footer_shows_whole_labels_from_the_first_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, action: str, kind: type[SheetScreen]
) -> None:
    app = scripted_app(tmp_path)
    painted: list[tuple[Screen[Any], str]] = []
    display = app._display

    def keep_bottom_row(screen: Screen[Any], renderable: Any) -> None:
        display(screen, renderable)
        if renderable is not None:
            painted.append((screen, screen._compositor.render_strips()[-1].text))

    monkeypatch.setattr(app, "_display", keep_bottom_row)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app, 10)
        if action == "welcome":
            app.push_screen(WelcomeScreen(app.services))
        else:
            await app.run_action(action)
        await wait_for(pilot, lambda: isinstance(app.screen, kind), 10, kind.__name__)
        # Read between two recomposes (the screen's bindings change as focus settles), the
        # compositor can hold a footer with no keys that is never painted; wait for the keys.
        await wait_for(pilot, lambda: bottom_row(app).startswith(" esc Close"), 10, "the keys")
        sheet = app.screen
        labels = {binding.description for _n, binding, _e, _t in sheet.active_bindings.values()}
        footer = bottom_row(app)
        assert not cut_items(footer, labels), f"cut key label in {footer!r}"

        frames = [row for screen, row in painted if screen is sheet]
        assert frames, "the sheet was never painted"
        for row in frames:
            assert row.strip(), "a frame of the sheet has a blank footer row"
            assert not cut_items(row, labels), f"a frame shows a cut key label: {row!r}"
