"""Delivery of a generation's events to an asyncio consumer (a screen), text paced.

The blocking :meth:`EngineClient.generate` runs on a thread of its own; its events cross to
the event loop through a :class:`TextDelivery`, which hands text over at most once per
``interval`` seconds (the screen's redraw interval), so the loop wakes once per frame
instead of once per token. Events that end the stream are never delayed.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Iterator

from tui.engine.protocol import Failed, GenerationEvent, TextChunk


class TextDelivery:
    """Hands a generation's events from its stream thread to the event loop, text at most
    once per ``interval`` seconds (a function is asked before each delivery)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, interval: float | Callable[[], float]
    ) -> None:
        self.loop = loop
        self.events: asyncio.Queue[GenerationEvent | None] = asyncio.Queue()
        self.interval = interval if callable(interval) else (lambda: interval)
        self.closed = False  # the loop is gone: nobody is listening any more
        self._lock = threading.Lock()
        self._pending: list[TextChunk] = []
        self._armed = False  # a delivery of _pending is scheduled on the loop
        self._last = -math.inf  # loop time of the last delivery
        self._held: list[GenerationEvent | None] = []  # taken from the queue, not yet given

    # on the stream thread ------------------------------------------------------------
    def feed_from(self, stream: Iterator[GenerationEvent], cancel: Callable[[], None]) -> None:
        """Post every event of ``stream`` from a new thread, then the end (None); call
        ``cancel`` once the loop is gone, so the worker stops writing for nobody."""

        def pump() -> None:
            try:
                for event in stream:
                    self.post(event)
                    if self.closed:
                        cancel()
            except Exception as exc:  # pragma: no cover - generate() reports, not raises
                self.post(Failed(f"{type(exc).__name__}: {exc}"))
            finally:
                self.post(None)

        threading.Thread(target=pump, name="burrow-engine-stream", daemon=True).start()

    def post(self, event: GenerationEvent | None) -> None:
        if isinstance(event, TextChunk) and self.interval() > 0:
            with self._lock:
                self._pending.append(event)
                if self._armed:
                    return
                self._armed = True
            self._call(self._arm)
        else:
            self._call(self._deliver, event)

    def _call(self, callback: Callable[..., object], *args: object) -> None:
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            self.closed = True

    # on the loop ---------------------------------------------------------------------
    def _arm(self) -> None:
        delay = self._last + self.interval() - self.loop.time()
        if delay > 0:
            self.loop.call_later(delay, self._flush)
        else:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            pieces, self._pending = self._pending, []
            self._armed = False
        if pieces:
            self._last = self.loop.time()
            self.events.put_nowait(TextChunk.merge(pieces))

    def _deliver(self, event: GenerationEvent | None) -> None:
        self._flush()  # text still waiting goes first, whatever its timer says
        self.events.put_nowait(event)

    async def next_event(self) -> GenerationEvent | None:
        """The next event for the consumer; None when the stream has ended."""
        events = self.events
        item = self._held.pop() if self._held else await events.get()
        if isinstance(item, TextChunk) and not events.empty():
            # The consumer fell behind: hand it everything queued as one chunk, so a busy
            # UI pays per screen update, not per token.
            pieces = [item]
            while not events.empty():
                queued = events.get_nowait()
                if not isinstance(queued, TextChunk):
                    self._held.append(queued)
                    break
                pieces.append(queued)
            item = TextChunk.merge(pieces)
        return item
