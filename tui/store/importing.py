"""Import of JSON exports: the whole file checked first, then written in one transaction.

An export file is untrusted input (it may come from another device or another person), so:

- **All or nothing.** Every conversation is checked before anything is written, and all of
  them are written in one transaction: a bad file changes nothing.
- **Links stay inside the imported conversation.** A message's ``parent_uid`` must name an
  earlier message of the same conversation in the file. Message uids are looked up only in
  the conversation being merged into; a uid another conversation already uses gets a fresh
  one. A crafted file therefore cannot hang its replies under another conversation's
  messages (which deleting that conversation would then delete too).
- **Values have their types.** Times are finite numbers within years 1970-9999, roles and
  statuses are known ones, texts are strings, ``settings`` and ``stats`` are objects.
"""

from __future__ import annotations

import json
import math
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from tui.store.db import StoreError
from tui.store.models import ROLES, STATUSES, ImportResult, MessageStatus, Role

INSERT_CONVERSATION = (
    "INSERT INTO conversations (uid, title, created_at, updated_at, pinned, "
    "model_path, template, system_prompt, settings, tag) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (uid, conversation_id, parent_id, role, content, "
    "created_at, status, model, stats, reasoning) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_LATEST_TIME = 253402300799.0  # 9999-12-31: later times cannot be shown as dates
_MAX_UID = 200


class ImportProblem(StoreError):
    """What is wrong with an imported document, and where (conversation, message, field)."""


@dataclass(frozen=True)
class ImportedMessage:
    uid: str
    parent_uid: str | None
    role: Role
    content: str
    created_at: float | None
    status: MessageStatus
    model: str | None
    stats: dict[str, Any]
    reasoning: str = ""


@dataclass(frozen=True)
class ImportedConversation:
    uid: str
    title: str
    created_at: float | None
    updated_at: float | None
    pinned: bool
    model_path: str | None
    template: str | None
    system_prompt: str | None
    settings: dict[str, Any]
    tag: str | None
    active_leaf_uid: str | None
    messages: tuple[ImportedMessage, ...]


# -- checking -----------------------------------------------------------------------------


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), "a number" if isinstance(value, int | float) else "null"
    )


