"""SQL rows -> the frozen dataclasses of :mod:`tui.store.models`.

Rows never leave the store: every query that hands something out selects one of the column
lists below and converts each row with the function of the same kind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tui.store.models import Conversation, Message, StateRecord

CONVERSATION_COLUMNS = (
    "c.id, c.uid, c.title, c.created_at, c.updated_at, c.pinned, c.model_path, c.template, "
    "c.system_prompt, c.settings, c.tag, c.active_leaf_id, "
    "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)"
)
"""Select from ``conversations c``, convert with :func:`conversation`."""
MESSAGE_COLUMNS = (
    "m.id, m.uid, m.conversation_id, m.parent_id, m.role, m.content, m.created_at, m.status, "
    "m.model, m.stats, m.reasoning"
)
"""Select from ``messages m``, convert with :func:`message`."""
STATE_COLUMNS = (
    "conversation_id, path, sha256, model_path, template, n_ctx, n_tokens, size_bytes, last_used"
)
"""Select from (or insert into) ``kv_states``, convert with :func:`state_record`."""


def json_dict(text: str | None) -> dict[str, Any]:
    """A JSON object column as a fresh dict (anything else, or nothing, as an empty one)."""
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def conversation(row: Sequence[Any]) -> Conversation:
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
        settings=json_dict(row[9]),
        tag=row[10],
        active_leaf_id=row[11],
        message_count=row[12],
    )


def message(row: Sequence[Any]) -> Message:
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
        stats=json_dict(row[9]),
        reasoning=row[10],
    )


def state_record(row: Sequence[Any]) -> StateRecord:
    """The table keeps a file name; the record carries its full path in the states folder."""
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
