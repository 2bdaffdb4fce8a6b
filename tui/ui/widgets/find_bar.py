"""The find bar over the open conversation: what to find, "2 of 7", ‹ › to move between the
matches, ✕ to close. One row, so it fits over a phone's soft keyboard.

What is searched is what each message says (questions and answers, as written, Markdown
marks included) and a model's thinking where it is shown (opened under its answer); folded
thinking is not searched, as it is not on the screen. The matches are found again at each
change and each step, so an answer being written is searched as far as it has got. The
message holding the current match is marked, scrolled into view and, once its text is
formatted, the match itself is shown in reverse (an answer still being written shows its
newest lines as plain text, which is not marked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Markdown, Static
from textual.widgets.markdown import MarkdownBlock, MarkdownFence

from tui.ui.find import FindMatch, find_matches, find_pattern, match_count_text, step
from tui.ui.widgets.conversation_log import ConversationLog
from tui.ui.widgets.message_view import MessageView
from tui.ui.widgets.thought import ThoughtView

#: How the current match shows in its message, and the other matches in the same message.
CURRENT_STYLE = "reverse bold"
OTHER_STYLE = "underline"


@dataclass(frozen=True)
class Searched:
    """One text searched: a message's body, or its opened thinking."""

    view: MessageView
    thought: bool
    text: str


def searched_texts(log: ConversationLog) -> list[Searched]:
    """What the find bar searches in ``log``, top to bottom."""
    texts: list[Searched] = []
    for view in log.views():
        texts.append(Searched(view, False, view.text))
        thought = view.query(ThoughtView)
        if thought and thought.first().is_open and view.data.reasoning:
            texts.append(Searched(view, True, view.data.reasoning))
    return texts


def _base(block: MarkdownBlock) -> Content:
    """What ``block`` shows without a mark (a code block's text is highlighted code)."""
    return block._highlighted_code if isinstance(block, MarkdownFence) else block._content


def _show(block: MarkdownBlock, content: Content) -> None:
    if isinstance(block, MarkdownFence):
        labels = block.query("#code-content").results(Label)
        for label in labels:
            label.update(content, layout=False)
    else:
        block.update(content, layout=False)


def _text_blocks(view: MessageView) -> list[MarkdownBlock]:
    """The blocks of a message's formatted body that show text, in reading order."""
    markdown = view.query(Markdown)
    if not markdown:
        return []
    return [
        block
        for block in markdown.first().query(MarkdownBlock)
        if isinstance(block, MarkdownFence) or block._content.plain
    ]


