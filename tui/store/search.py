"""Full-text search with FTS5: ranked hits, highlighted snippets, forgiving queries.

A query is first tried as FTS5 syntax, so prefix (``burr*``), phrase (``"exact words"``),
``AND``/``OR``/``NOT`` and ``NEAR(...)`` work. When SQLite rejects it (a user typed an odd
quote, ``*`` alone, ``-``, unbalanced parentheses...) the words of the query are searched
instead, each quoted, all required: typing never raises.

A query is bounded: beyond :data:`MAX_QUERY_CHARS` characters or :data:`MAX_TERMS` words only
its first words are searched (all required), and a search that runs longer than
:data:`TIME_BUDGET` seconds stops with no hits: a pasted page never holds the history up.

Hits are ranked by bm25 (best first); when a query matches more than ``CANDIDATES`` messages
only the newest ``CANDIDATES`` are ranked, which keeps every search fast on a big history.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tui.store import driver
from tui.store.models import SearchHit

SNIPPET_TOKENS = 16
CANDIDATES = 2000
"""A query matching more messages than this ranks only the newest this many: ranking every
match of a very common word costs seconds on a phone with a big history."""
MAX_QUERY_CHARS = 1000
MAX_TERMS = 32
TIME_BUDGET = 2.0
"""Seconds a search may run; FTS5 evaluates a long phrase term by term over big doclists."""
ELLIPSIS = "…"
_WORD = re.compile(r"(\w+)(\*?)")
_OPERATORS = frozenset({"AND", "OR", "NOT", "NEAR"})


def plain_query(query: str) -> str:
    """The words of ``query`` as an FTS5 query that cannot be a syntax error.

    A word typed with a trailing ``*`` stays a prefix search. Empty when there are no words.
    """
    parts = []
    for word, star in _WORD.findall(query):
        if word in _OPERATORS:  # typed as syntax that failed to parse, not as a word to find
            continue
        parts.append(f'"{word}"' + ("*" if star else ""))
    return " ".join(parts)


def search(
    conn: sqlite3.Connection,
    query: str,
    *,
    limit: int = 20,
    offset: int = 0,
    conversation_id: int | None = None,
    start_mark: str = "**",
    end_mark: str = "**",
) -> list[SearchHit]:
    query = bounded(query)
    if not query or limit <= 0:
        return []
    with time_budget(conn):
        try:
            try:
                return _run(conn, query, limit, offset, conversation_id, start_mark, end_mark)
            except driver.OPERATIONAL as exc:
                if interrupted(exc):
                    return []
                fallback = plain_query(query)
                if not fallback:
                    return []
                return _run(conn, fallback, limit, offset, conversation_id, start_mark, end_mark)
        except driver.OPERATIONAL as exc:
            if interrupted(exc):  # over the time budget: too broad a query, no hits
                return []
            raise


@contextmanager
def time_budget(conn: sqlite3.Connection) -> Iterator[None]:
    """Interrupt statements on ``conn`` that run past :data:`TIME_BUDGET` seconds (SQLite
    then raises an "interrupted" OperationalError: see :func:`interrupted`)."""
    deadline = time.monotonic() + TIME_BUDGET
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        yield
    finally:
        conn.set_progress_handler(None, 0)


def bounded(query: str) -> str:
    """``query`` itself, or when too long (characters or words) its first words, all required."""
    query = query.strip()
    if len(query) <= MAX_QUERY_CHARS and len(_WORD.findall(query)) <= MAX_TERMS:
        return query
    words = " ".join(w + s for w, s in _WORD.findall(query[: MAX_QUERY_CHARS * 4])[:MAX_TERMS])
    return plain_query(words)


def interrupted(exc: Exception) -> bool:
    """Did :func:`time_budget` stop this statement?"""
    return "interrupted" in str(exc)


def _run(
    conn: sqlite3.Connection,
    match: str,
    limit: int,
    offset: int,
    conversation_id: int | None,
    start: str,
    end: str,
) -> list[SearchHit]:
    wanted = limit + offset
    cap = max(CANDIDATES, wanted)
    scope = "" if conversation_id is None else " AND m.conversation_id = ?"
    extra: tuple[int, ...] = () if conversation_id is None else (conversation_id,)
    # Step 1: (rowid, bm25) of the newest ``cap`` matches; FTS5 walks its doclists newest
    # first and stops at the LIMIT, so the cost does not grow with the whole history.
    candidates: list[tuple[float, str, int]] = [
        (rank, "m", rowid)
        for rowid, rank in conn.execute(
            "SELECT f.rowid, f.rank FROM messages_fts f JOIN messages m ON m.id = f.rowid "
            f"WHERE messages_fts MATCH ?{scope} ORDER BY f.rowid DESC LIMIT ?",
            (match, *extra, cap),
        )
    ]
    scope = "" if conversation_id is None else " AND f.rowid = ?"
    candidates += [
        (rank, "c", rowid)
        for rowid, rank in conn.execute(
            "SELECT f.rowid, f.rank FROM conversations_fts f "
            f"WHERE conversations_fts MATCH ?{scope} ORDER BY f.rowid DESC LIMIT ?",
            (match, *extra, cap),
        )
    ]
    candidates.sort()
    # Step 2: snippets and details only for the page shown.
    hits = []
    for rank, kind, rowid in candidates[offset:wanted]:
        if kind == "m":
            row = conn.execute(
                "SELECT m.conversation_id, c.title, m.id, m.role, "
                f"snippet(messages_fts, 0, ?, ?, '{ELLIPSIS}', {SNIPPET_TOKENS}), "
                "c.title, c.updated_at "
                "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
                "JOIN conversations c ON c.id = m.conversation_id "
                "WHERE messages_fts MATCH ? AND messages_fts.rowid = ?",
                (start, end, match, rowid),
            ).fetchone()
        else:
            row = conn.execute(
                "SELECT c.id, c.title, NULL, NULL, highlight(conversations_fts, 0, ?, ?), "
                "highlight(conversations_fts, 0, ?, ?), c.updated_at "
                "FROM conversations_fts JOIN conversations c ON c.id = conversations_fts.rowid "
                "WHERE conversations_fts MATCH ? AND conversations_fts.rowid = ?",
                (start, end, start, end, match, rowid),
            ).fetchone()
        if row is None:  # deleted between the two steps by another process
            continue
        hits.append(
            SearchHit(
                conversation_id=row[0],
                conversation_title=row[1],
                message_id=row[2],
                role=row[3],
                snippet=row[4],
                title_highlighted=row[5],
                rank=float(rank),
                updated_at=row[6],
            )
        )
    return hits
