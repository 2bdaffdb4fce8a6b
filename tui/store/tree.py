"""The message tree of a conversation: parents, branches, the shown path, deletes.

Every message has a parent (None for a root); editing a question or regenerating an answer
adds a sibling, so nothing is ever overwritten. A conversation shows one path, root to its
*active leaf*; the other branches stay reachable through :meth:`MessageTree.siblings`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from typing import Any

from tui.store import rows
from tui.store.core import LIVE_WRITERS
from tui.store.db import NotFoundError
from tui.store.models import ROLES, UNSET, Branches, Message, MessageStatus, Role, Unset
from tui.store.states import SavedStates

TITLE_MAX = 80


def auto_title(text: str) -> str:
    """A title from the first question: its first non-empty line, shortened."""
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1].rstrip() + "…"
    return ""


class MessageTree(SavedStates):
    """Adding, reading, walking and deleting the messages of conversations."""

    def add_message(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        *,
        parent_id: int | Unset | None = UNSET,
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
        parent_id: int | Unset | None,
        status: MessageStatus,
        model: str | None,
        stats: Mapping[str, Any] | None,
        *,
        writer: bool,
    ) -> int:
        """Insert a message as the new active leaf; with ``writer``, as one this process is
        streaming (registered before the commit, so no other store can think it dead)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        now = time.time()
        with self._write() as conn:
            row = conn.execute(
                "SELECT active_leaf_id, title FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no conversation {conversation_id}")
            parent = row[0] if isinstance(parent_id, Unset) else parent_id
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
                LIVE_WRITERS.add(self._key, message_id)
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
        found = self._rows(
            f"SELECT {rows.MESSAGE_COLUMNS} FROM messages m WHERE m.id = ?", (message_id,)
        )
        if not found:
            raise NotFoundError(f"no message {message_id}")
        return rows.message(found[0])

    def messages(self, conversation_id: int) -> list[Message]:
        """Every message of the conversation, all branches, in creation order."""
        found = self._rows(
            f"SELECT {rows.MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ? "
            "ORDER BY m.id",
            (conversation_id,),
        )
        return [rows.message(r) for r in found]

    def path_to(self, message_id: int) -> list[Message]:
        """The messages from the root down to ``message_id``."""
        found = self._rows(
            "WITH RECURSIVE up(id, depth) AS ("
            " SELECT ?, 0"
            " UNION ALL SELECT m.parent_id, up.depth + 1 FROM messages m JOIN up ON m.id = up.id"
            " WHERE m.parent_id IS NOT NULL)"
            f" SELECT {rows.MESSAGE_COLUMNS} FROM up JOIN messages m ON m.id = up.id"
            " ORDER BY up.depth DESC",
            (message_id,),
        )
        return [rows.message(r) for r in found]

    def active_path(self, conversation_id: int) -> list[Message]:
        """The path the conversation shows: root → active leaf."""
        leaf = self.get_conversation(conversation_id).active_leaf_id
        return [] if leaf is None else self.path_to(leaf)

    def children(self, message_id: int) -> list[Message]:
        found = self._rows(
            f"SELECT {rows.MESSAGE_COLUMNS} FROM messages m WHERE m.parent_id = ? ORDER BY m.id",
            (message_id,),
        )
        return [rows.message(r) for r in found]

    def siblings(self, message_id: int) -> Branches:
        """The alternatives at this point of the tree: same parent, itself included."""
        message = self.get_message(message_id)
        found = self._rows(
            f"SELECT {rows.MESSAGE_COLUMNS} FROM messages m "
            "WHERE m.conversation_id = ? AND m.parent_id IS ? ORDER BY m.id",
            (message.conversation_id, message.parent_id),
        )
        messages = tuple(rows.message(r) for r in found)
        index = next(i for i, m in enumerate(messages) if m.id == message_id)
        return Branches(messages=messages, index=index)

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
