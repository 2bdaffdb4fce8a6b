"""The fit rules (:mod:`tui.engine.fit`) applied to a catalog entry and the settings: what
the model picker shows beside each model, and offers instead of a load that would not fit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tui.engine.fit import WONT_FIT, FitOption, default_context, fit_verdict
from tui.engine.fit import fit_offer as offer_instead
from tui.engine.loading import AUTO_CONTEXT_CAP

if TYPE_CHECKING:
    from tui.engine.catalog import CatalogEntry
    from tui.settings import Settings


def fit_text(
    entry: CatalogEntry, n_ctx: int, n_batch: int, free: int | None, **choices: Any
) -> tuple[str, str]:
    """(verdict, sentence): fits / tight / will not fit, with the numbers (the same memory
    rule as the Get models list, :func:`tui.engine.fit.fit_verdict`); a context larger than
    the model was trained on will not load, whatever the memory. ``choices``: the settings'
    memory choices (cache type, memory map)."""
    if n_ctx == 0:  # automatic: what the engine will pick for this model
        n_ctx = auto_context(entry, n_batch, free, choices)
    verdict, sentence = fit_verdict(entry.ram_estimate(n_ctx, n_batch, **choices), free, n_ctx)
    trained = entry.n_ctx_train
    if trained and n_ctx > trained:
        sentence += f" · above trained {trained}: loads at {trained} or less"
        verdict = WONT_FIT
    return verdict, sentence


def auto_context(
    entry: CatalogEntry, n_batch: int, free: int | None, choices: dict[str, Any]
) -> int:
    """The context an automatic ``n_ctx`` (0) becomes for ``entry`` (the engine's rule)."""

    def need(n_ctx: int, kv_type: str) -> int | None:
        return entry.ram_estimate(n_ctx, n_batch, **{**choices, "kv_type": kv_type})

    kv_type = choices.get("kv_type", "f16")
    return default_context(need, free, kv_type, entry.n_ctx_train, cap=AUTO_CONTEXT_CAP)


def fit_offer(
    entry: CatalogEntry, settings: Settings, free: int | None
) -> tuple[str, list[FitOption]] | None:
    """None when ``entry`` loads with ``settings``; else why not and what fits instead."""
    if entry.shape is None or settings.n_ctx == 0:
        return None  # unreadable: the load says why; automatic: the engine picks what fits
    choices = settings.memory_choices()

    def need(n_ctx: int, kv_type: str) -> int | None:
        return entry.ram_estimate(n_ctx, settings.n_batch, **{**choices, "kv_type": kv_type})

    return offer_instead(
        entry.name,
        need,
        free,
        settings.n_ctx,
        settings.kv_cache_type,
        entry.n_ctx_train,
        # A smaller cache type needs flash attention, and heads it can hold.
        smaller_kv=settings.flash_attn != "off" and entry.shape.quantized_kv_ok,
    )
