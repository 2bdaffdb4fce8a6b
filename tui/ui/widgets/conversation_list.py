"""The conversation list: a quick filter, a New chat button, pinned first then by activity."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, OptionList
from textual.widgets.option_list import Option

from tui.textsafe import one_line
from tui.ui.layout import PIN_MARK


@dataclass(frozen=True)
class ConversationItem:
    """What the list shows of a stored conversation."""

    id: int
    title: str
    pinned: bool = False
    when: str = ""  # short "last activity" text


class ConversationList(Vertical):
    """Lists conversations; posts Selected / NewChat. Knows nothing about the store."""

    DEFAULT_CSS = """
    ConversationList {
        width: 34;
        height: 1fr;
        background: $panel;
        border-right: vkey $foreground 15%;
    }
    ConversationList > #chats-new { width: 1fr; margin: 0 1; }
    ConversationList > #chats-filter { margin: 0 1; }
    ConversationList > OptionList {
        height: 1fr;
        background: transparent;
        padding: 0;
    }
    ConversationList > OptionList.-textual-compact > .option-list--option { padding: 0 1; }
    """

    class Selected(Message):
        def __init__(self, conversation_id: int) -> None:
            super().__init__()
            self.conversation_id = conversation_id

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
        # compact: no border, focused or not. A border gained on focus (the tap's mouse-down)
        # would move every row down one line before the mouse-up picks the row.
        self._options = OptionList(id="chats-options", compact=True)
        yield self._options

    def focus_filter(self) -> None:
        self._filter.focus()

    def set_items(self, items: list[ConversationItem], current: int | None) -> None:
        # Pinned first, then the store's order (most recent activity first).
        self._items = sorted(items, key=lambda item: not item.pinned)
        self._current = current
        self._refill()

    def _refill(self) -> None:
        needle = self._filter.value.strip().casefold()
        options = self._options
        options.clear_options()
        highlight: int | None = None
        for item in self._items:
            if needle and needle not in item.title.casefold():
                continue
            prefix = "● " if item.id == self._current else "  "
            if item.pinned:
                prefix += f"{PIN_MARK} "
            # Titles are stored text: plain text, never markup, control characters visible.
            label = Content.assemble(
                f"{prefix}{one_line(item.title) or 'Untitled'}",
                (f"\n  {item.when}", "dim") if item.when else "",
            )
            if item.id == self._current:
                highlight = options.option_count
            options.add_option(Option(label, id=str(item.id)))
        if highlight is not None:
            options.highlighted = highlight

    @on(Input.Changed, "#chats-filter")
    def _filter_changed(self) -> None:
        self._refill()

    @on(Input.Submitted, "#chats-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        """Enter in the filter opens the first conversation it shows."""
        event.stop()
        if self._options.option_count:
            first = self._options.get_option_at_index(0)
            if first.id is not None:
                self.post_message(self.Selected(int(first.id)))
                return
        self._options.focus()

    @on(OptionList.OptionSelected, "#chats-options")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Selected(int(event.option.id)))

    @on(Button.Pressed, "#chats-new")
    def _new(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.NewChat())
