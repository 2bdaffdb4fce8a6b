"""Whether a model fits in this device's free memory: one rule for the picker and the list
of models to get (a need up to 70% of free memory fits, up to 100% is tight), and what to
offer instead of a load that would not fit (the largest context, and cache type, that does)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


# -- what to offer instead of a load that does not fit ---------------------------------------

FIT_SHARE = 0.9
"""An offered context must need at most this share of free memory: the rest is for the app
and Android, whose low-memory killer ends the whole Termux session when memory runs out."""
_CTX_STEP = 256  # llama.cpp rounds the cache to this anyway
MIN_OFFER_CTX = 512
SMALLER_KV = {"f16": ("q8_0",), "q8_0": ("q4_0",), "q4_0": ()}


@dataclass(frozen=True)
class FitOption:
    n_ctx: int
    kv_type: str
    need: int

    def describe(self) -> str:
        return f"context {self.n_ctx} with a {self.kv_type} cache ({format_bytes(self.need)})"


def largest_context(
    need: Callable[[int, str], int | None],
    free: int,
    kv_type: str,
    *,
    upto: int,
    share: float = FIT_SHARE,
) -> FitOption | None:
    """The largest context (a multiple of 256, at least 512, at most ``upto``) whose need at
    ``kv_type`` is within ``share`` of ``free``; None when not even 512 fits."""
    budget = free * share
    n_ctx = max(MIN_OFFER_CTX, upto // _CTX_STEP * _CTX_STEP)
    while n_ctx >= MIN_OFFER_CTX:
        bytes_needed = need(n_ctx, kv_type)
        if bytes_needed is None:
            return None
        if bytes_needed <= budget:
            return FitOption(n_ctx, kv_type, bytes_needed)
        n_ctx -= _CTX_STEP
    return None


def fit_options(
    need: Callable[[int, str], int | None],
    free: int,
    n_ctx: int,
    kv_type: str,
    n_ctx_train: int | None = None,
) -> list[FitOption]:
    """What fits instead of ``n_ctx`` at ``kv_type``: the largest context at the same cache
    type, then a smaller cache type when it keeps more context. Largest context first."""
    upto = min(n_ctx, n_ctx_train) if n_ctx_train else n_ctx
    options: list[FitOption] = []
    same = largest_context(need, free, kv_type, upto=upto)
    if same is not None:
        options.append(same)
    for smaller in SMALLER_KV.get(kv_type, ()):
        other = largest_context(need, free, smaller, upto=upto)
        if other is not None and (same is None or other.n_ctx > same.n_ctx):
            options.append(other)
    return sorted(options, key=lambda o: -o.n_ctx)


def default_context(
    need: Callable[[int, str], int | None],
    free: int | None,
    kv_type: str,
    n_ctx_train: int | None,
    cap: int = 4096,
) -> int:
    """The context to use when the user chose none: the model's trained context capped at
    ``cap``, smaller when free memory cannot hold it (never below 512)."""
    upto = min(cap, n_ctx_train) if n_ctx_train else cap
    upto = max(MIN_OFFER_CTX, upto)
    if free is None:
        return upto
    best = largest_context(need, free, kv_type, upto=upto)
    return best.n_ctx if best is not None else MIN_OFFER_CTX


def wont_fit_message(
    name: str, need: int, free: int, n_ctx: int, kv_type: str, options: list[FitOption]
) -> str:
    """One paragraph: what was asked, what is free, and what fits instead."""
    text = (
        f"{name} needs about {format_bytes(need)} at context {n_ctx} with a {kv_type} cache; "
        f"{format_bytes(free)} is free."
    )
    if not options:
        return text + " Even a context of 512 does not fit: try a smaller model."
    fits = "; or ".join(option.describe() for option in options)
    return f"{text} Fits: {fits}."


def fit_offer(
    name: str,
    need: Callable[[int, str], int | None],
    free: int | None,
    n_ctx: int,
    kv_type: str,
    n_ctx_train: int | None,
    *,
    smaller_kv: bool = True,
) -> tuple[str, list[FitOption]] | None:
    """None when ``n_ctx`` at ``kv_type`` can load; else why not (above the trained context,
    or more than the free memory) and the options that fit, largest context first.
    ``smaller_kv`` False keeps the cache type (a smaller one needs flash attention)."""
    wanted = need(n_ctx, kv_type)
    over_trained = bool(n_ctx_train) and n_ctx > (n_ctx_train or 0)
    too_big = free is not None and wanted is not None and wanted > free
    if not over_trained and not too_big:
        return None
    upto = min(n_ctx, n_ctx_train) if n_ctx_train else n_ctx
    if free is None:
        at_trained = need(upto, kv_type)
        options = [FitOption(upto, kv_type, at_trained or 0)]
    else:
        options = fit_options(need, free, upto, kv_type)
    if not smaller_kv:
        options = [o for o in options if o.kv_type == kv_type]
    if over_trained:
        text = (
            f"{name}: context {n_ctx} is more than the {n_ctx_train} tokens it was trained "
            "on (answers fall apart past it)."
        )
        if options:
            text += " Fits: " + "; or ".join(o.describe() for o in options) + "."
        return text, options
    assert free is not None and wanted is not None
    return wont_fit_message(name, wanted, free, n_ctx, kv_type, options), options
