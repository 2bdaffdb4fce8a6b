"""The multi-line composer: Enter sends, Ctrl+J inserts a newline, pasted newlines stay."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.strip import Strip
from textual.widgets import TextArea


class Composer(TextArea):
    """A TextArea where Enter submits.

    A phone keyboard's Enter key sends ``\\r`` (Textual's ``enter``), which is what people
    press to send. Termux can type Ctrl+J (``\\n``) from its extra-keys row, so that is the
    newline key; Shift+Enter and Alt+Enter also work where the terminal reports them, but
    nothing depends on them. Bracketed paste arrives as one Paste event, so pasted text
    keeps its newlines.
    """

    DEFAULT_CSS = """
    Composer {
        height: auto;
        min-height: 3;
        max-height: 8;
        border: tall $border-blurred;
        padding: 0 1;
    }
    Composer:focus {
        border: tall $primary;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # Shown in the footer; Enter itself is handled in _on_key (see there).
        Binding("enter", "submit", "Send"),
        Binding("ctrl+j,shift+enter,alt+enter", "newline", "Newline", key_display="^j"),
    ]

    class Submitted(Message):
        """The user pressed Enter (or tapped Send) with this text."""

        def __init__(self, composer: Composer, text: str) -> None:
            super().__init__()
            self.composer = composer
            self.text = text

        @property
        def control(self) -> Composer:
            return self.composer

    class EditingChanged(Message):
        """An edit started or ended: the screen shows or hides its Cancel button."""

        def __init__(self, editing: bool) -> None:
            super().__init__()
            self.editing = editing

    def __init__(self, *, placeholder: str = "Ask anything…", id: str | None = None) -> None:
        super().__init__(
            "",
            id=id,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            placeholder=placeholder,
            highlight_cursor_line=False,
        )

    def render_line(self, y: int) -> Strip:
        # During a resize Textual lays out (and draws) one frame before it updates the
        # breakpoint classes, and at 1x1 there is no room at all: TextArea wraps its
        # placeholder at the content width, and rich raises at width 0.
        if self.content_size.width <= 0:
            return Strip.blank(self.size.width)
        return super().render_line(y)

    async def _on_key(self, event: events.Key) -> None:
        # Enter is handled here, in key order, not as a priority binding: a priority binding
        # runs as soon as the app reads the key, before the characters typed just before it
        # (same burst) have reached the TextArea, and would send a truncated message.
        if event.key == "enter" and not self.read_only:
            event.stop()
            event.prevent_default()
            self.action_submit()
            return
        await super()._on_key(event)

    steady_cursor = False
    """True while an answer streams: the cursor stays visible instead of blinking. Each
    blink draws a frame (two a second), on the CPU llama.cpp needs for the answer."""

    def hold_cursor(self, steady: bool) -> None:
        """Stop (``True``) or resume (``False``) the cursor's blinking."""
        self.steady_cursor = steady
        if steady:
            self._cursor_visible = True

    def _toggle_cursor_blink_visible(self) -> None:
        # TextArea's blink timer callback (private; Textual is pinned, and
        # tests/test_ui_streaming.py checks that a streaming answer draws no blink).
        if not self.steady_cursor:
            super()._toggle_cursor_blink_visible()

    editing_id: int | None = None
    """The message being edited (Enter resends it in that message's place), or None."""

    def start_editing(self, message_id: int, text: str) -> None:
        """Load a message's text to edit and resend; the border says so."""
        self.load_text(text)
        self.move_cursor(self.document.end)
        self.focus()
        self._show_editing(message_id)

    def stop_editing(self) -> int | None:
        """Leave edit mode. Returns the message that was being edited."""
        message_id = self.editing_id
        self._show_editing(None)
        return message_id

    def _show_editing(self, message_id: int | None) -> None:
        self.editing_id = message_id
        editing = message_id is not None
        self.set_class(editing, "-editing")
        self.border_title = "Editing: Enter resends · Esc cancels" if editing else None
        self.post_message(self.EditingChanged(editing))

    def cancel_editing(self) -> None:
        """Leave edit mode and drop the edited text (nothing else is in the composer)."""
        if self.editing_id is not None:
            self.stop_editing()
            self.clear()

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self, self.text))

    def action_newline(self) -> None:
        self.insert("\n")
