"""The answer being written, between the session's chunks and the screen.

Text arrives in chunks; drawing each one would spend the CPU the model needs (see
:mod:`tui.ui.pacing`). :class:`AnswerStream` gathers the text that came since the last
redraw, draws it when the :class:`~tui.ui.pacing.RedrawPacer` says a redraw is due, and
works out the live tokens/s for the status line. The chat screen owns one and hands it the
view of each new answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tui.ui.pacing import RedrawPacer, budget_for

if TYPE_CHECKING:
    from textual.message_pump import MessagePump
    from textual.timer import Timer

    from tui.ui.widgets.message_view import MessageView

#: How often the live tokens/s in the status line changes (seconds).
RATE_REFRESH = 1.0

#: Text that comes this close (seconds) to its redraw is drawn at once: paced text comes
#: just when a redraw is due.
DRAW_NOW = 0.02


class AnswerStream:
    """The view being written, its text not yet drawn, the redraw pacing and the live rate.

    ``owner`` runs the redraw timer; ``show_rate`` gets the live tokens/s (at most once per
    :data:`RATE_REFRESH`).
    """

    def __init__(self, owner: MessagePump, show_rate: Callable[[float], None]) -> None:
        self._owner = owner
        self._show_rate = show_rate
        self.pacer = RedrawPacer()
        self.view: MessageView | None = None
        self._started = 0.0  # when the first text came
        self._tokens = 0  # tokens that came
        self._rate_due = 0.0  # when the live tokens/s may change next
        self._pending: list[str] = []
        self._flush_timer: Timer | None = None

    @property
    def tokens(self) -> int:
        """Tokens of the current answer that came so far."""
        return self._tokens

    @property
    def interval(self) -> float:
        """Seconds between redraws (the engine is asked for text this often)."""
        return self.pacer.interval

    def start(self, view: MessageView, n_threads: int | None) -> None:
        """A new answer, written into ``view`` by a model running ``n_threads`` threads."""
        self.view = view
        view.start_stream()
        self._tokens = 0
        self.pacer.budget = budget_for(n_threads)
        self.pacer.start()
        self._rate_due = time.monotonic() + RATE_REFRESH
        self._pending.clear()

    def forget(self, view: MessageView) -> None:
        """``view`` was removed from the conversation: write no more into it."""
        if view is self.view:
            self.view = None

    def thinking(self, tokens: int, thinking: bool) -> None:
        """The model is thinking (or has thought): its live line, not its text."""
        if self.view is not None:
            self.view.show_thinking(tokens, thinking)

    async def add(self, text: str, tokens: int) -> None:
        """Text came: draw it now if a redraw is due, else when it is."""
        if self.view is None:
            return
        now = time.monotonic()
        if self._tokens == 0:
            self._started = now
        self._tokens += tokens
        if not text:
            return  # tokens of thinking: counted for the rate, nothing to draw
        self._pending.append(text)
        if self._flush_timer is not None:
            return  # a redraw is already due
        wait = self.pacer.wait()
        if wait <= DRAW_NOW:
            await self.flush()
        else:
            self._flush_timer = self._owner.set_timer(wait, self.flush)

    async def flush(self) -> None:
        """Show the text that arrived since the last screen update, in one frame."""
        self._flush_timer = None
        if self.view is None or not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        self.pacer.drawn()
        now = time.monotonic()
        with self._owner.app.batch_update():
            await self.view.append(text)
            elapsed = now - self._started
            # The live tokens/s: once a second is enough, and each change is a frame.
            if self._tokens > 1 and elapsed > 0 and now >= self._rate_due:
                self._rate_due = now + RATE_REFRESH
                self._show_rate((self._tokens - 1) / elapsed)

    async def end(self) -> tuple[MessageView | None, int]:
        """The answer ended: draw what is left and format it. Returns its view (None if it
        was removed) and the rows held for it and not written (``MessageView.keep_gap``)."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
        await self.flush()
        self._pending.clear()
        view, self.view = self.view, None
        if view is None:
            return None, 0
        return view, await view.stop_stream()
