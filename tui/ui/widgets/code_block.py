"""A code block in an answer, with "⧉ copy" on its first row: a tap (or Enter, with the
copy line focused) copies that block's code alone, without the fences.

The code copied is the code as shown: the answer's text was made terminal-safe before it was
parsed (``AnswerMarkdown``), so a control character in it is copied in its visible form
(``^[``), never raw, and pasting the block into a shell cannot replay an escape sequence.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static
from textual.widgets.markdown import MarkdownFence

from tui.ui.clipboard import copy_text

COPY_LABEL = "⧉ copy"


def lines_text(code: str) -> str:
    """ "Copied 12 lines." for the toast."""
    count = len(code.splitlines()) or 1
    return f"Copied {count} line{'' if count == 1 else 's'}."


class CopyCode(Static, can_focus=True):
    """The tap target on a code block's first row (the row Textual leaves blank above the
    code), so a block is no taller with it than without."""

    DEFAULT_CSS = """
    CopyCode { width: auto; height: 1; padding: 0 2; color: $text-muted; }
    CopyCode:hover, CopyCode:focus { color: $text; text-style: reverse; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,space", "copy", "Copy code"),
        # Like a message: Up and Down step between the focusable rows of the conversation.
        Binding("up", "app.focus_previous", "Up", show=False),
        Binding("down", "app.focus_next", "Down", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(COPY_LABEL, classes="code--copy", markup=False)

    def on_click(self, event: events.Click) -> None:
        # The message around it opens its action sheet on a tap: this tap is ours.
        event.stop()
        self.action_copy()

    def action_copy(self) -> None:
        block = self.parent
        if isinstance(block, MarkdownFence):
            # The screen copies: a block is replaced when its answer is formatted again.
            copy_text(self.screen, block.code, lines_text(block.code))


class CodeBlock(MarkdownFence):
    """A fenced (or indented) code block with its copy line."""

    DEFAULT_CSS = """
    CodeBlock > Label#code-content { padding: 0 2 1 2; }
    CodeBlock:ansi > Label#code-content { padding: 0 0 1 0; }
    CodeBlock:ansi > CopyCode { padding: 0; }
    """

    def compose(self) -> ComposeResult:
        yield CopyCode()
        yield from super().compose()
