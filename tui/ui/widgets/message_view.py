"""One message in the conversation: role, Markdown body, stats; tap or Enter for its actions."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import cache
from typing import ClassVar

from markdown_it import MarkdownIt
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.visual import visualize
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownBlock


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


#: While an answer streams, finished blocks are formatted (moved into the Markdown body)
#: at most this often (seconds); until then they show as plain text.
FORMAT_EVERY = 2.0

ROLE_LABELS = {"user": "You", "assistant": "Burrow", "system": "System"}


@cache
def _markdown_parser() -> MarkdownIt:
    """One parser for every message (Textual's Markdown builds a new one per append)."""
    return MarkdownIt("gfm-like")


class GrowsWithoutRelayout:
    """For widgets that grow while an answer streams: the message, its Markdown blocks, and
    the conversation log around them.

    After each layout pass Textual sets every resized widget's ``virtual_size`` reactive,
    which asks for a second, identical layout pass (scrollbars are updated without it, and a
    scrollbar that appears or goes asks for its own pass). That doubled the frames, and the
    UI's CPU, of a streaming answer (issue 7). Textual is pinned, and
    ``tests/test_ui_streaming.py`` counts the layout passes per update, so a Textual change
    here shows up as a failing test, not a slow app."""

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        return super()._size_updated(  # type: ignore[misc, no-any-return]
            size, virtual_size, container_size, layout=False
        )


@cache
def _quiet_block(block: type[MarkdownBlock]) -> type[MarkdownBlock]:
    """``block`` (a paragraph, list, code fence, ...) with :class:`GrowsWithoutRelayout`;
    same name, so the same CSS applies."""
    return type(block.__name__, (GrowsWithoutRelayout, block), {})


class AnswerMarkdown(GrowsWithoutRelayout, Markdown):
    """A message body: Markdown with a shared parser and one layout pass per update."""

    def __init__(self, markdown: str) -> None:
        super().__init__(markdown, open_links=False, parser_factory=_markdown_parser)

    def get_block_class(self, block_name: str) -> type[MarkdownBlock]:
        return _quiet_block(super().get_block_class(block_name))


class MessageView(GrowsWithoutRelayout, Vertical, can_focus=True):
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
    MessageView > .message--tail { height: auto; display: none; }
    MessageView.-streaming > .message--tail { display: block; }
    MessageView.-streaming > .message--tail.-empty { display: none; }
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
        self._streaming = False
        self._streamed: list[str] = []
        self._tail = ""  # streamed text not yet in the Markdown body
        self._formatted_at = 0.0

    @property
    def message_id(self) -> int | None:
        return self.data.id

    def compose(self) -> ComposeResult:
        yield Static(self._header_text(), classes="message--header", markup=False)
        yield AnswerMarkdown(self.data.text)
        yield LiveTail(classes="message--tail -empty", markup=False)
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
        if data.text != old.text and not self._streaming:
            self.query_one(Markdown).update(data.text)
        self._apply_status()

    # streaming -----------------------------------------------------------------

    @property
    def text(self) -> str:
        return self.data.text + "".join(self._streamed) if self._streaming else self.data.text

    def start_stream(self) -> None:
        self._streamed = []
        self._tail = ""
        self._formatted_at = time.monotonic()
        self._streaming = True
        self.add_class("-streaming")

    async def append(self, fragment: str) -> None:
        """Add text to the answer being written. The caller paces the calls (a few a second).

        The text shows at once as plain text at the end of the answer; every
        ``FORMAT_EVERY`` seconds the blocks that are finished (paragraphs, lists, closed code
        fences) move into the Markdown body above it. Parsing and mounting Markdown blocks
        at every update cost the UI three times as much CPU, all of it taken from the model
        on a phone (issue 7)."""
        if not self._streaming:
            self.start_stream()
        self._streamed.append(fragment)
        self._tail += fragment
        now = time.monotonic()
        if now - self._formatted_at >= FORMAT_EVERY:
            done, self._tail = split_finished_blocks(self._tail)
            if done:
                self._formatted_at = now
                await self.query_one(Markdown).append(done)
        tail = self.query_one(LiveTail)
        shown = self._tail.strip("\n")
        tail.set_class(not shown, "-empty")
        tail.show(shown)

    async def stop_stream(self) -> None:
        if self._streaming:
            self._streaming = False
            self.remove_class("-streaming")
            self.data = replace(self.data, text=self.data.text + "".join(self._streamed))
            self._streamed = []
            self._tail = ""
            self.query_one(LiveTail).update("")
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


class LiveTail(GrowsWithoutRelayout, Static):
    """The text of a streaming answer not yet formatted, as plain text."""

    def show(self, text: str) -> None:
        """Show ``text``. The screen is laid out again only if the height changes: text that
        fills the last line is a repaint of a few lines, not a new layout and a full-screen
        render (what most redraws are on a phone writing a few tokens a second)."""
        width, height = self.content_region.size
        if not width or not height or not self.display:
            self.update(text)
            return
        visual = visualize(self, text, markup=False)  # wrapped once: measured, then shown
        self.update(visual, layout=visual.get_height(self.styles, width) != height)


def split_finished_blocks(text: str) -> tuple[str, str]:
    """Split streamed Markdown into the blocks that are finished (up to the last blank line
    outside a code fence) and the block still being written."""
    cut = position = 0
    fenced = False
    for line in text.splitlines(keepends=True):
        position += len(line)
        marker = line.lstrip()
        if marker.startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and not line.strip() and line.endswith("\n"):
            cut = position
    return text[:cut], text[cut:]


class ConversationLog(GrowsWithoutRelayout, VerticalScroll):
    """The scrolling column of messages."""
