"""The history store: conversations, message trees, streaming answers, saved model states.

One :class:`Store` wraps one SQLite connection guarded by a lock, so the UI may call it from
worker threads and the main thread alike. Every write is a short ``BEGIN IMMEDIATE``
transaction; nothing holds the write lock while a model generates.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from tui.store import db
from tui.store.db import NotFoundError, StoreError
from tui.store.models import (
    ROLES,
    Branches,
    Conversation,
    FinishStatus,
    Message,
    MessageStatus,
    Role,
    SearchHit,
    StateRecord,
)

TITLE_MAX = 80
FLUSH_INTERVAL = 1.0
"""Seconds between flushes of a streaming answer: at most this much text is lost on a crash."""


class _Unset(enum.Enum):
    UNSET = 0


UNSET = _Unset.UNSET
"""Default of optional arguments meaning "leave as is" / "after the active leaf"."""

# Messages this process is streaming, per database file: another Store opened in the same
# process must not mark them interrupted.
_LIVE_WRITERS: set[tuple[str, int]] = set()
_LIVE_LOCK = threading.Lock()

_CONV_COLUMNS = (
    "c.id, c.uid, c.title, c.created_at, c.updated_at, c.pinned, c.model_path, c.template, "
    "c.system_prompt, c.settings, c.tag, c.active_leaf_id, "
    "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)"
)
_MSG_COLUMNS = (
    "m.id, m.uid, m.conversation_id, m.parent_id, m.role, m.content, m.created_at, m.status, "
    "m.model, m.stats"
)
_STATE_COLUMNS = (
    "conversation_id, path, sha256, model_path, template, n_ctx, n_tokens, size_bytes, last_used"
)


def _json_dict(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _conversation(row: Sequence[Any]) -> Conversation:
    return Conversation(
        id=row[0],
        uid=row[1],
        title=row[2],
        created_at=row[3],
        updated_at=row[4],
        pinned=bool(row[5]),
        model_path=row[6],
        template=row[7],
        system_prompt=row[8],
        settings=_json_dict(row[9]),
        tag=row[10],
        active_leaf_id=row[11],
        message_count=row[12],
    )


def _message(row: Sequence[Any]) -> Message:
    return Message(
        id=row[0],
        uid=row[1],
        conversation_id=row[2],
        parent_id=row[3],
        role=row[4],
        content=row[5],
        created_at=row[6],
        status=row[7],
        model=row[8],
        stats=_json_dict(row[9]),
    )


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


def auto_title(text: str) -> str:
    """A title from the first question: its first non-empty line, shortened."""
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1].rstrip() + "…"
    return ""


class Store:
    """Conversation history on a SQLite file, or in memory for incognito."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path
        """The database file; None for an incognito (in-memory) store."""
        self._key = str(path.resolve()) if path is not None else f"memory:{id(self)}"
        self._closed = False
        if path is not None:
            self.recover_interrupted()

    # -- opening and closing -----------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | None = None) -> Store:
        """Open (creating and migrating as needed) the history at ``path``.

        Default: ``paths.database_path()``. Answers left ``streaming`` by a process that died
        are marked ``interrupted``.
        """
        if path is None:
            from tui import paths

            path = paths.database_path()
        return cls(db.connect(path), path)

    @classmethod
    def open_incognito(cls) -> Store:
        """A store that lives only in memory: nothing it holds ever touches the disk."""
        return cls(db.connect(None), None)

    @property
    def incognito(self) -> bool:
        return self.path is None

    @property
    def schema_version(self) -> int:
        with self._lock:
            return db.user_version(self._conn)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self.path is not None:
                # Fold the WAL back into the file so it does not grow between runs.
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StoreError("the history store is closed")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            if self._closed:
                raise StoreError("the history store is closed")
            return self._conn.execute(sql, params).fetchall()

    def integrity_check(self) -> str:
        """``ok`` when SQLite finds the file sound."""
        rows = self._rows("PRAGMA integrity_check")
        return "\n".join(str(r[0]) for r in rows)

    def recover_interrupted(self) -> int:
        """Mark answers whose writing process died as ``interrupted``; return how many."""
        rows = self._rows("SELECT id, writer_pid FROM messages WHERE status = 'streaming'")
        me = os.getpid()
        dead: list[int] = []
        for message_id, pid in rows:
            if pid == me:
                with _LIVE_LOCK:
                    live = (self._key, message_id) in _LIVE_WRITERS
            else:
                live = pid is not None and _pid_alive(int(pid))
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
                "INSERT INTO conversations (uid, title, created_at, updated_at, pinned, "
                "model_path, template, system_prompt, settings, tag) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def get_conversation(self, conversation_id: int) -> Conversation:
        rows = self._rows(
            f"SELECT {_CONV_COLUMNS} FROM conversations c WHERE c.id = ?", (conversation_id,)
        )
        if not rows:
            raise NotFoundError(f"no conversation {conversation_id}")
        return _conversation(rows[0])

    def list_conversations(
        self, *, limit: int = 50, offset: int = 0, tag: str | None = None
    ) -> list[Conversation]:
        """One page, pinned first, then most recent activity first."""
        where, params = ("WHERE c.tag = ?", [tag]) if tag is not None else ("", [])
        rows = self._rows(
            f"SELECT {_CONV_COLUMNS} FROM conversations c {where} "
            "ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_conversation(r) for r in rows]

    def count_conversations(self) -> int:
        return int(self._rows("SELECT count(*) FROM conversations")[0][0])

    def conversation_ids(self) -> list[int]:
        """Every conversation id, oldest first (for export of everything)."""
        return [int(r[0]) for r in self._rows("SELECT id FROM conversations ORDER BY id")]

    def update_conversation(
        self,
        conversation_id: int,
        *,
        title: str | _Unset = UNSET,
        pinned: bool | _Unset = UNSET,
        tag: str | _Unset | None = UNSET,
        model_path: str | _Unset | None = UNSET,
        template: str | _Unset | None = UNSET,
        system_prompt: str | _Unset | None = UNSET,
        settings: Mapping[str, Any] | _Unset = UNSET,
    ) -> Conversation:
        """Change the given fields (others stay); does not count as activity."""
        changes: dict[str, Any] = {}
        if not isinstance(title, _Unset):
            changes["title"] = title
        if not isinstance(pinned, _Unset):
            changes["pinned"] = int(pinned)
        if not isinstance(tag, _Unset):
            changes["tag"] = tag
        if not isinstance(model_path, _Unset):
            changes["model_path"] = model_path
        if not isinstance(template, _Unset):
            changes["template"] = template
        if not isinstance(system_prompt, _Unset):
            changes["system_prompt"] = system_prompt
        if not isinstance(settings, _Unset):
            changes["settings"] = json.dumps(dict(settings))
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

    @staticmethod
    def _forget_states(conn: sqlite3.Connection, conversation_id: int) -> list[str]:
        """Delete the records of a conversation's saved model states (in ``conn``'s
        transaction); their file names, to unlink once it commits."""
        files = [
            r[0]
            for r in conn.execute(
                "SELECT path FROM kv_states WHERE conversation_id = ?", (conversation_id,)
            )
        ]
        conn.execute("DELETE FROM kv_states WHERE conversation_id = ?", (conversation_id,))
        return files

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
        if self.path is not None:
            from tui import paths

            # Every file in the states folder is one Burrow wrote: remove strays too (only for
            # the user's own history, not a database opened elsewhere, e.g. by a benchmark).
            if self.path.resolve() == paths.database_path().resolve():
                for stray in paths.states_dir().iterdir():
                    if stray.is_file():
                        stray.unlink(missing_ok=True)
        self._vacuum()

    # -- messages ------------------------------------------------------------------------------

    def add_message(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        *,
        parent_id: int | _Unset | None = UNSET,
        status: MessageStatus = "done",
        model: str | None = None,
        stats: Mapping[str, Any] | None = None,
    ) -> Message:
        """Add a message and make it the conversation's active leaf.

        ``parent_id`` defaults to the active leaf (continue the shown path). Pass the parent of
        an existing message to branch (edit a question, regenerate an answer); pass None for a
        new root. The first user message names an untitled conversation.
        """
        message_id = self._insert_message(
            conversation_id, role, content, parent_id, status, model, stats, writer=False
        )
        return self.get_message(message_id)

    def _insert_message(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        parent_id: int | _Unset | None,
        status: MessageStatus,
        model: str | None,
        stats: Mapping[str, Any] | None,
        *,
        writer: bool,
    ) -> int:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        now = time.time()
        with self._write() as conn:
            row = conn.execute(
                "SELECT active_leaf_id, title FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no conversation {conversation_id}")
            parent = row[0] if isinstance(parent_id, _Unset) else parent_id
            if parent is not None:
                owner = conn.execute(
                    "SELECT conversation_id FROM messages WHERE id = ?", (parent,)
                ).fetchone()
                if owner is None or owner[0] != conversation_id:
                    raise NotFoundError(f"no message {parent} in conversation {conversation_id}")
            cur = conn.execute(
                "INSERT INTO messages (uid, conversation_id, parent_id, role, content, "
                "created_at, status, model, stats, writer_pid) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uuid.uuid4().hex,
                    conversation_id,
                    parent,
                    role,
                    content,
                    now,
                    status,
                    model,
                    json.dumps(dict(stats or {})),
                    os.getpid() if writer else None,
                ),
            )
            message_id = int(cur.lastrowid or 0)
            if writer:
                with _LIVE_LOCK:
                    _LIVE_WRITERS.add((self._key, message_id))
            title = row[1]
            if not title and role == "user":
                title = auto_title(content)
            conn.execute(
                "UPDATE conversations SET active_leaf_id = ?, updated_at = ?, title = ? "
                "WHERE id = ?",
                (message_id, now, title, conversation_id),
            )
        return message_id

    def get_message(self, message_id: int) -> Message:
        rows = self._rows(f"SELECT {_MSG_COLUMNS} FROM messages m WHERE m.id = ?", (message_id,))
        if not rows:
            raise NotFoundError(f"no message {message_id}")
        return _message(rows[0])

    def messages(self, conversation_id: int) -> list[Message]:
        """Every message of the conversation, all branches, in creation order."""
        rows = self._rows(
            f"SELECT {_MSG_COLUMNS} FROM messages m WHERE m.conversation_id = ? ORDER BY m.id",
            (conversation_id,),
        )
        return [_message(r) for r in rows]

    def path_to(self, message_id: int) -> list[Message]:
        """The messages from the root down to ``message_id``."""
        rows = self._rows(
            "WITH RECURSIVE up(id, depth) AS ("
            " SELECT ?, 0"
            " UNION ALL SELECT m.parent_id, up.depth + 1 FROM messages m JOIN up ON m.id = up.id"
            " WHERE m.parent_id IS NOT NULL)"
            f" SELECT {_MSG_COLUMNS} FROM up JOIN messages m ON m.id = up.id"
            " ORDER BY up.depth DESC",
            (message_id,),
        )
        return [_message(r) for r in rows]

    def active_path(self, conversation_id: int) -> list[Message]:
        """The path the conversation shows: root → active leaf."""
        leaf = self.get_conversation(conversation_id).active_leaf_id
        return [] if leaf is None else self.path_to(leaf)

    def children(self, message_id: int) -> list[Message]:
        rows = self._rows(
            f"SELECT {_MSG_COLUMNS} FROM messages m WHERE m.parent_id = ? ORDER BY m.id",
            (message_id,),
        )
        return [_message(r) for r in rows]

    def siblings(self, message_id: int) -> Branches:
        """The alternatives at this point of the tree: same parent, itself included."""
        message = self.get_message(message_id)
        rows = self._rows(
            f"SELECT {_MSG_COLUMNS} FROM messages m "
            "WHERE m.conversation_id = ? AND m.parent_id IS ? ORDER BY m.id",
            (message.conversation_id, message.parent_id),
        )
        found = tuple(_message(r) for r in rows)
        index = next(i for i, m in enumerate(found) if m.id == message_id)
        return Branches(messages=found, index=index)

    def latest_leaf(self, message_id: int) -> int:
        """Follow the newest child from ``message_id`` down to a leaf."""
        with self._lock:
            current = message_id
            while True:
                row = self._conn.execute(
                    "SELECT max(id) FROM messages WHERE parent_id = ?", (current,)
                ).fetchone()
                if row is None or row[0] is None:
                    return current
                current = int(row[0])

    def switch_branch(self, message_id: int) -> list[Message]:
        """Show the branch through ``message_id`` (its newest leaf); return the new path."""
        message = self.get_message(message_id)
        leaf = self.latest_leaf(message_id)
        self.set_active_leaf(message.conversation_id, leaf)
        return self.path_to(leaf)

    def set_active_leaf(self, conversation_id: int, message_id: int | None) -> None:
        with self._write() as conn:
            if message_id is not None:
                owner = conn.execute(
                    "SELECT conversation_id FROM messages WHERE id = ?", (message_id,)
                ).fetchone()
                if owner is None or owner[0] != conversation_id:
                    raise NotFoundError(
                        f"no message {message_id} in conversation {conversation_id}"
                    )
            conn.execute(
                "UPDATE conversations SET active_leaf_id = ? WHERE id = ?",
                (message_id, conversation_id),
            )

    def delete_message(self, message_id: int) -> int:
        """Delete a message and every reply under it (all branches below it); returns the
        id of the conversation it was in.

        If the shown path ran through it, the conversation then shows the newest remaining
        branch under its parent (or nothing when the tree is empty). The conversation's saved
        model states are deleted too. Call :meth:`scrub` afterwards so no word of it stays.
        """
        message = self.get_message(message_id)
        with self._write() as conn:
            # The conversation's saved model states hold the deleted text's tokens.
            files = self._forget_states(conn, message.conversation_id)
            leaf = conn.execute(
                "SELECT active_leaf_id FROM conversations WHERE id = ?",
                (message.conversation_id,),
            ).fetchone()[0]
            conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            still_there = (
                leaf is not None
                and conn.execute("SELECT 1 FROM messages WHERE id = ?", (leaf,)).fetchone()
            )
            if not still_there:
                if message.parent_id is not None:
                    new_leaf: int | None = message.parent_id
                else:
                    row = conn.execute(
                        "SELECT max(id) FROM messages WHERE conversation_id = ? "
                        "AND parent_id IS NULL",
                        (message.conversation_id,),
                    ).fetchone()
                    new_leaf = row[0]
                conn.execute(
                    "UPDATE conversations SET active_leaf_id = ? WHERE id = ?",
                    (new_leaf, message.conversation_id),
                )
        self._unlink_states(files)
        if not still_there:
            current = self.get_conversation(message.conversation_id).active_leaf_id
            if current is not None:
                self.set_active_leaf(message.conversation_id, self.latest_leaf(current))
        return message.conversation_id

    # -- streaming answers ---------------------------------------------------------------------

    def begin_assistant(
        self,
        conversation_id: int,
        parent_id: int | _Unset | None = UNSET,
        *,
        model: str | None = None,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> StreamWriter:
        """Create an empty ``streaming`` assistant message and return its writer.

        ``parent_id`` defaults to the active leaf (the question just added).
        """
        message_id = self._insert_message(
            conversation_id, "assistant", "", parent_id, "streaming", model, None, writer=True
        )
        return StreamWriter(self, message_id, conversation_id, "", flush_interval)

    def continue_assistant(
        self, message_id: int, *, flush_interval: float = FLUSH_INTERVAL
    ) -> StreamWriter:
        """Stream more text onto the end of an existing assistant message ("continue")."""
        message = self.get_message(message_id)
        if message.role != "assistant":
            raise StoreError(f"message {message_id} is not an assistant message")
        with self._write() as conn:
            conn.execute(
                "UPDATE messages SET status = 'streaming', writer_pid = ? WHERE id = ?",
                (os.getpid(), message_id),
            )
            conn.execute(
                "UPDATE conversations SET active_leaf_id = ?, updated_at = ? WHERE id = ?",
                (message_id, time.time(), message.conversation_id),
            )
        with _LIVE_LOCK:
            _LIVE_WRITERS.add((self._key, message_id))
        return StreamWriter(
            self, message_id, message.conversation_id, message.content, flush_interval
        )

    def _append_text(self, message_id: int, text: str) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE messages SET content = content || ? WHERE id = ?", (text, message_id)
            )

    def _finish_stream(
        self,
        message_id: int,
        conversation_id: int,
        text: str,
        status: MessageStatus,
        stats: Mapping[str, Any] | None,
    ) -> None:
        with self._write() as conn:
            if text:
                conn.execute(
                    "UPDATE messages SET content = content || ? WHERE id = ?", (text, message_id)
                )
            conn.execute(
                "UPDATE messages SET status = ?, stats = ?, writer_pid = NULL WHERE id = ?",
                (status, json.dumps(dict(stats or {})), message_id),
            )
            conn.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?",
                (time.time(), conversation_id),
            )
        with _LIVE_LOCK:
            _LIVE_WRITERS.discard((self._key, message_id))

    # -- saved model states (issue 7) ----------------------------------------------------------

    def _state_name(self, path: Path) -> str:
        from tui import paths

        states = paths.states_dir().resolve()
        resolved = path.resolve()
        if resolved.parent != states:
            raise StoreError(f"state files live in {states}, not {resolved.parent}")
        return resolved.name

    def _state(self, row: Sequence[Any]) -> StateRecord:
        from tui import paths

        return StateRecord(
            conversation_id=row[0],
            path=paths.states_dir() / row[1],
            sha256=row[2],
            model_path=row[3],
            template=row[4],
            n_ctx=row[5],
            n_tokens=row[6],
            size_bytes=row[7],
            last_used=row[8],
        )

    def record_state(
        self,
        conversation_id: int,
        path: Path,
        *,
        sha256: str,
        model_path: str,
        template: str,
        n_ctx: int,
        n_tokens: int,
        size_bytes: int,
    ) -> StateRecord:
        """Remember a state file written into ``paths.states_dir()`` (replaces a same-path one).

        Refused for incognito stores: their conversations must leave nothing on disk.
        """
        if self.incognito:
            raise StoreError("incognito conversations never save model states")
        name = self._state_name(path)
        now = time.time()
        with self._write() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO kv_states ({_STATE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    name,
                    sha256,
                    model_path,
                    template,
                    n_ctx,
                    n_tokens,
                    size_bytes,
                    now,
                ),
            )
        return self._state(
            (conversation_id, name, sha256, model_path, template, n_ctx, n_tokens, size_bytes, now)
        )

    def find_state(
        self, conversation_id: int, *, model_path: str, template: str, n_ctx: int
    ) -> StateRecord | None:
        """The newest state saved for this conversation with this model, template and n_ctx."""
        rows = self._rows(
            f"SELECT {_STATE_COLUMNS} FROM kv_states WHERE conversation_id = ? AND model_path = ? "
            "AND template = ? AND n_ctx = ? ORDER BY last_used DESC LIMIT 1",
            (conversation_id, model_path, template, n_ctx),
        )
        return self._state(rows[0]) if rows else None

    def states_for(self, conversation_id: int) -> list[StateRecord]:
        rows = self._rows(
            f"SELECT {_STATE_COLUMNS} FROM kv_states WHERE conversation_id = ? "
            "ORDER BY last_used DESC",
            (conversation_id,),
        )
        return [self._state(r) for r in rows]

    def touch_state(self, path: Path) -> None:
        """Mark a state as just used (LRU eviction keeps it longest)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE kv_states SET last_used = ? WHERE path = ?",
                (time.time(), self._state_name(path)),
            )

    def states_lru(self) -> list[StateRecord]:
        """Every recorded state, least recently used first (evict from the front)."""
        rows = self._rows(f"SELECT {_STATE_COLUMNS} FROM kv_states ORDER BY last_used, path")
        return [self._state(r) for r in rows]

    def states_total_bytes(self) -> int:
        return int(self._rows("SELECT coalesce(sum(size_bytes), 0) FROM kv_states")[0][0])

    def delete_state(self, path: Path) -> None:
        """Forget a state and delete its file."""
        name = self._state_name(path)
        with self._write() as conn:
            conn.execute("DELETE FROM kv_states WHERE path = ?", (name,))
        self._unlink_states([name])

    def _unlink_states(self, names: Sequence[str]) -> None:
        if not names or self.path is None:
            return
        from tui import paths

        folder = paths.states_dir()
        for name in names:
            (folder / Path(name).name).unlink(missing_ok=True)

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

        with self._lock:
            if self._closed:
                raise StoreError("the history store is closed")
            return search.search(
                self._conn,
                query,
                limit=limit,
                offset=offset,
                conversation_id=conversation_id,
                start_mark=start_mark,
                end_mark=end_mark,
            )

    # -- import (used by tui.store.export) -----------------------------------------------------

    def _import_conversation(self, data: Mapping[str, Any]) -> tuple[bool, int, int]:
        """Insert one exported conversation; skip what exists (by uid). Returns
        (conversation was new, messages added, messages skipped)."""
        uid = str(data["uid"])
        with self._write() as conn:
            row = conn.execute("SELECT id FROM conversations WHERE uid = ?", (uid,)).fetchone()
            created = row is None
            if row is None:
                cur = conn.execute(
                    "INSERT INTO conversations (uid, title, created_at, updated_at, pinned, "
                    "model_path, template, system_prompt, settings, tag) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        uid,
                        str(data.get("title") or ""),
                        float(data.get("created_at") or time.time()),
                        float(data.get("updated_at") or time.time()),
                        int(bool(data.get("pinned"))),
                        data.get("model_path"),
                        data.get("template"),
                        data.get("system_prompt"),
                        json.dumps(dict(data.get("settings") or {})),
                        data.get("tag"),
                    ),
                )
                conversation_id = int(cur.lastrowid or 0)
            else:
                conversation_id = int(row[0])
            ids: dict[str, int] = {}
            added = skipped = 0
            for message in data.get("messages") or []:
                muid = str(message["uid"])
                existing = conn.execute("SELECT id FROM messages WHERE uid = ?", (muid,)).fetchone()
                if existing is not None:
                    ids[muid] = int(existing[0])
                    skipped += 1
                    continue
                role = message["role"]
                if role not in ROLES:
                    raise StoreError(f"unknown role {role!r} in imported message {muid}")
                parent_uid = message.get("parent_uid")
                parent = ids.get(str(parent_uid)) if parent_uid else None
                if parent_uid and parent is None:
                    found = conn.execute(
                        "SELECT id FROM messages WHERE uid = ?", (str(parent_uid),)
                    ).fetchone()
                    parent = int(found[0]) if found else None
                status = message.get("status") or "done"
                if status == "streaming":
                    status = "interrupted"
                cur = conn.execute(
                    "INSERT INTO messages (uid, conversation_id, parent_id, role, content, "
                    "created_at, status, model, stats) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        muid,
                        conversation_id,
                        parent,
                        role,
                        str(message.get("content") or ""),
                        float(message.get("created_at") or time.time()),
                        status,
                        message.get("model"),
                        json.dumps(dict(message.get("stats") or {})),
                    ),
                )
                ids[muid] = int(cur.lastrowid or 0)
                added += 1
            leaf_uid = data.get("active_leaf_uid")
            if created and leaf_uid and str(leaf_uid) in ids:
                conn.execute(
                    "UPDATE conversations SET active_leaf_id = ? WHERE id = ?",
                    (ids[str(leaf_uid)], conversation_id),
                )
        return created, added, skipped


class StreamWriter:
    """Writes a streaming answer into its message: cheap appends, a flush at most every
    ``flush_interval`` seconds (a timer flushes a stalled tail), one final write on finish.

    Thread-safe: the generator thread appends while the UI may ``finish`` (cancel).
    """

    def __init__(
        self,
        store: Store,
        message_id: int,
        conversation_id: int,
        initial: str,
        flush_interval: float,
    ) -> None:
        self._store = store
        self.message_id = message_id
        self.conversation_id = conversation_id
        self._flush_interval = flush_interval
        self._flushed: list[str] = [initial] if initial else []
        self._pending: list[str] = []
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
    def finished(self) -> bool:
        return self._finished

    def append(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            if self._finished:
                raise StoreError("this answer is already finished")
            self._pending.append(text)
            if time.monotonic() - self._last_flush >= self._flush_interval:
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
            if self._finished or not self._pending:
                return
            # On failure the next append or finish retries with the text still pending.
            with contextlib.suppress(sqlite3.Error, StoreError):
                self._flush_locked()

    def _flush_locked(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        chunk = "".join(self._pending)
        self._store._append_text(self.message_id, chunk)
        self._flushed.append(chunk)
        self._pending.clear()
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
            self._store._finish_stream(self.message_id, self.conversation_id, chunk, status, stats)
            self._flushed.append(chunk)
            self._pending.clear()
            self._finished = True
        return self._store.get_message(self.message_id)

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
