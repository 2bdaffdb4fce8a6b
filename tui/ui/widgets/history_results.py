"""The history sheet's result list: saved conversations, or search hits with the matched
words highlighted. One :class:`Row` per line says what it opens.

Each line is a :class:`ResultLine`: a tap on its text opens it, and its own "⋯" button
(class ``row-actions``) opens the actions for that conversation, so a finger reaches every
row's actions, not only the highlighted one's. The keyboard moves a highlight (up/down,
Enter opens, ``.`` the actions)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Static

from tui.textsafe import one_line
from tui.ui.layout import PIN_MARK

if TYPE_CHECKING:
    from tui.store import Conversation, SearchHit

START, END = "\x01", "\x02"
"""Marks the store puts around matched words; turned into highlighted text here."""


@dataclass(frozen=True)
class Row:
    conversation_id: int
    message_id: int | None
    title: str
    pinned: bool = False
    tag: str | None = None


def highlighted(text: str, style: str = "bold reverse") -> Content:
    """``text`` with the parts between START and END marks in ``style``.

    Stored text is not trusted: each piece is shown on one line with its control characters
    made visible (``^[``), since Textual passes ESC through to the terminal. The marks are
    split out first; a stray END stored in the text is dropped.
    """
    pieces: list[str | tuple[str, str]] = []
    rest = text
    while START in rest:
        before, _, tail = rest.partition(START)
        match, _, rest = tail.partition(END)
        pieces += [_safe(before), (_safe(match), style)]
    pieces.append(_safe(rest))
    return Content.assemble(*pieces)


def _safe(text: str) -> str:
    return one_line(text.replace(END, ""))


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


MORE_MARK = "⋯"
PAGE = 40
"""Lines mounted at a time: hundreds of widgets take seconds to mount on a phone, and a
screen shows about ten; the rest come with "Show more" or the keyboard moving down."""


class ResultLine(Horizontal):
    """One result: its text (a tap opens it) and its own actions button."""

    DEFAULT_CSS = """
    ResultLine { height: auto; }
    ResultLine > .row-body { width: 1fr; height: auto; padding: 0 1; }
    ResultLine > .row-actions {
        width: 5; min-width: 5; height: 2; border: none; margin: 0; padding: 0;
    }
    ResultLine.-highlight > .row-body { background: $block-cursor-blurred-background; }
    HistoryResults:focus ResultLine.-highlight > .row-body {
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
        actions.can_focus = False  # Tab goes search -> list -> buttons; "." is the key
        yield actions

    def on_click(self, event: events.Click) -> None:
        event.stop()  # the "⋯" button stops its own clicks, so this is a tap on the text
        self.post_message(HistoryResults.Opened(self.index))


class HistoryResults(VerticalScroll, can_focus=True):
    """Shows conversations or hits; :attr:`rows` holds what each line opens."""

    DEFAULT_CSS = """
    HistoryResults > #results-more { width: 100%; margin-right: 1; }
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
        for line in self.query(ResultLine):
            line.set_class(line.index == index, "-highlight")
            if line.index == index:
                line.scroll_visible(animate=False)

    async def show_conversations(self, found: list[Conversation]) -> None:
        await self._show([(_conversation_row(c), _conversation_label(c)) for c in found])

    async def show_hits(self, found: list[SearchHit]) -> None:
        await self._show([(_hit_row(hit), _hit_label(hit)) for hit in found])

    async def _show(self, lines: list[tuple[Row, Content]]) -> None:
        await self.remove_children()
        self.rows = [row for row, _ in lines]
        self.labels = [label for _, label in lines]
        await self.show_more()
        self.scroll_home(animate=False)
        self.highlighted = 0 if self.rows else None

    @property
    def shown(self) -> int:
        """How many lines are mounted (the first ones)."""
        return len(self.query(ResultLine))

    async def show_more(self) -> None:
        """Mount the next :data:`PAGE` lines, and a "Show more" button while some are left."""
        start = self.shown
        end = min(start + PAGE, len(self.rows))
        for button in self.query("#results-more"):
            await button.remove()
        await self.mount_all(ResultLine(i, self.labels[i]) for i in range(start, end))
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
        if isinstance(line, ResultLine):
            self.post_message(self.Actions(line.index))


def _conversation_row(conversation: Conversation) -> Row:
    return Row(
        conversation.id, None, one_line(conversation.title), conversation.pinned, conversation.tag
    )


def _conversation_label(conversation: Conversation) -> Content:
    details = f"{_when(conversation.updated_at)} · {conversation.message_count} messages"
    if conversation.tag:
        details += f" · #{one_line(conversation.tag)}"
    return Content.assemble(
        (f"{PIN_MARK} " if conversation.pinned else "", ""),
        (one_line(conversation.title) or "Untitled", "bold"),
        "\n",
        (details, "dim"),
    )


def _hit_row(hit: SearchHit) -> Row:
    return Row(hit.conversation_id, hit.message_id, one_line(hit.conversation_title))


def _hit_label(hit: SearchHit) -> Content:
    who = {"user": "You", "assistant": "Burrow", "system": "System"}.get(hit.role or "", "")
    title = highlighted(hit.title_highlighted or hit.conversation_title or "Untitled")
    snippet = highlighted(" ".join(hit.snippet.split()))
    parts: list[Any] = [title.stylize("bold"), "\n"]
    if who:
        parts.append((f"{who}: ", "dim"))
    parts.append(snippet)
    return Content.assemble(*parts)
