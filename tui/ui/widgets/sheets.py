"""Building blocks of the full-screen sheets (settings, models, templates, history, themes).

A sheet is a whole :class:`~textual.screen.Screen`, not a floating dialog: on a 40-column
phone a dialog would leave no room. It has a top bar with its title and a 3-cell tall
**Close** button (Esc does the same), a body, its row of ``.actions`` buttons pinned to
the bottom (so a long body never pushes them off screen) and the footer with the keys that
fit whole (:class:`~tui.ui.widgets.footer.FittingFooter`),
hidden on a short screen where every key has a button. On a wide
terminal the body is centred with a readable width.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Static

from tui.ui.layout import HORIZONTAL_BREAKPOINTS, VERTICAL_BREAKPOINTS
from tui.ui.widgets.footer import FittingFooter

if TYPE_CHECKING:
    from tui.chat.session import ChatSession

SHEET_CSS = """
SheetScreen {
    layout: vertical;
    background: $background;
}
SheetScreen > #sheet-bar {
    height: 3;
    background: $panel;
}
SheetScreen > #sheet-bar > #sheet-title {
    width: 1fr;
    height: 3;
    padding: 0 1;
    content-align: left middle;
    text-style: bold;
    text-wrap: nowrap;
    text-overflow: ellipsis;
}
SheetScreen > #sheet-bar > Button { width: auto; min-width: 9; }
SheetScreen > #sheet-body {
    height: 1fr;
    width: 100%;
    max-width: 120;
    align-horizontal: center;
}
SheetScreen .actions {
    dock: bottom;
    height: auto;
    max-height: 7;
    layout: grid;
    grid-size: 3;
    grid-gutter: 0 1;
    grid-rows: 3;
    padding: 0 1;
}
SheetScreen.-compact .actions { grid-size: 2; }
SheetScreen.-short > Footer { display: none; }
SheetScreen .actions Button { width: 1fr; min-width: 0; }
SheetScreen .muted { color: $text-muted; }
SheetScreen .error-text { color: $text-error; }
"""


class SheetScreen(Screen[Any]):
    """A full-screen sheet: title bar with Close, a body from :meth:`compose_body`, footer."""

    DEFAULT_CSS = SHEET_CSS
    TITLE_TEXT = "Sheet"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]
    HORIZONTAL_BREAKPOINTS = HORIZONTAL_BREAKPOINTS
    VERTICAL_BREAKPOINTS = VERTICAL_BREAKPOINTS

    def compose(self) -> ComposeResult:
        with Horizontal(id="sheet-bar"):
            yield Static(self.TITLE_TEXT, id="sheet-title", markup=False)
            yield Button("Close", id="sheet-close", action="screen.close")
        with Vertical(id="sheet-body"):
            yield from self.compose_body()
        yield FittingFooter()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def result(self) -> Any:
        """What the sheet dismisses with (goes to ``BurrowApp.sheet_closed``)."""
        return None

    def action_close(self) -> None:
        self.dismiss(self.result())

    @property
    def session(self) -> ChatSession | None:
        """The chat screen's open conversation (None before the chat screen exists)."""
        chat = getattr(self.app, "chat", None)
        return getattr(chat, "session", None)


PROMPT_CSS = """
TextPromptSheet {
    align: center middle;
    background: $background 60%;
}
TextPromptSheet > Vertical {
    width: 64;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    padding: 1 2;
    background: $surface;
    border: thick $primary 60%;
}
TextPromptSheet.-compact > Vertical { padding: 0 1; }
TextPromptSheet #prompt-question { margin-bottom: 1; }
TextPromptSheet #prompt-error { color: $text-error; height: auto; }
TextPromptSheet Grid { grid-size: 2; grid-gutter: 0 1; height: auto; grid-rows: 3; }
TextPromptSheet Button { width: 1fr; min-width: 0; }
/* With the soft keyboard up: no frame, so a list to pick from (Import) keeps some rows. */
TextPromptSheet.-short > Vertical { border: none; padding: 0 1; }
TextPromptSheet.-short #prompt-question { margin-bottom: 0; }
"""


class TextPromptSheet(ModalScreen[str | None]):
    """Ask for one line of text. With ``must_equal`` it is a typed confirmation."""

    DEFAULT_CSS = PROMPT_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]
    HORIZONTAL_BREAKPOINTS = HORIZONTAL_BREAKPOINTS
    VERTICAL_BREAKPOINTS = VERTICAL_BREAKPOINTS

    def __init__(
        self,
        question: str,
        *,
        value: str = "",
        placeholder: str = "",
        ok: str = "OK",
        must_equal: str | None = None,
        danger: bool = False,
    ) -> None:
        super().__init__()
        self._question = question
        self._value = value
        self._placeholder = placeholder
        self._ok = ok
        self._must_equal = must_equal
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._question, id="prompt-question", markup=False)
            # Not selected on focus: a prefilled folder is where the user goes on typing,
            # and a selected value would be replaced by the first key.
            self._input = Input(
                self._value,
                placeholder=self._placeholder,
                id="prompt-input",
                select_on_focus=False,
            )
            yield self._input
            self._error = Static("", id="prompt-error", markup=False)
            yield self._error
            yield from self.compose_extra()
            with Grid():
                yield Button(
                    self._ok,
                    id="prompt-ok",
                    variant="error" if self._danger else "primary",
                    action="screen.submit",
                )
                yield Button("Cancel", id="prompt-cancel", action="screen.dismiss(None)")

    def compose_extra(self) -> ComposeResult:
        """More between the field and the buttons (a list to pick from)."""
        yield from ()

    def on_mount(self) -> None:
        self._input.focus()
        self._input.cursor_position = len(self._value)

    def action_submit(self) -> None:
        text = self._input.value
        if self._must_equal is not None and text.strip() != self._must_equal:
            self._error.update(f"Type {self._must_equal!r} exactly to confirm.")
            return
        self.dismiss(text)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()
