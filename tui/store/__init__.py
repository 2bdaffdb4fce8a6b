"""SQLite history: schema + migrations, FTS5 search, streaming answers, export/import.

Headless (no Textual, no Rich). Rows never leave this package: callers get the frozen
dataclasses of :mod:`tui.store.models`.
"""

from tui.store.db import SCHEMA_VERSION, HistoryUnavailable, NotFoundError, StoreError
from tui.store.models import (
    UNSET,
    Branches,
    Conversation,
    FinishStatus,
    ImportResult,
    Message,
    MessageStatus,
    Role,
    SearchHit,
    StateRecord,
)
from tui.store.store import Store
from tui.store.streaming import StreamWriter

__all__ = [
    "SCHEMA_VERSION",
    "UNSET",
    "Branches",
    "Conversation",
    "FinishStatus",
    "HistoryUnavailable",
    "ImportResult",
    "Message",
    "MessageStatus",
    "NotFoundError",
    "Role",
    "SearchHit",
    "StateRecord",
    "Store",
    "StoreError",
    "StreamWriter",
]
