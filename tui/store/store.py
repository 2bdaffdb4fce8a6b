"""The history store: conversations, message trees, streaming answers, saved model states.

:class:`Store` is the one entry point the rest of Burrow uses. It is built in layers, each a
class adding one concern on top of the one below, all sharing one guarded connection:

- :class:`~tui.store.core.StoreCore`: the connection, its lock, reads and write transactions;
- :class:`~tui.store.states.SavedStates`: the bookkeeping of saved model states;
- :class:`~tui.store.tree.MessageTree`: messages, branches, the shown path, deletes;
- :class:`~tui.store.streaming.StreamingAnswers`: answers written while they stream in;
- :class:`Store` (here): opening and closing, conversations, scrubbing and wiping, search,
  and the database side of import.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from tui.store import db, driver, importing, rows
from tui.store.db import NotFoundError, StoreError
from tui.store.keys import HistoryLocked
from tui.store.models import UNSET, Conversation, ImportResult, SearchHit, Unset
from tui.store.streaming import StreamingAnswers


class Store(StreamingAnswers):
    """Conversation history on a SQLite file, or in memory for incognito."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path | None, key: bytes | None = None
    ) -> None:
        super().__init__(conn, path, key)
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.RLock()
        if path is not None and not db.is_read_only(conn):
            self.recover_interrupted()

    # -- opening and closing -----------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | None = None, *, key: bytes | None = None) -> Store:
        """Open (creating and migrating as needed) the history at ``path``.

        Default: ``paths.database_path()``. Answers left ``streaming`` by a process that died
        are marked ``interrupted``. A locked history needs its ``key``
        (``tui.store.locking.open_locked`` finds it from the passphrase); without one it
        raises :class:`~tui.store.keys.HistoryLocked`.
        """
        if path is None:
            from tui import paths

            path = paths.database_path()
        db.remove_plain_leftovers(path)
        if key is None and db.is_encrypted(path):
            raise HistoryLocked(f"history file {path} is locked: it needs the passphrase")
        return cls(db.connect(path, key), path, key)

    @classmethod
    def open_incognito(cls) -> Store:
        """A store that lives only in memory: nothing it holds ever touches the disk."""
        return cls(db.connect(None), None)

    @property
    def read_only(self) -> bool:
        """Opened for reading only (a read-only folder or file): every write is refused."""
        with self._lock:
            return self.path is not None and db.is_read_only(self._conn)

    @property
    def schema_version(self) -> int:
        with self._lock:
            return db.user_version(self._conn)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with self._reader_lock:
                if self._reader is not None:
                    self._reader.close()
            if self.path is not None:
                # Fold the WAL back into the file so it does not grow between runs.
                with contextlib.suppress(*driver.ERRORS):
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._conn.close()
            self._db_key = None  # the key is dropped with the connection

    def rekey(self, key: bytes) -> None:
        """Re-encrypt a locked history with a new key, in place (one SQLite transaction:
        an interruption leaves it under the old key)."""
        with self._lock:
            if self._db_key is None or self._closed:
                raise StoreError("only an open locked history can change its key")
            with self._reader_lock:
                if self._reader is not None:
                    self._reader.close()
                    self._reader = None
            try:
                self._conn.execute(driver.key_pragma(key).replace("PRAGMA key", "PRAGMA rekey"))
                self._checkpoint()
            except driver.ERRORS as exc:
                self._reraise(exc)
            self._db_key = key

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def integrity_check(self) -> str:
        """``ok`` when SQLite finds the file sound."""
        found = self._rows("PRAGMA integrity_check")
        return "\n".join(str(r[0]) for r in found)

    # -- conversations -------------------------------------------------------------------------

    def create_conversation(
        self,
        *,
        title: str = "",
        model_path: str | None = None,
        template: str | None = None,
        system_prompt: str | None = None,
        settings: Mapping[str, Any] | None = None,
        tag: str | None = None,
        pinned: bool = False,
    ) -> Conversation:
        now = time.time()
        with self._write() as conn:
            cur = conn.execute(
                importing.INSERT_CONVERSATION,
                (
                    uuid.uuid4().hex,
                    title,
                    now,
                    now,
                    int(pinned),
                    model_path,
                    template,
                    system_prompt,
                    json.dumps(dict(settings or {})),
                    tag,
                ),
            )
            conversation_id = int(cur.lastrowid or 0)
        return self.get_conversation(conversation_id)

    def list_conversations(
        self, *, limit: int = 50, offset: int = 0, tag: str | None = None
    ) -> list[Conversation]:
        """One page, pinned first, then most recent activity first."""
        where, params = ("WHERE c.tag = ?", [tag]) if tag is not None else ("", [])
        found = self._rows(
            f"SELECT {rows.CONVERSATION_COLUMNS} FROM conversations c {where} "
            "ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [rows.conversation(r) for r in found]

    def count_conversations(self) -> int:
        return int(self._rows("SELECT count(*) FROM conversations")[0][0])

    def conversation_ids(self) -> list[int]:
        """Every conversation id, oldest first (for export of everything)."""
        return [int(r[0]) for r in self._rows("SELECT id FROM conversations ORDER BY id")]

    def update_conversation(
        self,
        conversation_id: int,
        *,
        title: str | Unset = UNSET,
        pinned: bool | Unset = UNSET,
        tag: str | Unset | None = UNSET,
        model_path: str | Unset | None = UNSET,
        template: str | Unset | None = UNSET,
        system_prompt: str | Unset | None = UNSET,
        settings: Mapping[str, Any] | Unset = UNSET,
    ) -> Conversation:
        """Change the given fields (others stay); does not count as activity."""
        given = {
            "title": title,
            "pinned": pinned if isinstance(pinned, Unset) else int(pinned),
            "tag": tag,
            "model_path": model_path,
            "template": template,
            "system_prompt": system_prompt,
            "settings": settings if isinstance(settings, Unset) else json.dumps(dict(settings)),
        }
        changes = {name: value for name, value in given.items() if not isinstance(value, Unset)}
        if changes:
            assignments = ", ".join(f"{name} = ?" for name in changes)
            with self._write() as conn:
                cur = conn.execute(
                    f"UPDATE conversations SET {assignments} WHERE id = ?",
                    (*changes.values(), conversation_id),
                )
                if cur.rowcount == 0:
                    raise NotFoundError(f"no conversation {conversation_id}")
        return self.get_conversation(conversation_id)

    def rename_conversation(self, conversation_id: int, title: str) -> Conversation:
        return self.update_conversation(conversation_id, title=title)

    def set_pinned(self, conversation_id: int, pinned: bool) -> Conversation:
        return self.update_conversation(conversation_id, pinned=pinned)

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation, its messages and its saved model states (files too)."""
        with self._write() as conn:
            files = self._forget_states(conn, conversation_id)
            # Messages first, children before parents, so the FTS triggers see each row.
            conn.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
            cur = conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if cur.rowcount == 0:
                raise NotFoundError(f"no conversation {conversation_id}")
        self._unlink_states(files)

    # -- leaving no trace ----------------------------------------------------------------------

    def scrub(self) -> None:
        """Leave no word of deleted text in the file, without rebuilding it.

        FTS5 keeps a deleted message's words in its index segments (only marked deleted)
        until the segments are merged: ``optimize`` merges them. ``secure_delete`` zeroes
        the pages that frees, and a WAL checkpoint moves the result into the database file
        and empties the WAL. Seconds on a history of 200,000 messages: run it off the UI.
        """
        self._merge_search_index()
        with self._lock:
            self._checkpoint()

    def compact(self) -> None:
        """:meth:`scrub`, and the file rebuilt smaller (after deleting conversations)."""
        self._merge_search_index()
        self._vacuum()

    def _merge_search_index(self) -> None:
        with self._write() as conn:
            conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
            conn.execute("INSERT INTO conversations_fts(conversations_fts) VALUES ('optimize')")

    def _checkpoint(self) -> None:
        """Move the WAL into the database file and empty it (hold ``_lock``)."""
        if self.path is not None:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _vacuum(self) -> None:
        with self._lock:
            self._conn.execute("VACUUM")
            self._checkpoint()

    def _wipe_tables(self) -> list[str]:
        with self._write() as conn:
            files = [r[0] for r in conn.execute("SELECT path FROM kv_states")]
            triggers = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%fts%'"
            ).fetchall()
            for name, _ in triggers:
                conn.execute(f'DROP TRIGGER "{name}"')
            conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('delete-all')")
            conn.execute("INSERT INTO conversations_fts(conversations_fts) VALUES ('delete-all')")
            conn.execute("DELETE FROM kv_states")
            conn.execute("DELETE FROM messages")
            conn.execute("DELETE FROM conversations")
            for _, sql in triggers:
                conn.execute(sql)
        return files

    def wipe(self) -> None:
        """Delete every conversation and saved state, then rebuild the file so no text stays."""
        with self._lock:
            # Every table is emptied, so there is nothing for foreign keys to protect; with them
            # (and the FTS triggers) out of the way SQLite drops whole tables instead of
            # deleting row by row (seconds instead of a minute on a big history).
            self._conn.execute("PRAGMA foreign_keys = OFF")
            try:
                files = self._wipe_tables()
            finally:
                self._conn.execute("PRAGMA foreign_keys = ON")
        self._unlink_states(files)
        self._unlink_stray_states()
        self._vacuum()

    # -- search --------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        limit: int = 20,
        offset: int = 0,
        conversation_id: int | None = None,
        start_mark: str = "**",
        end_mark: str = "**",
    ) -> list[SearchHit]:
        """Full-text search of titles and messages, best first (see ``tui.store.search``)."""
        from tui.store import search

        return self._searching(
            lambda conn: search.search(
                conn,
                query,
                limit=limit,
                offset=offset,
                conversation_id=conversation_id,
                start_mark=start_mark,
                end_mark=end_mark,
            )
        )

    def search_thoughts(
        self, query: str, *, limit: int = 20, start_mark: str = "**", end_mark: str = "**"
    ) -> list[SearchHit]:
        """Search reasoning models' thinking only, newest first (``tui.store.thought_search``)."""
        from tui.store.thought_search import search_thoughts

        return self._searching(
            lambda conn: search_thoughts(
                conn, query, limit=limit, start_mark=start_mark, end_mark=end_mark
            )
        )

    def _searching(self, run: Callable[[sqlite3.Connection], list[SearchHit]]) -> list[SearchHit]:
        conn, lock = self._search_connection()
        with lock:
            if self._closed:
                raise StoreError("the history store is closed")
            try:
                return run(conn)
            except driver.ERRORS as exc:
                self._reraise(exc)

    def _search_connection(self) -> tuple[sqlite3.Connection, threading.RLock]:
        """Search reads on its own connection and lock (not the one every save takes), so a
        streaming answer never waits for a search; incognito has only its one connection."""
        with self._lock:
            if self.path is None or self._closed:
                return self._conn, self._lock
            if self._reader is None:
                try:
                    self._reader = db.connect_reader(self.path, self._db_key)
                except driver.errors_and(OSError):
                    return self._conn, self._lock
            return self._reader, self._reader_lock

    # -- bulk writes (import, synthetic histories) ---------------------------------------------

    def import_conversation(self, data: Mapping[str, Any]) -> tuple[bool, int, int]:
        """Insert one conversation of a JSON export (``tui.store.export``), in one
        transaction; skip what exists (by uid). Returns (conversation was new, messages
        added, messages skipped). Raises StoreError on malformed data, writing nothing."""
        conversation = importing.conversation_from(data)
        with self._write() as conn:
            return importing.write_conversation(conn, conversation, time.time())

    def import_conversations(
        self, conversations: Sequence[importing.ImportedConversation]
    ) -> ImportResult:
        """Write checked conversations (``tui.store.importing``) in one transaction: if
        any fails, none is written."""
        with self._write() as conn:
            return importing.write_all(conn, conversations, time.time())

    @contextmanager
    def bulk_transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the raw connection, for bulk loaders inside
        ``tui.store`` (``scale.generate`` writes thousands of rows per transaction).

        What is written here skips every check of the methods above: nothing outside the
        store package should use it.
        """
        with self._write() as conn:
            yield conn
