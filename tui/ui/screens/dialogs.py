"""Small modal sheets the chat screen uses: a message's actions, and a yes/no question."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.textsafe import one_line
from tui.ui.layout import VERTICAL_BREAKPOINTS

SHEET_CSS = """
MessageActionsSheet, ConfirmSheet {
    align: center middle;
    background: $background 60%;
}
.sheet {
    width: 60;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    padding: 1 2;
    background: $surface;
    border: thick $primary 60%;
}
.sheet > .sheet--title { text-style: bold; margin-bottom: 1; }
.sheet > Grid { grid-size: 2; grid-gutter: 0 1; height: auto; grid-rows: 3; }
.sheet Button { width: 1fr; min-width: 0; }
/* With the soft keyboard up (40x14) four rows of big buttons (seven actions and Close) only
   fit without the frame and with the title on one line. */
MessageActionsSheet.-short .sheet, ConfirmSheet.-short .sheet { border: none; padding: 0 1; }
MessageActionsSheet.-short .sheet > .sheet--title {
    margin-bottom: 0;
    text-wrap: nowrap;
    text-overflow: ellipsis;
}
"""


class MessageActionsSheet(ModalScreen[str | None]):
    """Big buttons for one message's actions: dismisses with the chosen action's name."""

    DEFAULT_CSS = SHEET_CSS
    VERTICAL_BREAKPOINTS = VERTICAL_BREAKPOINTS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, title: str, actions: list[tuple[str, str]]) -> None:
        """``actions`` are (action name, button label) pairs."""
        super().__init__()
        self._title = one_line(title)  # often a stored title: control characters visible
        self._actions = actions

    def compose(self) -> ComposeResult:
        with Vertical(classes="sheet"):
            yield Static(self._title, classes="sheet--title", markup=False)
            with Grid():
                for name, label in self._actions:
                    yield Button(label, id=f"act-{name}", name=name)
                yield Button("Close", id="act-close", variant="default")

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None if event.button.id == "act-close" else event.button.name)


class ConfirmSheet(ModalScreen[bool]):
    """A question with two big answers."""

    DEFAULT_CSS = SHEET_CSS
    VERTICAL_BREAKPOINTS = VERTICAL_BREAKPOINTS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "dismiss(False)", "No"),
        Binding("y", "dismiss(True)", "Yes"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__()
        self._question = question
        self._yes = yes
        self._no = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="sheet"):
            yield Static(self._question, classes="sheet--title", markup=False)
            with Grid():
                yield Button(
                    self._yes, id="confirm-yes", variant="error", action="screen.dismiss(True)"
                )
                self._no_button = Button(self._no, id="confirm-no", action="screen.dismiss(False)")
                yield self._no_button

    def on_mount(self) -> None:
        self._no_button.focus()
