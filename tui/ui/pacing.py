"""How often a streaming answer is redrawn: a CPU budget for the UI.

On a phone the UI shares the CPU cores with llama.cpp, and every millisecond the app spends
drawing is taken from the model. Worse, llama.cpp's threads meet at a barrier after every
operation, so when the UI takes one core for a frame, the thread it displaced holds up the
others: the model loses more than the UI's time (``bench/contention.py``: 1.4-2x here). A
redraw of the chat screen costs ~10 ms of CPU on an idle core and ~25 ms while llama.cpp
runs on every core (layout, the new text wrapped, the scrolled screen re-rendered).

:class:`RedrawPacer` measures what the UI thread actually spends between redraws and spaces
the redraws so that it stays under a budget (a small share of one core), between a shortest
interval (smooth on a fast machine) and a longest one (text must still feel live). The
budget is small when llama.cpp has a thread on every core, larger when it leaves one free
(:func:`budget_for`).

No Textual here: the chat screen asks it "how long until the next redraw?" and tells it
"I redrew". Tests drive it with fake clocks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

#: The UI's CPU while an answer streams, as a share of one core, when llama.cpp runs a
#: thread on every core (each millisecond the UI draws stalls the model for about two).
SHARED_BUDGET = 0.02
#: ...and when llama.cpp leaves a core free, so the UI mostly draws on that one.
SPARE_BUDGET = 0.1
#: Redraw at most this often (seconds). The chat screen gives the engine client its current
#: interval, so text arrives when a redraw is due.
SHORTEST = 0.1
#: ...and at least this often.
LONGEST = 0.5


def budget_for(n_threads: int | None, cores: int | None = None) -> float:
    """The UI's CPU budget while a model with ``n_threads`` threads writes an answer."""
    cores = cores if cores is not None else (os.cpu_count() or 1)
    if n_threads and n_threads < cores:
        return SPARE_BUDGET
    return SHARED_BUDGET


class RedrawPacer:
    """Spaces the redraws of a streaming answer to keep the UI's CPU under ``budget``."""

    def __init__(
        self,
        budget: float = SHARED_BUDGET,
        shortest: float = SHORTEST,
        longest: float = LONGEST,
        *,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self.budget = budget
        self.shortest = shortest
        self.longest = longest
        self._clock = clock
        self._cpu_clock = cpu_clock
        self.cost = 0.0
        """Smoothed CPU seconds the UI thread spends per redraw cycle (the redraw, its frame,
        and whatever else it did in between). Kept from one answer to the next."""
        self._last_wall: float | None = None
        self._last_cpu = 0.0

    @property
    def interval(self) -> float:
        """Seconds between redraws."""
        return min(self.longest, max(self.shortest, self.cost / self.budget))

    def start(self) -> None:
        """A new answer: the first text is drawn at once."""
        self._last_wall = None

    def wait(self) -> float:
        """Seconds until text that arrives now may be drawn (0: draw now)."""
        if self._last_wall is None:
            return 0.0
        return max(0.0, self._last_wall + self.interval - self._clock())

    def drawn(self) -> None:
        """Text was just drawn: account for the cycle that ends here."""
        wall, cpu = self._clock(), self._cpu_clock()
        if self._last_wall is not None:
            spent = cpu - self._last_cpu
            self.cost = spent if self.cost == 0.0 else 0.7 * self.cost + 0.3 * spent
        self._last_wall, self._last_cpu = wall, cpu
