"""A reasoning model's thinking in a message: a live line while it thinks, then a collapsed
summary under the answer that a tap opens and closes.

The thinking is not the answer: it is stored apart (``messages.reasoning``), never sent back
to the model, and shown only on request, because a small model's thinking is often longer
than its answer.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.visual import Visual
from textual.widget import Widget
from textual.widgets import Static

from tui.textsafe import terminal_text


class ThinkingLine(Widget):
    """One row over a streaming answer: "thinking… 120 tokens". Its height never changes,
    so a new count is a repaint of that row, not a layout of the conversation."""

    DEFAULT_CSS = """
    ThinkingLine { height: 1; color: $text-muted; text-style: italic; display: none; }
    ThinkingLine.-shown { display: block; }
    """

    def __init__(self, *, classes: str = "") -> None:
        super().__init__(classes=classes)
        self._text = ""

    @property
    def text(self) -> str:
        return self._text

    def render(self) -> Visual:
        return Content(self._text)

    def show(self, tokens: int, thinking: bool) -> None:
        text = f"thinking… {tokens} tokens" if thinking else f"thought: {tokens} tokens"
        if not self.has_class("-shown"):
            self.add_class("-shown")
        if text != self._text:
            self._text = text
            self.refresh()

    def hide(self) -> None:
        self._text = ""
        self.remove_class("-shown")


class ThoughtView(Vertical):
    """The finished thinking under an answer: "▸ Thought for 12 s, 240 tokens"; a tap (or
    ``t`` on the message) shows the text, another hides it."""

    DEFAULT_CSS = """
    ThoughtView { height: auto; display: none; }
    ThoughtView.-shown { display: block; }
    ThoughtView > .thought--summary { color: $text-muted; height: 1; text-style: italic; }
    ThoughtView > .thought--text {
        color: $text-muted; height: auto; display: none;
        border-left: outer $foreground 30%; padding-left: 1;
    }
    ThoughtView.-open > .thought--text { display: block; }
    """

    def __init__(self, summary: str = "", text: str = "", *, classes: str = "") -> None:
        super().__init__(classes=classes)
        self._summary = summary
        self._text = text

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def compose(self) -> ComposeResult:
        yield Static(self._line(), classes="thought--summary", markup=False)
        yield Static(terminal_text(self._text), classes="thought--text", markup=False)

    def on_mount(self) -> None:
        self.set_class(bool(self._text), "-shown")

    def _line(self) -> str:
        return ("▾ " if self.is_open else "▸ ") + self._summary

    def set(self, summary: str, text: str) -> None:
        if (summary, text) == (self._summary, self._text):
            return
        self._summary, self._text = summary, text
        self.set_class(bool(text), "-shown")
        if not text:
            self.remove_class("-open")
        self.query_one(".thought--summary", Static).update(self._line())
        self.query_one(".thought--text", Static).update(terminal_text(text))

    def toggle(self) -> None:
        if not self._text:
            return
        self.toggle_class("-open")
        self.query_one(".thought--summary", Static).update(self._line())

    def on_click(self, event: events.Click) -> None:
        # The message around it opens its action sheet on a tap: this tap is ours.
        event.stop()
        self.toggle()
