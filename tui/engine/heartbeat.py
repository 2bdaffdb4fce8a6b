"""Progress heartbeats: how a stopped engine is told apart from a slow one.

The worker sends ``{"id": N, "event": "beat", "within": s}`` for the request it is working
on, at most once per :data:`BEAT_EVERY` seconds and only when the work moved: a tensor
loaded, a node of the compute graph done while a prompt is decoded, a token sampled.
``within`` is the worker's own estimate of the longest gap until the next sign of progress
(0 when it cannot tell yet). Every other message of the request counts as progress too.

The client (:class:`Watchdog`) waits ``max(floor, PATIENCE * within)`` for the next
message; when none comes, the engine "stopped responding" (SIGSTOP, a deadlock, a stalled
kernel), which a dead-pipe check never notices because the process is still there.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

#: Seconds between two beats at most (the work must also have moved).
BEAT_EVERY = 1.0

#: Silence allowed, in units of the worker's own estimate of the next gap.
PATIENCE = 4.0

#: The least silence that counts as a stop. Generous: a phone pages a 2 GB model back in
#: after Android reclaimed its file pages, and a slow card loads one big tensor for seconds.
DEFAULT_FLOOR = 30.0

#: Test hook and escape hatch: the floor in seconds (a test sets 2 to see a stop quickly).
FLOOR_ENV = "BURROW_ENGINE_WATCHDOG_FLOOR"

_Send = Callable[[dict[str, Any]], None]


def floor_seconds() -> float:
    raw = os.environ.get(FLOOR_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_FLOOR
    return value if value > 0 else DEFAULT_FLOOR


class Heartbeat:
    """The worker's side: beats for one request, no more often than ``every``."""

    def __init__(self, send: _Send, request_id: int, every: float = BEAT_EVERY) -> None:
        self._send = send
        self.request_id = request_id
        self.every = every
        self.within = 0.0
        self._sent_at = time.monotonic()

    def __call__(self) -> None:
        """Progress was made: tell the client, if the last beat is old enough."""
        now = time.monotonic()
        if now - self._sent_at >= self.every:
            self._sent_at = now
            self._send({"id": self.request_id, "event": "beat", "within": round(self.within, 3)})

    def sent(self) -> None:
        """Another message of the request went out (it counts as a beat)."""
        self._sent_at = time.monotonic()


@contextlib.contextmanager
def beating_in_compute(ctx: Any, heartbeat: Heartbeat) -> Iterator[None]:
    """Beat from inside llama.cpp's graph compute while a prompt batch is decoded.

    The abort callback runs on compute thread 0 after every graph node, so a prompt chunk
    that takes a minute on a phone still shows progress every second. It is set only for
    batches (a Python call per node would cost a few percent of a single-token decode)."""
    import llama_cpp

    def on_node(_data: Any) -> bool:
        heartbeat()
        return False  # never abort

    callback = llama_cpp.ggml_abort_callback(on_node)
    llama_cpp.llama_set_abort_callback(ctx, callback, None)
    try:
        yield
    finally:
        llama_cpp.llama_set_abort_callback(ctx, llama_cpp.ggml_abort_callback(), None)


class Pace:
    """The speed measured on the model loaded, for the worker's ``within`` estimates."""

    def __init__(self, n_layer: int = 1) -> None:
        self.n_layer = max(1, n_layer)
        self.prompt_token_seconds = 0.0
        self.token_seconds = 0.0
        """The slowest recent token (a decayed maximum: one slow token is remembered)."""

    def prompt_measured(self, tokens: int, seconds: float) -> None:
        if tokens > 1 and seconds > 0:
            self.prompt_token_seconds = seconds / tokens

    def token_measured(self, seconds: float) -> None:
        self.token_seconds = max(seconds, self.token_seconds * 0.9)

    def node_seconds(self, batch_tokens: int) -> float:
        """About one layer's share of a prompt batch: no graph node takes longer."""
        return batch_tokens * self.prompt_token_seconds / self.n_layer


class Watchdog:
    """The client's side: how long the next message of a request may take."""

    def __init__(self, floor: float | None = None) -> None:
        self.floor = floor if floor is not None else floor_seconds()
        self.within = 0.0

    def heard(self, message: dict[str, Any]) -> None:
        if message.get("event") == "beat":
            try:
                self.within = max(0.0, float(message.get("within") or 0.0))
            except (TypeError, ValueError):
                self.within = 0.0

    @property
    def bound(self) -> float:
        return max(self.floor, PATIENCE * self.within)

    def describe(self) -> str:
        return f"no sign of progress for {self.bound:.0f} s"
