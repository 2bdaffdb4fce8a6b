"""Streaming answers: the writer that stores an answer while it is generated, and the
recovery of answers whose writing process died.

An answer is a message with status ``streaming`` and the pid of its writer, which holds a
file lock while it lives (:mod:`tui.store.writerlock`). Text reaches the
database at most every :data:`FLUSH_INTERVAL` seconds; finishing writes the rest, the final
status and the stats. A process opening the store marks ``interrupted`` every answer still
``streaming`` whose writer is gone, so a crash never leaves an answer "generating" forever.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from tui.store import driver, writerlock
from tui.store.core import LIVE_WRITERS
from tui.store.db import StoreError
from tui.store.models import UNSET, FinishStatus, Message, MessageStatus, Unset
from tui.store.tree import MessageTree

FLUSH_INTERVAL = 1.0
"""Seconds between flushes of a streaming answer: at most this much text is lost on a crash."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process (Android sandboxes): assume alive
        return True
    except OSError:
        return False
    return True


class StreamingAnswers(MessageTree):
    """Starting, continuing and finishing answers that stream in, and crash recovery."""

    def recover_interrupted(self) -> int:
        """Mark answers whose writing process died as ``interrupted``; return how many."""
        found = self._rows("SELECT id, writer_pid FROM messages WHERE status = 'streaming'")
        me = os.getpid()
        dead: list[int] = []
        for message_id, pid in found:
            if pid == me:
                live = LIVE_WRITERS.has(self._key, message_id)
            elif pid is None or self.path is None:
                live = False
            else:
                # The writer's lock, which the dead (zombies, exec'd or reused PIDs) cannot
                # hold; only where flock is missing, whether the PID exists.
                held = writerlock.alive(self.path, int(pid))
                live = _pid_alive(int(pid)) if held is None else held
            if not live:
                dead.append(message_id)
        if dead:
            with self._write() as conn:
                conn.executemany(
                    "UPDATE messages SET status = 'interrupted', writer_pid = NULL "
                    "WHERE id = ? AND status = 'streaming'",
                    [(i,) for i in dead],
                )
        return len(dead)

    def begin_assistant(
        self,
        conversation_id: int,
        parent_id: int | Unset | None = UNSET,
        *,
        model: str | None = None,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> StreamWriter:
        """Create an empty ``streaming`` assistant message and return its writer.

        ``parent_id`` defaults to the active leaf (the question just added).
        """
        if self.path is not None:
            writerlock.hold(self.path)
        message_id = self._insert_message(
            conversation_id, "assistant", "", parent_id, "streaming", model, None, writer=True
        )
        return self._writer(message_id, conversation_id, "", "", flush_interval)

    def continue_assistant(
        self, message_id: int, *, flush_interval: float = FLUSH_INTERVAL
    ) -> StreamWriter:
        """Stream more text onto the end of an existing assistant message ("continue")."""
        message = self.get_message(message_id)
        if message.role != "assistant":
            raise StoreError(f"message {message_id} is not an assistant message")
        if self.path is not None:
            writerlock.hold(self.path)
        with self._write() as conn:
            conn.execute(
                "UPDATE messages SET status = 'streaming', writer_pid = ? WHERE id = ?",
                (os.getpid(), message_id),
            )
            conn.execute(
                "UPDATE conversations SET active_leaf_id = ?, updated_at = ? WHERE id = ?",
                (message_id, time.time(), message.conversation_id),
            )
        LIVE_WRITERS.add(self._key, message_id)
        return self._writer(
            message_id, message.conversation_id, message.content, message.reasoning, flush_interval
        )

    def _writer(
        self,
        message_id: int,
        conversation_id: int,
        initial: str,
        initial_reasoning: str,
        flush_interval: float,
    ) -> StreamWriter:
        return StreamWriter(
            message_id,
            conversation_id,
            initial,
            flush_interval,
            initial_reasoning=initial_reasoning,
            save=functools.partial(self._append_text, message_id),
            save_end=functools.partial(self._finish_stream, message_id, conversation_id),
            load=functools.partial(self.get_message, message_id),
        )

    def _append_text(self, message_id: int, text: str, reasoning: str = "") -> None:
        with self._write() as conn:
            _append_columns(conn, message_id, text, reasoning)

    def _finish_stream(
        self,
        message_id: int,
        conversation_id: int,
        text: str,
        reasoning: str,
        status: MessageStatus,
        stats: Mapping[str, Any] | None,
    ) -> None:
        with self._write() as conn:
            _append_columns(conn, message_id, text, reasoning)
            conn.execute(
                "UPDATE messages SET status = ?, stats = ?, writer_pid = NULL WHERE id = ?",
                (status, json.dumps(dict(stats or {})), message_id),
            )
            conn.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?",
                (time.time(), conversation_id),
            )
        LIVE_WRITERS.discard(self._key, message_id)


