"""What every part of :class:`tui.store.Store` builds on: the guarded connection.

One SQLite connection guarded by a re-entrant lock, so the UI may call the store from worker
threads and the main thread alike. Every write is a short ``BEGIN IMMEDIATE`` transaction;
nothing holds the write lock while a model generates.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from tui.store import driver, rows
from tui.store.db import NotFoundError, StoreError, unavailable
from tui.store.models import Conversation


class LiveWriters:
    """The messages this process is streaming, per database.

    A message left ``streaming`` by this very process is only dead if no writer of it is
    registered here: another Store opened on the same file in the same process (a second
    window, a test) must not mark a live answer interrupted.
    """

    def __init__(self) -> None:
        self._ids: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def add(self, database: str, message_id: int) -> None:
        with self._lock:
            self._ids.add((database, message_id))

    def discard(self, database: str, message_id: int) -> None:
        with self._lock:
            self._ids.discard((database, message_id))

    def has(self, database: str, message_id: int) -> bool:
        with self._lock:
            return (database, message_id) in self._ids


LIVE_WRITERS = LiveWriters()


class StoreCore:
    """The connection, its lock and the two ways to use it: a read, a write transaction."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path | None, key: bytes | None = None
    ) -> None:
        self._conn = conn
        # A locked history's key, kept only in this process's memory (a second connection,
        # the search reader, needs it too); never written, logged or handed to the worker.
        self._db_key = key
        self._locked = key is not None
        self._lock = threading.RLock()
        self.path = path
        """The database file; None for an incognito (in-memory) store."""
        # Names this database among all the stores of the process (see LiveWriters).
        self._key = str(path.resolve()) if path is not None else f"memory:{id(self)}"
        self._closed = False

    @property
    def incognito(self) -> bool:
        return self.path is None

    @property
    def locked(self) -> bool:
        """An encrypted (SQLCipher) history: nothing of it is written elsewhere in plain text."""
        return self._locked

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StoreError("the history store is closed")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    # A failed COMMIT or a full disk may have ended the transaction already.
                    if self._conn.in_transaction:
                        with contextlib.suppress(*driver.ERRORS):
                            self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except driver.ERRORS as exc:
                self._reraise(exc)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            if self._closed:
                raise StoreError("the history store is closed")
            try:
                return self._conn.execute(sql, params).fetchall()
            except driver.ERRORS as exc:
                self._reraise(exc)

    def _reraise(self, exc: Exception) -> NoReturn:
        """The file's trouble (damaged, full, read-only) as one sentence naming it; a
        constraint or programming error, or a search stopped by its time budget, stays what
        it is."""
        if isinstance(exc, (*driver.INTEGRITY, *driver.PROGRAMMING)):
            raise exc
        if isinstance(exc, driver.OPERATIONAL) and "interrupted" in str(exc):
            raise exc
        raise unavailable(self.path, exc) from exc

    def get_conversation(self, conversation_id: int) -> Conversation:
        found = self._rows(
            f"SELECT {rows.CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = ?",
            (conversation_id,),
        )
        if not found:
            raise NotFoundError(f"no conversation {conversation_id}")
        return rows.conversation(found[0])
