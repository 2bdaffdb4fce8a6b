"""Whether a model fits in this device's free memory: one rule for the picker and the list
of models to get (a need up to 70% of free memory fits, up to 100% is tight)."""

from __future__ import annotations

from tui.engine.memory import format_bytes

FITS, TIGHT, WONT_FIT, UNKNOWN = "fits", "tight", "will not fit", "unknown"
ORDER = {FITS: 0, TIGHT: 1, UNKNOWN: 2, WONT_FIT: 3}
"""Sort key: what fits first."""


def fit_verdict(need: int | None, free: int | None, n_ctx: int) -> tuple[str, str]:
    """(verdict, sentence): fits / tight / will not fit / unknown, with the numbers."""
    if need is None:
        return UNKNOWN, "memory need unknown"
    if free is None:
        return UNKNOWN, f"needs {format_bytes(need)} at {n_ctx} ctx (free memory unknown)"
    numbers = f"needs {format_bytes(need)} at {n_ctx} ctx, {format_bytes(free)} free"
    if need <= free * 0.7:
        return FITS, f"fits: {numbers}"
    if need <= free:
        return TIGHT, f"tight: {numbers}"
    return WONT_FIT, f"will not fit: {numbers}"
