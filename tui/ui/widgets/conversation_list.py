"""The conversation list: a quick filter, a New chat button, pinned first then by activity.

A :class:`~tui.ui.widgets.row_list.RowList`: a tap on a row opens it, its "⋯" button asks
for that conversation's actions (rename, pin, export, delete, ...)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input

from tui.textsafe import one_line
from tui.ui.layout import PIN_MARK
from tui.ui.widgets.row_list import Row, RowList


@dataclass(frozen=True)
class ConversationItem:
    """What the list shows of a stored conversation."""

    id: int
    title: str
    pinned: bool = False
    when: str = ""  # short "last activity" text


class ConversationList(Vertical):
    """Lists conversations; posts Selected / Actions / NewChat. Knows nothing about the store."""

    DEFAULT_CSS = """
    ConversationList {
        width: 34;
        height: 1fr;
        background: $panel;
        border-right: vkey $foreground 15%;
    }
    ConversationList > #chats-new { width: 1fr; margin: 0 1; }
    ConversationList > #chats-filter { margin: 0 1; }
    ConversationList > RowList {
        height: 1fr;
        background: transparent;
        padding: 0;
        scrollbar-size-vertical: 1;
    }
    """

    class Selected(Message):
        def __init__(self, conversation_id: int) -> None:
            super().__init__()
            self.conversation_id = conversation_id

    class Actions(Message):
        """The "⋯" of a row was tapped: that conversation's actions are wanted."""

        def __init__(self, row: Row) -> None:
            super().__init__()
            self.row = row

    class NewChat(Message):
        pass

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._items: list[ConversationItem] = []
        self._current: int | None = None

    def compose(self) -> ComposeResult:
        yield Button("+ New chat", id="chats-new", variant="primary")
        self._filter = Input(placeholder="Filter chats", id="chats-filter")
        yield self._filter
        self._rows = RowList(id="chats-options")
        yield self._rows

    @property
    def rows(self) -> list[Row]:
        """The rows shown (filtered), in order."""
        return self._rows.rows

    def focus_filter(self) -> None:
        self._filter.focus()

    def set_items(self, items: list[ConversationItem], current: int | None) -> None:
        # Pinned first, then the store's order (most recent activity first).
        self._items = sorted(items, key=lambda item: not item.pinned)
        self._current = current
        self._refill()

    @work(group="refill", exclusive=True)
    async def _refill(self) -> None:
        needle = self._filter.value.strip().casefold()
        lines: list[tuple[Row, Content]] = []
        highlight: int | None = None
        for item in self._items:
            if needle and needle not in item.title.casefold():
                continue
            prefix = "● " if item.id == self._current else ""
            if item.pinned:
                prefix += f"{PIN_MARK} "
            # Titles are stored text: plain text, never markup, control characters visible.
            title = one_line(item.title)
            label = Content.assemble(
                f"{prefix}{title or 'Untitled'}",
                (f"\n{item.when}", "dim") if item.when else "",
            )
            if item.id == self._current:
                highlight = len(lines)
            lines.append((Row(item.id, None, title, item.pinned), label))
        await self._rows.show(lines, highlight)

    @on(Input.Changed, "#chats-filter")
    def _filter_changed(self) -> None:
        self._refill()

    @on(Input.Submitted, "#chats-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        """Enter in the filter opens the first conversation it shows."""
        event.stop()
        if self._rows.rows:
            self.post_message(self.Selected(self._rows.rows[0].conversation_id))
        else:
            self._rows.focus()

    @on(RowList.Opened)
    def _opened(self, event: RowList.Opened) -> None:
        event.stop()
        if 0 <= event.index < len(self._rows.rows):
            self.post_message(self.Selected(self._rows.rows[event.index].conversation_id))

    @on(RowList.Actions)
    def _actions(self, event: RowList.Actions) -> None:
        event.stop()
        if 0 <= event.index < len(self._rows.rows):
            self._rows.highlighted = event.index
            self.post_message(self.Actions(self._rows.rows[event.index]))

    @on(Button.Pressed, "#chats-new")
    def _new(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.NewChat())
