"""One message in the conversation: role, Markdown body, stats; tap or Enter for its actions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream


@dataclass(frozen=True)
class MessageData:
    """What the view shows of a stored message (the UI never sees store rows)."""

    id: int | None
    role: str  # "user" | "assistant" | "system"
    text: str
    status: str = "done"  # "done" | "streaming" | "cancelled" | "failed" | "length"
    meta: str = ""  # stats line under an answer
    branch_index: int = 1
    branch_count: int = 1


ROLE_LABELS = {"user": "You", "assistant": "Burrow", "system": "System"}


class MessageView(Vertical, can_focus=True):
    """A focusable message. Keys act on it; a tap opens its action sheet."""

    DEFAULT_CSS = """
    MessageView {
        height: auto;
        margin: 0 0 1 0;
        padding: 0 1;
        background: $boost;
        border-left: outer $foreground 20%;
    }
    MessageView.-user { border-left: outer $primary; background: $primary 8%; }
    MessageView.-assistant { border-left: outer $secondary; }
    MessageView.-failed { border-left: outer $error; }
    MessageView:focus { background: $primary 20%; }
    MessageView > .message--header { color: $text-muted; text-style: bold; height: 1; }
    MessageView > .message--meta { color: $text-muted; height: auto; }
    MessageView > .message--meta.-empty { display: none; }
    MessageView > Markdown { margin: 0; padding: 0; background: transparent; }
    MessageView > Markdown > MarkdownBlock:last-child { margin-bottom: 0; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,space", "menu", "Actions"),
        Binding("c", "act('copy')", "Copy"),
        Binding("r", "act('regenerate')", "Regen"),
        Binding("e", "act('edit')", "Edit"),
        Binding("n", "act('continue')", "Continue", show=False),
        Binding("d,delete", "act('delete')", "Delete", show=False),
        Binding("left,comma", "act('branch_prev')", "Prev branch", show=False),
        Binding("right,full_stop", "act('branch_next')", "Next branch", show=False),
        Binding("up", "app.focus_previous", "Up", show=False),
        Binding("down", "app.focus_next", "Down", show=False),
    ]

    class Action(Message):
        """The user asked for ``action`` on this message (``menu`` opens the action sheet)."""

        def __init__(self, view: MessageView, action: str) -> None:
            super().__init__()
            self.view = view
            self.action = action

    def __init__(self, data: MessageData) -> None:
        super().__init__(classes=f"-{data.role}")
        self.data = data
        self._stream: MarkdownStream | None = None
        self._streamed: list[str] = []

    @property
    def message_id(self) -> int | None:
        return self.data.id

    def compose(self) -> ComposeResult:
        yield Static(self._header_text(), classes="message--header", markup=False)
        yield Markdown(self.data.text, open_links=False)
        yield Static(self.data.meta, classes="message--meta", markup=False)

    def on_mount(self) -> None:
        self._apply_status()

    def _header_text(self) -> str:
        label = ROLE_LABELS.get(self.data.role, self.data.role)
        if self.data.branch_count > 1:
            label += f"  ‹ {self.data.branch_index}/{self.data.branch_count} ›"
        return label

    def _apply_status(self) -> None:
        self.set_class(self.data.status == "failed", "-failed")
        meta = self.query_one(".message--meta", Static)
        meta.set_class(not self.data.meta, "-empty")

    def update_data(self, data: MessageData) -> None:
        """Show new metadata (stats, status, branch); the body only if its text changed."""
        old = self.data
        self.data = data
        self.query_one(".message--header", Static).update(self._header_text())
        self.query_one(".message--meta", Static).update(data.meta)
        if data.text != old.text and self._stream is None:
            self.query_one(Markdown).update(data.text)
        self._apply_status()

    # streaming -----------------------------------------------------------------

    @property
    def text(self) -> str:
        return self.data.text if self._stream is None else self.data.text + "".join(self._streamed)

    def start_stream(self) -> None:
        self._streamed = []
        self._stream = Markdown.get_stream(self.query_one(Markdown))

    async def append(self, fragment: str) -> None:
        if self._stream is None:
            self.start_stream()
        assert self._stream is not None
        self._streamed.append(fragment)
        await self._stream.write(fragment)

    async def stop_stream(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.stop()
            self.data = replace(self.data, text=self.data.text + "".join(self._streamed))
            self._streamed = []
            # One full render at the end: appended fragments are parsed piecewise, which can
            # differ in small ways (spacing around inline markup) from the whole text.
            await self.query_one(Markdown).update(self.data.text)

    # input ---------------------------------------------------------------------

    def on_click(self) -> None:
        self.focus()
        self.post_message(self.Action(self, "menu"))

    def action_menu(self) -> None:
        self.post_message(self.Action(self, "menu"))

    def action_act(self, action: str) -> None:
        self.post_message(self.Action(self, action))
