"""The scrolling column of a conversation's messages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.ui.widgets.message_view import GrowsWithoutRelayout, MessageData, MessageView

M = TypeVar("M", bound="Identified")


class Identified(Protocol):
    """A stored message, as far as the log needs it."""

    @property
    def id(self) -> int: ...


EMPTY_TEXT = "Ask anything. Answers are written on this device and never leave it."


class ConversationLog(GrowsWithoutRelayout, VerticalScroll):
    """The scrolling column of messages; a line of welcome while there are none."""

    def compose(self) -> ComposeResult:
        self._empty = Static(EMPTY_TEXT, id="empty", markup=False)
        yield self._empty

    async def add(self, view: MessageView) -> None:
        """Add a message at the end."""
        await self.mount(view)
        self._empty.display = False

    def views(self) -> list[MessageView]:
        return list(self.query(MessageView))

    def view_for(self, message_id: int | None) -> MessageView | None:
        if message_id is None:
            return None
        for view in self.query(MessageView):
            if view.message_id == message_id:
                return view
        return None

    def last(self, role: str) -> MessageView | None:
        """The last message from ``role``."""
        views = [v for v in self.query(MessageView) if v.data.role == role]
        return views[-1] if views else None

    async def sync(
        self,
        messages: Sequence[M],
        data: Callable[[M], MessageData],
        *,
        live: MessageView | None = None,
        removing: Callable[[MessageView], None] = lambda view: None,
    ) -> None:
        """Make the views show ``messages`` (from the first message that differs: a
        regenerate, edit or branch flip re-renders only the tail). ``live``, the answer
        being written, keeps what it shows; ``removing`` hears of each view before it goes."""
        views = self.views()
        for view in views:
            view.close_gap()  # the rows left under the last answer (MessageView.keep_gap)
        keep = 0
        while keep < min(len(views), len(messages)) and views[keep].message_id == messages[keep].id:
            keep += 1
        for view in views[keep:]:
            removing(view)
            await view.remove()
        for view, message in zip(views[:keep], messages[:keep], strict=True):
            if view is not live:
                view.update_data(data(message))
        new_views = [MessageView(data(m)) for m in messages[keep:]]
        if new_views:
            await self.mount_all(new_views)
        self._empty.display = not messages
