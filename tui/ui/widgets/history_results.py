"""The history sheet's result list: saved conversations, or search hits with the matched
words highlighted. One :class:`Row` per option says what the option opens."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.textsafe import one_line

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


class HistoryResults(OptionList):
    """Shows conversations or hits; :attr:`rows` holds what each option opens."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[Row] = []

    def show_conversations(self, found: list[Conversation]) -> None:
        self._clear()
        for conversation in found:
            self._add_conversation(conversation)
        self._highlight_first()

    def show_hits(self, found: list[SearchHit]) -> None:
        self._clear()
        for hit in found:
            self._add_hit(hit)
        self._highlight_first()

    def current_row(self) -> Row | None:
        index = self.highlighted
        if index is None or not 0 <= index < len(self.rows):
            return None
        return self.rows[index]

    def _clear(self) -> None:
        self.clear_options()
        self.rows = []

    def _highlight_first(self) -> None:
        if self.rows:
            self.highlighted = 0

    def _add_conversation(self, conversation: Conversation) -> None:
        self.rows.append(
            Row(
                conversation.id,
                None,
                one_line(conversation.title),
                conversation.pinned,
                conversation.tag,
            )
        )
        details = f"{_when(conversation.updated_at)} · {conversation.message_count} messages"
        if conversation.tag:
            details += f" · #{one_line(conversation.tag)}"
        label = Content.assemble(
            ("📌 " if conversation.pinned else "", ""),
            (one_line(conversation.title) or "Untitled", "bold"),
            "\n",
            (details, "dim"),
        )
        self.add_option(Option(label))

    def _add_hit(self, hit: SearchHit) -> None:
        self.rows.append(Row(hit.conversation_id, hit.message_id, one_line(hit.conversation_title)))
        who = {"user": "You", "assistant": "Burrow", "system": "System"}.get(hit.role or "", "")
        title = highlighted(hit.title_highlighted or hit.conversation_title or "Untitled")
        snippet = highlighted(" ".join(hit.snippet.split()))
        parts: list[Any] = [title.stylize("bold"), "\n"]
        if who:
            parts.append((f"{who}: ", "dim"))
        parts.append(snippet)
        self.add_option(Option(Content.assemble(*parts)))
