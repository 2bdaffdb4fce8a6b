"""Colour themes: TOML files mapped onto :class:`textual.theme.Theme`.

Built-in themes live in ``themes/*.toml`` (``paths.builtin_themes_dir()``); the user's own go
in ``paths.user_themes_dir()`` and override a built-in of the same name. A file that cannot
be used is reported as a :class:`~tui.tomlfiles.FileProblem` (file, line when known, what is
wrong) and left out; nothing here raises on a bad file. :func:`install_themes` registers them
with the app, applies the configured theme (falling back to :data:`FALLBACK_THEME` with a
notification) and saves the user's later choices to ``config.toml``.

The file format is documented in ``docs/themes.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

from tui import paths
from tui.tomlfiles import FileProblem, load_toml_dirs, read_toml

if TYPE_CHECKING:
    from textual.app import App

    from tui.ui.services import Services

FALLBACK_THEME = "textual-dark"
"""Always available (Textual ships it), so a fallback can never fail."""

COLOR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
KNOWN_KEYS = frozenset(
    {"name", "description", "dark", "luminosity_spread", "text_alpha", "variables", *COLOR_KEYS}
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class ThemeInfo:
    """A usable theme and where it came from."""

    theme: Theme
    description: str = ""
    source: str = "builtin"
    """``builtin``, ``user`` or ``textual`` (one of Textual's own)."""
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.theme.name


def parse_theme_text(
    text: str, path: Path, *, source: str = "user"
) -> tuple[ThemeInfo | None, list[FileProblem]]:
    """Validate theme TOML into a Textual ``Theme``; None and the problems when unusable."""
    data, problems = read_toml(text, path)
    if data is None:
        return None, problems
    fatal = False

    def problem(key: str | None, message: str, *, is_fatal: bool = True) -> None:
        nonlocal fatal
        problems.add(key, message)
        fatal = fatal or is_fatal

    for key in data:
        if key not in KNOWN_KEYS:
            problem(key, f"unknown key {key!r} (ignored)", is_fatal=False)
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problem("name", "name may use only letters, digits, '.', '_' and '-'")
    description = data.get("description", "")
    if not isinstance(description, str):
        problem("description", "description must be a string")
    values: dict[str, Any] = {}
    if "primary" not in data:
        problem(None, "missing required key 'primary' (a colour such as \"#4C8DF6\")")
    for key in COLOR_KEYS:
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, str):
            problem(key, f'{key} must be a colour string such as "#4C8DF6"')
            continue
        try:
            Color.parse(value)
        except ColorParseError:
            problem(key, f'{key}: {value!r} is not a colour (use "#rrggbb" or a colour name)')
            continue
        values[key] = value
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        problem("dark", "dark must be true or false")
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                problem(key, f"{key} must be a number from 0 to 1")
            else:
                values[key] = float(value)
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        problem("variables", "[variables] must map names to strings")
        variables = {}
    if fatal:
        return None, problems
    assert isinstance(name, str) and isinstance(description, str) and isinstance(dark, bool)
    theme = Theme(name=name, dark=dark, variables=dict(variables), **values)
    try:
        theme.to_color_system().generate()
    except Exception as exc:  # Textual's own check of the colours: report, never crash
        return None, [*problems, FileProblem(path, None, f"Textual cannot use it: {exc}")]
    return ThemeInfo(theme, description, source, path), problems


def load_themes(
    *, builtin_dir: Path | None = None, user_dir: Path | None = None
) -> tuple[list[ThemeInfo], list[FileProblem]]:
    """Built-in themes, then the user's (same name overrides). Never raises."""
    found, problems = load_toml_dirs(
        [
            (builtin_dir or paths.builtin_themes_dir(), "builtin"),
            (user_dir or paths.user_themes_dir(), "user"),
        ],
        lambda text, file, source: parse_theme_text(text, file, source=source),
        lambda info: info.name,
    )
    return list(found.values()), problems


def all_themes(app: App[Any]) -> list[ThemeInfo]:
    """Burrow's themes (built-in and user) first, then Textual's own, for the picker."""
    burrow: list[ThemeInfo] = getattr(app, "burrow_themes", [])
    names = {info.name for info in burrow}
    textual_themes = [
        ThemeInfo(theme, "One of Textual's own themes.", "textual")
        for name, theme in sorted(app.available_themes.items())
        if name not in names and name != "textual-ansi"
    ]
    return [*burrow, *textual_themes]


def install_themes(app: App[Any], services: Services) -> None:
    """Register every theme, apply the configured one, and remember later changes.

    Problems become notifications naming the file and what is wrong; an unknown or broken
    configured theme falls back to :data:`FALLBACK_THEME`.
    """
    infos, problems = load_themes()
    for info in infos:
        app.register_theme(info.theme)
    app.burrow_themes = infos  # type: ignore[attr-defined]
    for problem in problems:
        app.notify(problem.short, title="Theme file", severity="error", timeout=12)
    wanted = str(services.settings.theme)
    if wanted in app.available_themes:
        app.theme = wanted
    else:
        app.notify(
            f"theme {wanted!r} is not available (see the theme file messages); "
            f"using {FALLBACK_THEME}",
            title="Theme",
            severity="warning",
            timeout=12,
        )
        app.theme = FALLBACK_THEME

    def remember(theme: Theme) -> None:
        save_theme_choice(app, services, theme.name)

    app.theme_changed_signal.subscribe(app, remember)


def save_theme_choice(app: App[Any], services: Services, name: str) -> None:
    """Persist ``name`` as the theme (only when it changed); a write failure is shown."""
    from tui.settings import SettingsError, set_config_value

    if name == services.settings.theme:
        return
    services.set_settings(services.settings.replace(theme=name))
    try:
        set_config_value("theme", name)
    except (SettingsError, OSError) as exc:
        app.notify(f"theme not saved: {exc}", title="Theme", severity="error")
