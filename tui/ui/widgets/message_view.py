"""One message in the conversation: role, Markdown body, stats; tap or Enter for its actions."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from typing import ClassVar

from markdown_it import MarkdownIt
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Region, Size
from textual.message import Message
from textual.visual import Visual, visualize
from textual.widget import Widget
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownBlock

from tui.textsafe import terminal_text
from tui.ui.widgets.code_block import CodeBlock
from tui.ui.widgets.thought import ThinkingLine, ThoughtView


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
    reasoning: str = ""  # a reasoning model's thinking, shown on request
    thought: str = ""  # its summary: "Thought for 12 s, 240 tokens"


#: At each page turn of a streaming answer, this share of the conversation's height stays
#: above the text being written, for context (the question, the previous paragraph).
KEEP_ABOVE = 1 / 3

ROLE_LABELS = {"user": "You", "assistant": "Burrow", "system": "System"}


def visual_height(visual: Visual, widget: Widget, width: int) -> int:
    """Rows ``visual`` takes in ``widget`` ``width`` columns wide, measured as Textual does
    (with the widget's styles, which Textual's annotation calls a rules map)."""
    return visual.get_height(widget.styles, width)  # type: ignore[arg-type]


@cache
def _markdown_parser() -> MarkdownIt:
    """One parser for every message (Textual's Markdown builds a new one per append)."""
    return MarkdownIt("gfm-like")


def hard_breaks(text: str) -> str:
    """``text`` with each single newline made a Markdown hard break: a question keeps the
    lines it was typed in (Markdown would join them into one paragraph)."""
    return re.sub(r"(?<!\n)\n(?!\n)", "  \n", text)


class GrowsWithoutRelayout:
    """For widgets that grow while an answer streams: the message, its Markdown blocks, and
    the conversation log around them.

    After each layout pass Textual sets every resized widget's ``virtual_size`` reactive,
    which asks for a second, identical layout pass (scrollbars are updated without it, and a
    scrollbar that appears or goes asks for its own pass). That doubled the frames, and the
    UI's CPU, of a streaming answer. Textual is pinned, and
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

    # Stored and model text is not trusted: Textual passes ESC through to the terminal, so
    # every control character but newline and tab is shown visibly (``^[``) instead.
    def __init__(self, markdown: str, *, breaks: bool = False) -> None:
        self._breaks = breaks
        super().__init__(self._prepare(markdown), open_links=False, parser_factory=_markdown_parser)

    def _prepare(self, markdown: str) -> str:
        text = terminal_text(markdown)
        return hard_breaks(text) if self._breaks else text

    def append(self, markdown: str) -> AwaitComplete:
        return super().append(terminal_text(markdown))

    def update(self, markdown: str) -> AwaitComplete:
        return super().update(self._prepare(markdown))

    def get_block_class(self, block_name: str) -> type[MarkdownBlock]:
        code = block_name in ("fence", "code_block") and not self._breaks  # answers only
        return _quiet_block(CodeBlock if code else super().get_block_class(block_name))


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
    MessageView.-streaming > Markdown > MarkdownBlock:last-child { margin-bottom: 1; }
    MessageView > .message--tail { height: auto; display: none; }
    MessageView.-streaming > .message--tail { display: block; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,space", "menu", "Actions"),
        Binding("c", "act('copy')", "Copy"),
        Binding("r", "act('regenerate')", "Regen"),
        Binding("e", "act('edit')", "Edit"),
        Binding("n", "act('continue')", "Continue", show=False),
        Binding("t", "toggle_thought", "Thinking", show=False),
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
        self._gap = 0  # rows left empty under the message (keep_gap)

    @property
    def message_id(self) -> int | None:
        return self.data.id

    def compose(self) -> ComposeResult:
        yield Static(self._header_text(), classes="message--header", markup=False)
        yield ThinkingLine(classes="message--thinking")
        yield AnswerMarkdown(self.data.text, breaks=self.data.role == "user")
        yield LiveTail(classes="message--tail")
        yield ThoughtView(self.data.thought, self.data.reasoning, classes="message--thought")
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
        if not self._streaming:
            self.query_one(ThoughtView).set(data.thought, data.reasoning)
        self._apply_status()

    def show_thinking(self, tokens: int, thinking: bool) -> None:
        """The live line of a streaming answer's thinking (its text is not shown)."""
        self.query_one(ThinkingLine).show(tokens, thinking)

    # streaming -----------------------------------------------------------------

    @property
    def text(self) -> str:
        return self.data.text + "".join(self._streamed) if self._streaming else self.data.text

    def start_stream(self) -> None:
        self._streamed = []
        self._tail = ""
        self._streaming = True
        self.add_class("-streaming")
        self._turn_page()

    async def append(self, fragment: str) -> None:
        """Add text to the answer being written. The caller paces the calls (a few a second).

        The answer is written like a page: the block being written shows as plain text in
        rows held for it below the text above (:class:`LiveTail`), so new text is a repaint
        of those rows only; nothing moves and nothing else is drawn again. When the text
        outgrows the rows, the page turns: the finished blocks (paragraphs, lists, closed
        code fences) move into the Markdown body, new rows are held, and the conversation
        scrolls so the text being written sits a third of the way down, under its context.
        Laying out and drawing the whole conversation at every update cost the UI several
        times as much CPU, all of it taken from the model when llama.cpp has every core;
        on a phone it also kept the text moving under the reader's eyes."""
        if not self._streaming:
            self.start_stream()
        self._streamed.append(fragment)
        self._tail += fragment
        if not self.query_one(LiveTail).show(self._tail.strip("\n"), self._page_rows()):
            done, self._tail = split_finished_blocks(self._tail)
            if done:
                await self.query_one(Markdown).append(done)
            self._turn_page()

    def _page_rows(self) -> int:
        """Rows the text being written gets at a page turn: the conversation's height, less
        the share kept above it for context and the gap under the message."""
        parent = self.parent
        if isinstance(parent, Widget) and parent.is_scrollable:
            height = parent.scrollable_content_region.height
        else:
            height = self.app.size.height
        return max(1, height - max(1, int(height * KEEP_ABOVE)) - 1)

    def _turn_page(self) -> None:
        self.query_one(LiveTail).hold(self._tail.strip("\n"), self._page_rows())

    async def stop_stream(self) -> int:
        """The answer ended: format all of it. Returns the rows that were held and not
        written (see :meth:`keep_gap`)."""
        if not self._streaming:
            return 0
        self._streaming = False
        self.remove_class("-streaming")
        self.query_one(ThinkingLine).hide()
        self.data = replace(self.data, text=self.data.text + "".join(self._streamed))
        self._streamed = []
        self._tail = ""
        unused = self.query_one(LiveTail).release()
        # One full render at the end: appended fragments are parsed piecewise, which can
        # differ in small ways (spacing around inline markup) from the whole text.
        await self.query_one(Markdown).update(self.data.text)
        return unused

    def keep_gap(self, rows: int) -> None:
        """Leave ``rows`` empty under the message, less its stats line: the rows its answer
        was held in and did not use. Without them the conversation would shrink when the
        answer ends, and the text the user is reading would jump down. The next change of
        the conversation closes the gap (:meth:`close_gap`)."""
        meta = self.query_one(".message--meta", Static)
        width = self.content_region.width
        if self.data.meta and width:
            rows -= visual_height(meta.visual, meta, width)
        if rows > 0:
            self._gap = rows
            self.styles.margin = (0, 0, 1 + rows, 0)

    def close_gap(self) -> None:
        if self._gap:
            self._gap = 0
            self.styles.clear_rule("margin")  # back to the stylesheet's
            self.refresh(layout=True)  # (clearing a rule does not ask for a layout)

    # input ---------------------------------------------------------------------

    def on_click(self) -> None:
        self.focus()
        self.post_message(self.Action(self, "menu"))

    def action_menu(self) -> None:
        self.post_message(self.Action(self, "menu"))

    def action_toggle_thought(self) -> None:
        self.query_one(ThoughtView).toggle()

    def action_act(self, action: str) -> None:
        self.post_message(self.Action(self, action))


class LiveTail(GrowsWithoutRelayout, Widget):
    """The text of a streaming answer not yet formatted, as plain text, in rows held for it
    (``rows``) so that text added within them is a repaint of the rows that changed."""

    DEFAULT_CSS = "LiveTail { height: auto; }"

    rows = 0
    """Rows held while the answer streams (0: none, the height follows the text)."""
    page_rows = 0
    """The page's rows when they were held: a new size of the conversation turns the page."""

    def __init__(self, *, classes: str = "") -> None:
        super().__init__(classes=classes)
        self._text = ""
        self._visual: Visual = Content("")
        self._height = 0  # rows the text took when last shown

    def render(self) -> Visual:
        return self._visual

    def show(self, text: str, page_rows: int) -> bool:
        """Show ``text`` if it fits the rows held; ``False`` if the page must turn first.

        Only the rows that changed are drawn again: text that grows at its end changes its
        last row and the rows after it (lines wrap greedily), usually one or two rows."""
        text = terminal_text(text)  # model text: no raw control characters
        width = self.content_region.width
        if not self.rows or not width or page_rows != self.page_rows:
            return False
        visual = visualize(self, text, markup=False)  # wrapped once: measured, then shown
        height = visual_height(visual, self, width)
        if height > self.rows:
            return False
        old = self._height
        first = max(0, min(old, height) - 1) if text.startswith(self._text) else 0
        self._text, self._visual, self._height = text, visual, height
        self.refresh(Region(0, first, width, max(old, height) - first))
        return True

    def hold(self, text: str, page_rows: int) -> None:
        """Show ``text`` in ``page_rows`` rows, or in a few more than it needs if it is
        longer (a block longer than a page)."""
        text = terminal_text(text)
        width = self.content_region.width
        self._text, self._visual = text, visualize(self, text, markup=False)
        needed = visual_height(self._visual, self, width) if width else 1
        self._height = needed if width else 0
        self.page_rows = page_rows
        self.rows = page_rows if needed <= page_rows else needed + max(2, page_rows // 3)
        self.styles.height = self.rows
        self.refresh(layout=True)

    def release(self) -> int:
        """The answer ended: hold no rows. Returns how many of them the text did not use."""
        width = self.content_region.width
        unused = 0
        if width and self._text:  # (an answer can end before the first layout)
            unused = self.rows - visual_height(self._visual, self, width)
        self.rows = 0
        self._text, self._visual, self._height = "", Content(""), 0
        self.styles.height = None
        self.refresh(layout=True)  # (clearing a rule does not ask for a layout)
        return max(0, unused)


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
