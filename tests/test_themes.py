"""Theme files: the loader (no app), then switching, persisting and a broken file in the app."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from textual.widgets import OptionList
from ui_helpers import wait_for, wait_ready

from tui import paths
from tui.ui.app import BurrowApp
from tui.ui.screens.themes import ThemeScreen
from tui.ui.services import Services
from tui.ui.themes import FALLBACK_THEME, load_themes, parse_theme_text

GOOD = """name = "mine"
dark = false
primary = "#336699"
background = "white"
"""


def test_builtin_themes_load_without_problems() -> None:
    themes, problems = load_themes()
    assert problems == []
    names = {t.name for t in themes}
    assert {"burrow-dark", "burrow-light", "burrow-high-contrast", "burrow-oled"} <= names
    oled = next(t for t in themes if t.name == "burrow-oled").theme
    assert oled.background == "#000000" and oled.dark
    assert not next(t for t in themes if t.name == "burrow-light").theme.dark


def test_user_theme_is_loaded_and_overrides_a_builtin() -> None:
    (paths.user_themes_dir() / "mine.toml").write_text(GOOD)
    (paths.user_themes_dir() / "dark.toml").write_text('name = "burrow-dark"\nprimary = "red"\n')
    themes, problems = load_themes()
    assert problems == []
    by_name = {t.name: t for t in themes}
    assert by_name["mine"].source == "user" and not by_name["mine"].theme.dark
    assert by_name["burrow-dark"].theme.primary == "red"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('name = "x"\nprimary = "#12345"\n', 2, "not a colour"),
        ('name = "x"\nprimary = "#123456"\ndark = "yes"\n', 3, "true or false"),
        ('name = "x"\nprimary = "#123456\n', 2, "not valid TOML"),
        ('name = "x"\nbackground = "black"\n', None, "missing required key 'primary'"),
        ('name = "bad name"\nprimary = "red"\n', 1, "letters, digits"),
        ('name = "x"\nprimary = "red"\ntext_alpha = 3\n', 3, "from 0 to 1"),
    ],
)
def test_broken_theme_text_names_the_line_and_problem(
    text: str, line: int | None, words: str
) -> None:
    info, problems = parse_theme_text(text, Path("/t/broken.toml"))
    assert info is None
    assert problems and problems[0].line == line, problems
    assert words in problems[0].message
    assert problems[0].short.startswith("broken.toml")
    assert str(problems[0]).startswith("/t/broken.toml")


def test_unknown_key_is_reported_but_the_theme_works() -> None:
    info, problems = parse_theme_text(GOOD + 'colour = "red"\n', Path("mine.toml"))
    assert info is not None
    assert problems and "unknown key 'colour'" in problems[0].message


async def test_switch_theme_and_restart_with_it(smollm2_path: Path) -> None:
    app = BurrowApp(Services(model=str(smollm2_path)))
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app)
        await app.run_action("pick_theme")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, ThemeScreen)
        option_list = screen.query_one(OptionList)
        index = next(
            i
            for i in range(option_list.option_count)
            if option_list.get_option_at_index(i).id == "burrow-oled"
        )
        option_list.highlighted = index
        option_list.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is not screen, 10, "the sheet to close")
        assert app.theme == "burrow-oled"
    config = tomllib.loads(paths.config_file().read_text(encoding="utf-8"))
    assert config["theme"] == "burrow-oled"

    again = BurrowApp(Services(model=str(smollm2_path)), load_model=False)
    async with again.run_test(size=(40, 24)) as pilot:
        await pilot.pause(0.1)
        assert again.theme == "burrow-oled"


async def test_broken_theme_file_notifies_and_falls_back(smollm2_path: Path) -> None:
    (paths.user_themes_dir() / "sunset.toml").write_text(
        'name = "sunset"\nprimary = "#ff8800"\nbackground = "not-a-colour"\n'
    )
    paths.config_file().write_text('theme = "sunset"\n')
    app = BurrowApp(Services(model=str(smollm2_path)))
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app)
        messages = [n.message for n in app._notifications]
        assert any("sunset.toml:3" in m and "not a colour" in m for m in messages), messages
        assert any("using textual-dark" in m for m in messages), messages
        assert app.theme == FALLBACK_THEME
        # The picker still opens and lists the good themes.
        await app.run_action("pick_theme")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ThemeScreen)
        assert "sunset.toml" in str(app.screen.query_one("#theme-problems").render())
