"""A list of tappable rows, each with its own "⋯" actions button: History's results and the
chat screen's conversation list. One :class:`Row` per line says which conversation it is.

Each line is a :class:`RowLine`: a tap on its text opens it, and its own "⋯" button (class
``row-actions``) opens the actions for that conversation, so a finger reaches every row's
actions, not only the highlighted one's. The keyboard moves a highlight (up/down, Enter
opens, ``.`` the actions). Nothing gains a border on focus: a border gained on a tap's
mouse-down would move every row down a line before the mouse-up picks one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Static

MORE_MARK = "⋯"
PAGE = 40
"""Lines mounted at a time: hundreds of widgets take seconds to mount on a phone, and a
screen shows about ten; the rest come with "Show more" or the keyboard moving down."""


@dataclass(frozen=True)
class Row:
    conversation_id: int
    message_id: int | None
    title: str
    pinned: bool = False
    tag: str | None = None


class RowLine(Horizontal):
    """One row: its text (a tap opens it) and its own actions button."""

    DEFAULT_CSS = """
    RowLine { height: auto; }
    RowLine > .row-body { width: 1fr; height: auto; padding: 0 1; }
    RowLine > .row-actions {
        width: 5; min-width: 5; height: 2; border: none; margin: 0; padding: 0;
    }
    RowLine.-highlight > .row-body { background: $block-cursor-blurred-background; }
    RowList:focus RowLine.-highlight > .row-body {
        background: $block-cursor-background; color: $block-cursor-foreground;
    }
    """

    def __init__(self, index: int, label: Content) -> None:
        super().__init__()
        self.index = index
        self.label = label

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="row-body")
        actions = Button(MORE_MARK, classes="row-actions", compact=True)
        actions.can_focus = False  # Tab goes to the list, not to each button; "." is the key
        yield actions

    def on_click(self, event: events.Click) -> None:
        event.stop()  # the "⋯" button stops its own clicks, so this is a tap on the text
        list_ = self.parent
        if isinstance(list_, RowList):
            list_.post_message(RowList.Opened(self.index))


class RowList(VerticalScroll, can_focus=True):
    """Shows rows; :attr:`rows` holds which conversation each line is."""

    DEFAULT_CSS = """
    RowList > #results-more { width: 100%; margin-right: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("enter", "open", "Open", show=False),
        Binding("full_stop", "actions", "Actions", show=False),
    ]

    class Opened(Message):
        """The line at ``index`` was tapped or chosen with Enter."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class Actions(Message):
        """The "⋯" of the line at ``index`` was tapped (or ``.`` pressed on it)."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[Row] = []
        self.labels: list[Content] = []
        self._highlighted: int | None = None

    @property
    def highlighted(self) -> int | None:
        return self._highlighted

    @highlighted.setter
    def highlighted(self, index: int | None) -> None:
        self._highlighted = index
        for line in self.query(RowLine):
            line.set_class(line.index == index, "-highlight")
            if line.index == index:
                line.scroll_visible(animate=False)

    async def show(self, lines: list[tuple[Row, Content]], highlight: int | None = 0) -> None:
        """Show these lines (the first page of them), highlighting line ``highlight``."""
        await self.remove_children()
        self.rows = [row for row, _ in lines]
        self.labels = [label for _, label in lines]
        if highlight is not None and highlight >= PAGE:
            highlight = None  # not mounted yet: no highlight rather than a jump
        await self.show_more()
        self.scroll_home(animate=False)
        self.highlighted = highlight if self.rows else None

    @property
    def shown(self) -> int:
        """How many lines are mounted (the first ones)."""
        return len(self.query(RowLine))

    async def show_more(self) -> None:
        """Mount the next :data:`PAGE` lines, and a "Show more" button while some are left."""
        start = self.shown
        end = min(start + PAGE, len(self.rows))
        for button in self.query("#results-more"):
            await button.remove()
        await self.mount_all(RowLine(i, self.labels[i]) for i in range(start, end))
        if end < len(self.rows):
            more = Button(f"Show more ({len(self.rows) - end} left)", id="results-more")
            more.can_focus = False
            await self.mount(more)

    def current_row(self) -> Row | None:
        index = self.highlighted
        if index is None or not 0 <= index < len(self.rows):
            return None
        return self.rows[index]

    async def action_move(self, step: int) -> None:
        if self.rows:
            current = self.highlighted if self.highlighted is not None else -step
            target = max(0, min(len(self.rows) - 1, current + step))
            if target >= self.shown:
                await self.show_more()
            self.highlighted = target

    @on(Button.Pressed, "#results-more")
    async def _more_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        await self.show_more()

    def action_open(self) -> None:
        if self.current_row() is not None and self.highlighted is not None:
            self.post_message(self.Opened(self.highlighted))

    def action_actions(self) -> None:
        if self.current_row() is not None and self.highlighted is not None:
            self.post_message(self.Actions(self.highlighted))

    @on(Button.Pressed, ".row-actions")
    def _actions_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        line = event.button.parent
        if isinstance(line, RowLine):
            self.post_message(self.Actions(line.index))
