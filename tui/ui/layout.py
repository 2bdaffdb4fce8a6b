"""The widths at which every screen changes its layout, declared once.

Screens take :data:`HORIZONTAL_BREAKPOINTS` as Textual's ``HORIZONTAL_BREAKPOINTS``, which
sets one of the classes ``-compact`` (a phone held upright), ``-narrow`` or ``-wide`` on the
screen for the stylesheets, and :data:`VERTICAL_BREAKPOINTS` (``-short`` with the soft
keyboard up, or ``-tall``); code that must decide the same thing in Python asks
:func:`is_compact` or :func:`is_short`, so both agree.
"""

from __future__ import annotations

#: The first width (columns) that is no longer compact.
NARROW_FROM = 51
#: The first width (columns) with room for the conversation list beside the chat.
WIDE_FROM = 100

HORIZONTAL_BREAKPOINTS: list[tuple[int, str]] = [
    (0, "-compact"),
    (NARROW_FROM, "-narrow"),
    (WIDE_FROM, "-wide"),
]


#: The first height (rows) that is no longer short (below it the soft keyboard is up).
TALL_FROM = 20

VERTICAL_BREAKPOINTS: list[tuple[int, str]] = [(0, "-short"), (TALL_FROM, "-tall")]

#: The one mark for a pinned conversation, in the conversation list and in History.
PIN_MARK = "📌"


def is_compact(width: int) -> bool:
    """Whether a screen ``width`` columns wide gets the ``-compact`` layout."""
    return width < NARROW_FROM


def is_short(height: int) -> bool:
    """Whether a screen ``height`` rows tall gets the ``-short`` layout."""
    return height < TALL_FROM