class FindBar(Horizontal):
    """Hidden until :meth:`open`; the screen shows it and hears :class:`Closed`."""

    DEFAULT_CSS = """
    FindBar { height: 1; display: none; background: $panel; }
    FindBar.-open { display: block; }
    FindBar > Input { width: 1fr; }
    FindBar > #find-count { width: auto; height: 1; padding: 0 1; color: $text-muted; }
    FindBar > Button { width: auto; min-width: 3; margin-left: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("down", "step(1)", "Next", show=False),
        Binding("up,shift+enter", "step(-1)", "Previous", show=False),
    ]

    class Closed(Message):
        """The user closed the bar (✕ or Esc)."""

    def __init__(self, log: ConversationLog, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._log = log
        self._matches: list[FindMatch] = []
        self._texts: list[Searched] = []
        self._current: int | None = None
        self._marked: list[MarkdownBlock] = []
        self._found: MessageView | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Find in this chat", id="find-input", compact=True)
        yield Static("", id="find-count", markup=False)
        # Not focusable: a tap on them leaves the typing in the field.
        for label, id_, tip in (
            ("‹", "find-prev", "Previous match"),
            ("›", "find-next", "Next match"),
            ("✕", "find-close", "Close"),
        ):
            button = Button(label, id=id_, tooltip=tip, compact=True)
            button.can_focus = False
            # A Button ignores a tap while its 0.2 s press effect shows; a thumb stepping
            # through matches taps faster than that, and every tap must step.
            button.active_effect_duration = 0
            yield button

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    @property
    def count_text(self) -> str:
        return str(self.query_one("#find-count", Static).content)

    def open(self) -> None:
        """Show the bar with what was typed last, found again, and the field focused."""
        self.add_class("-open")
        field = self.query_one(Input)
        field.focus()
        self._search(field.value)

    def close(self) -> None:
        """Hide the bar and every mark (what was typed stays for the next time)."""
        if self.is_open:
            self.remove_class("-open")
            self._unmark()
            self.post_message(self.Closed())

    # what the user does ------------------------------------------------------------

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._search(event.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_step(1)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "find-close":
            self.close()
        else:
            self.action_step(-1 if event.button.id == "find-prev" else 1)

    def action_close(self) -> None:
        self.close()

    def action_step(self, delta: int) -> None:
        current = self._current_match()
        self._find_again()  # an answer being written has grown, a message may be gone
        if current is not None and current in self._matches:
            self._current = self._matches.index(current)
        elif current is not None:  # its text changed: step from where it was
            where = (current.index, current.start)
            later = [i for i, m in enumerate(self._matches) if (m.index, m.start) >= where]
            first_later = later[0] if later else len(self._matches)
            self._current = first_later - 1 if delta > 0 else first_later
        self._current = step(self._current, len(self._matches), delta)
        self._show_current()

    # finding -----------------------------------------------------------------------

    def _query(self) -> str:
        return self.query_one(Input).value

    def _find_again(self) -> None:
        self._texts = searched_texts(self._log)
        self._matches = find_matches([t.text for t in self._texts], self._query())

    def _current_match(self) -> FindMatch | None:
        if self._current is None or self._current >= len(self._matches):
            return None
        return self._matches[self._current]

    def _search(self, query: str) -> None:
        """Find ``query`` anew; the current match is the first one not above the top of
        what is shown (where the user is reading), else the first."""
        self._find_again()
        self._current = None
        if self._matches:
            top = self._log.scroll_y
            self._current = 0
            for number, match in enumerate(self._matches):
                if self._texts[match.index].view.virtual_region.bottom > top:
                    self._current = number
                    break
        self._show_current()

    def _show_current(self) -> None:
        self.query_one("#find-count", Static).update(
            match_count_text(self._current, len(self._matches), self._query())
        )
        self._unmark()
        match = self._current_match()
        if match is None:
            return
        searched = self._texts[match.index]
        view = searched.view
        view.add_class("-found")
        self._found = view
        target: Widget = view
        if searched.thought:
            target = view.query_one(ThoughtView)
        else:
            # Which of the matches in this message it is, counted from its start.
            ordinal = sum(1 for m in self._matches[: self._current or 0] if m.index == match.index)
            target = self._mark(view, ordinal) or view
        self._log.release_anchor()  # an answer being written would pull the view down
        self._log.scroll_to_center(target, animate=False)

    # marking -----------------------------------------------------------------------

    def _mark(self, view: MessageView, ordinal: int) -> Widget | None:
        """Mark the matches in ``view``'s formatted text, the ``ordinal``-th as current;
        returns the block that holds it (``None`` if the formatted text does not have it:
        it is in the plain text of an answer being written, or in a link's address)."""
        pattern = find_pattern(self._query())
        if pattern is None:
            return None
        found: Widget | None = None
        number = 0
        for block in _text_blocks(view):
            base = _base(block)
            marked = base
            for hit in re.finditer(pattern, base.plain):
                style = CURRENT_STYLE if number == ordinal else OTHER_STYLE
                if number == ordinal:
                    found = block
                marked = marked.stylize(style, hit.start(), hit.end())
                number += 1
            if marked is not base:
                _show(block, marked)
                self._marked.append(block)
        return found

    def _unmark(self) -> None:
        for block in self._marked:
            if block.is_attached:
                _show(block, _base(block))
        self._marked = []
        if self._found is not None:
            self._found.remove_class("-found")
            self._found = None
