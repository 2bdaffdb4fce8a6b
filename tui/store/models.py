"""Plain, frozen dataclasses the store hands out: rows never leave ``tui.store``.

Times are Unix timestamps (seconds, float). Dicts inside the dataclasses (``settings``,
``stats``) are fresh copies decoded from JSON for each call: mutating one changes nothing
in the database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant")

MessageStatus = Literal["streaming", "done", "cancelled", "error", "interrupted"]
"""``streaming`` while an answer is being written; ``interrupted`` when the process writing it
died (set the next time any process opens the store)."""
FinishStatus = Literal["done", "cancelled", "error"]
"""What :meth:`StreamWriter.finish` accepts (``interrupted`` is only set by recovery)."""
STATUSES: tuple[MessageStatus, ...] = ("streaming", "done", "cancelled", "error", "interrupted")
FINAL_STATUSES: tuple[MessageStatus, ...] = ("done", "cancelled", "error", "interrupted")


class Unset(enum.Enum):
    """The type of :data:`UNSET` (an enum, so type checkers can narrow it away)."""

    UNSET = 0


UNSET = Unset.UNSET
"""Default of optional arguments meaning "leave as is" / "after the active leaf"."""


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    uid: str
    """Stable identifier across export/import (the integer ``id`` is local to one database)."""
    title: str
    created_at: float
    updated_at: float
    """Last activity: a message added or an answer finished."""
    pinned: bool
    model_path: str | None
    template: str | None
    system_prompt: str | None
    settings: dict[str, Any] = field(default_factory=dict)
    """Sampler and other settings the conversation was run with (owned by ``tui.settings``)."""
    tag: str | None = None
    active_leaf_id: int | None = None
    """Last message of the path the conversation shows (branches stay reachable)."""
    message_count: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    uid: str
    conversation_id: int
    parent_id: int | None
    role: Role
    content: str
    created_at: float
    status: MessageStatus = "done"
    model: str | None = None
    """Model that wrote an assistant message."""
    stats: dict[str, Any] = field(default_factory=dict)
    """Generation stats of an assistant message (tokens, tokens/s, ttft, stop reason...)."""
    reasoning: str = ""
    """A reasoning model's thinking before the answer (``content`` is the answer alone);
    ``stats`` has ``reasoning_tokens`` and ``reasoning_seconds``."""


@dataclass(frozen=True, slots=True)
class Branches:
    """The siblings of a message (itself included), oldest first, and its position."""

    messages: tuple[Message, ...]
    index: int

    @property
    def count(self) -> int:
        return len(self.messages)


@dataclass(frozen=True, slots=True)
class SearchHit:
    conversation_id: int
    conversation_title: str
    message_id: int | None
    """None when the hit is in the conversation's title."""
    role: Role | None
    snippet: str
    """Matching text with the matched terms between the caller's start/end marks."""
    title_highlighted: str
    rank: float
    """bm25 score: lower is better (SQLite's convention)."""
    updated_at: float
    in_thinking: bool = False
    """The hit is in the answer's thinking (found only when asked for)."""


@dataclass(frozen=True, slots=True)
class StateRecord:
    """A saved KV-cache state file of a conversation: reloading it resumes the conversation
    without evaluating its whole prompt again."""

    conversation_id: int
    path: Path
    sha256: str
    model_path: str
    template: str
    n_ctx: int
    n_tokens: int
    size_bytes: int
    last_used: float


@dataclass(frozen=True, slots=True)
class ImportResult:
    conversations_added: int
    conversations_merged: int
    messages_added: int
    messages_skipped: int
