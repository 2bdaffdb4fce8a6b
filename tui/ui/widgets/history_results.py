"""The history sheet's result list: saved conversations, or search hits with the matched
words highlighted. A :class:`~tui.ui.widgets.row_list.RowList`: every line has its own "⋯"
actions button, and one :class:`Row` per line says what it opens."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from textual.content import Content

from tui.textsafe import one_line
from tui.ui.layout import PIN_MARK
from tui.ui.widgets.row_list import Row, RowList

if TYPE_CHECKING:
    from tui.store import Conversation, SearchHit

START, END = "\x01", "\x02"
"""Marks the store puts around matched words; turned into highlighted text here."""


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


class HistoryResults(RowList):
    """Shows conversations or hits; :attr:`rows` holds what each line opens."""

    async def show_conversations(self, found: list[Conversation]) -> None:
        await self.show([(_conversation_row(c), _conversation_label(c)) for c in found])

    async def show_hits(self, found: list[SearchHit]) -> None:
        await self.show([(_hit_row(hit), _hit_label(hit)) for hit in found])


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