def _append_columns(conn: sqlite3.Connection, message_id: int, text: str, reasoning: str) -> None:
    # Only the columns that grow: an UPDATE naming ``content`` re-indexes it for search.
    if text:
        conn.execute("UPDATE messages SET content = content || ? WHERE id = ?", (text, message_id))
    if reasoning:
        conn.execute(
            "UPDATE messages SET reasoning = reasoning || ? WHERE id = ?", (reasoning, message_id)
        )


class StreamWriter:
    """Writes a streaming answer into its message: cheap appends, a flush at most every
    ``flush_interval`` seconds (a timer flushes a stalled tail), one final write on finish.

    Thread-safe: the generator thread appends while the UI may ``finish`` (cancel).
    """

    def __init__(
        self,
        message_id: int,
        conversation_id: int,
        initial: str,
        flush_interval: float,
        *,
        save: Callable[[str, str], None],
        save_end: Callable[[str, str, FinishStatus, Mapping[str, Any] | None], None],
        load: Callable[[], Message],
        initial_reasoning: str = "",
    ) -> None:
        # How the writer reaches its message (bound to it by the store): append text to it,
        # append the rest with the final status and stats, read it back.
        self._save = save
        self._save_end = save_end
        self._load = load
        self.message_id = message_id
        self.conversation_id = conversation_id
        self._flush_interval = flush_interval
        self._flushed: list[str] = [initial] if initial else []
        self._pending: list[str] = []
        # A reasoning model's thinking goes to its own column, flushed with the text.
        self._flushed_reasoning: list[str] = [initial_reasoning] if initial_reasoning else []
        self._pending_reasoning: list[str] = []
        self._last_flush = time.monotonic()
        self._lock = threading.RLock()
        self._timer: threading.Timer | None = None
        self._finished = False
        self.flush_count = 0

    @property
    def text(self) -> str:
        """Everything written so far (flushed or not)."""
        with self._lock:
            return "".join(self._flushed) + "".join(self._pending)

    @property
    def reasoning(self) -> str:
        """The reasoning written so far (flushed or not)."""
        with self._lock:
            return "".join(self._flushed_reasoning) + "".join(self._pending_reasoning)

    @property
    def finished(self) -> bool:
        return self._finished

    def append(self, text: str, reasoning: str = "") -> None:
        """Add answer ``text`` and/or ``reasoning`` (a reasoning model's thinking)."""
        if not text and not reasoning:
            return
        with self._lock:
            if self._finished:
                raise StoreError("this answer is already finished")
            if text:
                self._pending.append(text)
            if reasoning:
                self._pending_reasoning.append(reasoning)
            if time.monotonic() - self._last_flush >= self._flush_interval:
                # A full disk must not stop the answer: the text stays pending (and shown);
                # the next flush retries, and finish says if it still cannot be saved.
                with contextlib.suppress(StoreError):
                    self._flush_locked()
            elif self._timer is None:
                delay = max(0.0, self._flush_interval - (time.monotonic() - self._last_flush))
                self._timer = threading.Timer(delay, self._timer_flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        with self._lock:
            if not self._finished:
                self._flush_locked()

    def _timer_flush(self) -> None:
        with self._lock:
            self._timer = None
            if self._finished or not (self._pending or self._pending_reasoning):
                return
            # On failure the next append or finish retries with the text still pending.
            with contextlib.suppress(*driver.ERRORS, StoreError):
                self._flush_locked()

    def _flush_locked(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending and not self._pending_reasoning:
            return
        chunk = "".join(self._pending)
        thought = "".join(self._pending_reasoning)
        self._save(chunk, thought)
        self._flushed.append(chunk)
        self._flushed_reasoning.append(thought)
        self._pending.clear()
        self._pending_reasoning.clear()
        self.flush_count += 1

    def finish(
        self, status: FinishStatus = "done", stats: Mapping[str, Any] | None = None
    ) -> Message:
        """Write the rest of the text, the final status and the generation stats."""
        if status not in ("done", "cancelled", "error"):
            raise ValueError(f"a finished answer is done, cancelled or error, not {status!r}")
        with self._lock:
            if self._finished:
                raise StoreError("this answer is already finished")
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            chunk = "".join(self._pending)
            thought = "".join(self._pending_reasoning)
            try:
                self._save_end(chunk, thought, status, stats)
            except StoreError:
                # Not saved (full disk, damaged file): the row stays ``streaming`` and is
                # marked interrupted later; the caller keeps the text (``self.text``).
                self._finished = True
                raise
            self._flushed.append(chunk)
            self._flushed_reasoning.append(thought)
            self._pending.clear()
            self._pending_reasoning.clear()
            self._finished = True
        return self._load()

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._finished:
            return
        if exc_type is None:
            self.finish("done")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("cancelled")
        else:
            self.finish("error", {"error": str(exc)})