def _text(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ImportProblem(f"{where}: {key} must be text, not {_kind(value)}")
    return value


def _uid(data: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = _text(data, key, where)
    if value is None or value == "":
        if required:
            raise ImportProblem(f"{where}: {key} is missing")
        return None
    if len(value) > _MAX_UID:
        raise ImportProblem(f"{where}: {key} is longer than {_MAX_UID} characters")
    return value


def _time(data: Mapping[str, Any], key: str, where: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ImportProblem(f"{where}: {key} must be a time in seconds, not {_kind(value)}")
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not (math.isfinite(seconds) and 0 <= seconds <= _LATEST_TIME):
        raise ImportProblem(f"{where}: {key} {value!r} is not a time between 1970 and 9999")
    return seconds


def _object(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ImportProblem(f"{where}: {key} must be an object, not {_kind(value)}")
    return value


def _message(data: Any, where: str, earlier: set[str]) -> ImportedMessage:
    if not isinstance(data, dict):
        raise ImportProblem(f"{where} must be an object, not {_kind(data)}")
    uid = cast(str, _uid(data, "uid", where))
    where = f"{where} ({uid!r})"
    if uid in earlier:
        raise ImportProblem(f"{where}: the uid is used twice in this conversation")
    parent = _uid(data, "parent_uid", where, required=False)
    if parent is not None and parent not in earlier:
        raise ImportProblem(
            f"{where}: parent_uid {parent!r} is not an earlier message of this conversation"
        )
    role, status = data.get("role"), data.get("status") or "done"
    if role not in ROLES:
        raise ImportProblem(f"{where}: unknown role {role!r}")
    if status not in STATUSES:
        raise ImportProblem(f"{where}: unknown status {status!r}")
    return ImportedMessage(
        uid=uid,
        parent_uid=parent,
        role=role,
        content=_text(data, "content", where) or "",
        created_at=_time(data, "created_at", where),
        # Its writer was a process on the exporting device, long gone.
        status="interrupted" if status == "streaming" else status,
        model=_text(data, "model", where),
        stats=_object(data, "stats", where),
        reasoning=_text(data, "reasoning", where) or "",
    )


def conversation_from(data: Any, where: str = "conversation") -> ImportedConversation:
    """One exported conversation, checked; raises :class:`ImportProblem` naming the field."""
    if not isinstance(data, dict):
        raise ImportProblem(f"{where} must be an object, not {_kind(data)}")
    uid = cast(str, _uid(data, "uid", where))
    where = f"{where} ({uid!r})"
    raw_messages = data.get("messages") or []
    if not isinstance(raw_messages, list):
        raise ImportProblem(f"{where}: messages must be a list, not {_kind(raw_messages)}")
    messages: list[ImportedMessage] = []
    earlier: set[str] = set()
    for number, raw in enumerate(raw_messages, 1):
        message = _message(raw, f"{where}, message {number}", earlier)
        earlier.add(message.uid)
        messages.append(message)
    pinned = data.get("pinned")
    if pinned not in (None, True, False, 0, 1):
        raise ImportProblem(f"{where}: pinned must be true or false, not {pinned!r}")
    return ImportedConversation(
        uid=uid,
        title=_text(data, "title", where) or "",
        created_at=_time(data, "created_at", where),
        updated_at=_time(data, "updated_at", where),
        pinned=bool(pinned),
        model_path=_text(data, "model_path", where),
        template=_text(data, "template", where),
        system_prompt=_text(data, "system_prompt", where),
        settings=_object(data, "settings", where),
        tag=_text(data, "tag", where),
        active_leaf_uid=_uid(data, "active_leaf_uid", where, required=False),
        messages=tuple(messages),
    )


def conversations_from(items: Any) -> list[ImportedConversation]:
    """Every conversation of a document's ``conversations`` list, checked."""
    if not isinstance(items, list):
        raise ImportProblem(f"conversations must be a list, not {_kind(items)}")
    return [conversation_from(item, f"conversation {n}") for n, item in enumerate(items, 1)]


# -- writing (inside the caller's transaction) ----------------------------------------------


def write_all(
    conn: sqlite3.Connection, conversations: Sequence[ImportedConversation], now: float
) -> ImportResult:
    added = merged = messages_added = messages_skipped = 0
    for conversation in conversations:
        created, n_added, n_skipped = write_conversation(conn, conversation, now)
        added += created
        merged += not created and n_added > 0
        messages_added += n_added
        messages_skipped += n_skipped
    return ImportResult(added, merged, messages_added, messages_skipped)


def write_conversation(
    conn: sqlite3.Connection, c: ImportedConversation, now: float
) -> tuple[bool, int, int]:
    """Insert ``c`` or merge its new messages into the conversation with its uid.

    Returns (conversation was new, messages added, messages skipped as already there).
    """
    row = conn.execute("SELECT id FROM conversations WHERE uid = ?", (c.uid,)).fetchone()
    created = row is None
    if row is None:
        values = (c.uid, c.title, c.created_at or now, c.updated_at or now, int(c.pinned))
        cur = conn.execute(
            INSERT_CONVERSATION,
            (*values, c.model_path, c.template, c.system_prompt, json.dumps(c.settings), c.tag),
        )
        conversation_id = int(cur.lastrowid or 0)
    else:
        conversation_id = int(row[0])
    # Only this conversation's own messages count as "already there".
    ids: dict[str, int] = {
        str(uid): int(id_)
        for uid, id_ in conn.execute(
            "SELECT uid, id FROM messages WHERE conversation_id = ?", (conversation_id,)
        )
    }
    added = skipped = 0
    for m in c.messages:
        if m.uid in ids:
            skipped += 1
            continue
        parent = ids[m.parent_uid] if m.parent_uid is not None else None
        ids[m.uid] = _insert_message(conn, conversation_id, parent, m, now)
        added += 1
    if created and c.active_leaf_uid in ids:
        conn.execute(
            "UPDATE conversations SET active_leaf_id = ? WHERE id = ?",
            (ids[str(c.active_leaf_uid)], conversation_id),
        )
    return created, added, skipped


def _insert_message(
    conn: sqlite3.Connection,
    conversation_id: int,
    parent: int | None,
    m: ImportedMessage,
    now: float,
) -> int:
    taken = conn.execute("SELECT 1 FROM messages WHERE uid = ?", (m.uid,)).fetchone()
    uid = uuid.uuid4().hex if taken else m.uid  # another conversation's uid: never shared
    created = m.created_at or now
    stats = json.dumps(m.stats)
    cur = conn.execute(
        _INSERT_MESSAGE,
        (
            uid,
            conversation_id,
            parent,
            m.role,
            m.content,
            created,
            m.status,
            m.model,
            stats,
            m.reasoning,
        ),
    )
    return int(cur.lastrowid or 0)
