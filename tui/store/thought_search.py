"""Search inside reasoning models' thinking, asked for on its own.

Thinking is not in the full-text index (a search finds answers, not thoughts), so this scans
the ``reasoning`` column: every word of the query must appear in a thought, ignoring case
(ASCII, as SQLite's LIKE), newest first. A scan costs one pass over the stored thoughts, which
only reasoning models write; the same time budget as the full-text search stops it.
"""

from __future__ import annotations

import re
import sqlite3

from tui.store import driver
from tui.store.models import SearchHit
from tui.store.search import ELLIPSIS, bounded, interrupted, time_budget

SNIPPET_CHARS = 60
"""Characters of context on each side of the first matched word."""
_WORD = re.compile(r"\w+")


def search_thoughts(
    conn: sqlite3.Connection,
    query: str,
    *,
    limit: int = 20,
    start_mark: str = "**",
    end_mark: str = "**",
) -> list[SearchHit]:
    words = [w.lower() for w in _WORD.findall(bounded(query))]
    if not words or limit <= 0:
        return []
    where = " AND ".join(["m.reasoning LIKE ? ESCAPE '\\'"] * len(words))
    patterns = [f"%{_escape(w)}%" for w in words]
    try:
        with time_budget(conn):
            rows = conn.execute(
                "SELECT m.conversation_id, c.title, m.id, m.role, m.reasoning, c.updated_at "
                "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                f"WHERE m.reasoning != '' AND {where} ORDER BY m.id DESC LIMIT ?",
                (*patterns, limit),
            ).fetchall()
    except driver.OPERATIONAL as exc:
        if interrupted(exc):  # over the time budget: no hits rather than a wait
            return []
        raise
    return [
        SearchHit(
            conversation_id=row[0],
            conversation_title=row[1],
            message_id=row[2],
            role=row[3],
            snippet=_snippet(row[4], words, start_mark, end_mark),
            title_highlighted=row[1],
            rank=0.0,
            updated_at=row[5],
            in_thinking=True,
        )
        for row in rows
    ]


def _escape(word: str) -> str:
    return word.replace("_", "\\_")


def _snippet(text: str, words: list[str], start: str, end: str) -> str:
    """The text around the first matched word, every matched word between the marks."""
    lowered = text.lower()
    first = min((i for w in words if (i := lowered.find(w)) >= 0), default=0)
    lo, hi = max(0, first - SNIPPET_CHARS), min(len(text), first + SNIPPET_CHARS)
    window = text[lo:hi]
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.I)
    marked = pattern.sub(lambda m: f"{start}{m.group(0)}{end}", window)
    return (ELLIPSIS if lo else "") + marked + (ELLIPSIS if hi < len(text) else "")
