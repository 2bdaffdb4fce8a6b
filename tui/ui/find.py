"""Finding text in the open conversation: every match of what was typed, over the texts of
its messages, in order. Pure functions on ``str``; the find bar (``widgets/find_bar.py``)
shows the result.

Case is ignored, and a run of spaces in what was typed matches any run of white space (a
line break included): Markdown joins the lines of a paragraph, so "two words" the user sees
on one line may be written on two.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FindMatch:
    """One match: which text (``index`` into the texts searched) and where in it."""

    index: int
    start: int
    end: int


def find_pattern(query: str) -> re.Pattern[str] | None:
    """The pattern for ``query``; ``None`` if it holds nothing to find (only spaces)."""
    words = query.split()
    if not words:
        return None
    return re.compile(r"\s+".join(re.escape(word) for word in words), re.IGNORECASE)


def find_matches(texts: Sequence[str], query: str) -> list[FindMatch]:
    """Every match of ``query`` in ``texts``, text by text, each text from its start.
    Matches do not overlap ("aa" is found once in "aaa")."""
    pattern = find_pattern(query)
    if pattern is None:
        return []
    return [
        FindMatch(index, match.start(), match.end())
        for index, text in enumerate(texts)
        for match in pattern.finditer(text)
    ]


def match_count_text(current: int | None, total: int, query: str) -> str:
    """What the find bar says: "2 of 7", "no match", or nothing before anything is typed.
    ``current`` counts from 0."""
    if find_pattern(query) is None:
        return ""
    if not total:
        return "no match"
    return f"{(current or 0) + 1} of {total}"


def step(current: int | None, total: int, delta: int) -> int | None:
    """The match after (``delta`` 1) or before (-1) ``current``, wrapping around."""
    if not total:
        return None
    if current is None:
        return 0 if delta > 0 else total - 1
    return (current + delta) % total
