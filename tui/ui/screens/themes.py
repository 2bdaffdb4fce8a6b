"""The theme picker: Burrow's themes, the user's own and Textual's; the choice is saved."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui import paths
from tui.ui.themes import all_themes, load_themes
from tui.ui.widgets.sheets import SheetScreen

if TYPE_CHECKING:
    from tui.ui.services import Services


class ThemeScreen(SheetScreen):
    """Tap a theme (or move with the arrows and press Enter) to use it from now on."""

    TITLE_TEXT = "Themes"
    DEFAULT_CSS = """
    ThemeScreen #theme-list { height: 1fr; border: none; padding: 0 1; }
    ThemeScreen #theme-list > .option-list--option { padding: 0 1; }
    ThemeScreen #theme-help { height: auto; padding: 0 1; color: $text-muted; }
    ThemeScreen #theme-problems { height: auto; padding: 0 1; color: $text-error; }
    """

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    def compose_body(self) -> ComposeResult:
        yield Static(
            f"Tap a theme to use it. Your own: {paths.user_themes_dir()} (docs/themes.md).",
            id="theme-help",
            markup=False,
        )
        yield OptionList(id="theme-list")
        yield Static("", id="theme-problems", markup=False)

    def on_mount(self) -> None:
        options = []
        current = self.app.theme
        for info in all_themes(self.app):
            mark = "● " if info.name == current else "  "
            if info.source == "textual":
                label = Content.assemble((mark + info.name, "bold"), (" · textual", "dim"))
            else:
                label = Content.assemble(
                    (mark + info.name, "bold"),
                    (f" · {info.source}", "dim"),
                    "\n  ",
                    (info.description, "dim"),
                )
            options.append(Option(label, id=info.name))
        option_list = self.query_one(OptionList)
        option_list.add_options(options)
        for index, option in enumerate(options):
            if option.id == current:
                option_list.highlighted = index
        problems = load_themes()[1]
        self.query_one("#theme-problems", Static).update(
            "\n".join(f"Not used: {p.short}" for p in problems)
        )
        self.query_one("#theme-problems").display = bool(problems)
        option_list.focus()

    @on(OptionList.OptionSelected, "#theme-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        name = event.option.id
        if name and name in self.app.available_themes:
            self.app.theme = name  # the app saves the choice (tui.ui.themes.install_themes)
            self.notify(f"Theme: {name}", timeout=2)
            self.dismiss(name)

    def result(self) -> str | None:
        return None
