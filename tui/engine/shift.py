"""Context shift: keep the KV cache when a conversation's oldest turns are left out.

When a conversation outgrows the context, the chat drops its oldest whole turns from the
prompt (``tui/chat/context.py``) and keeps the template header, the system prompt and the
latest turns. Each part of a rendered prompt is tokenized on its own (``Worker._tokenize``),
so the kept parts have the same tokens as before and the new prompt is the cached tokens
with one block cut out: ``cached[:start] + cached[end:end + kept] + new question``. Without
a shift, everything after ``start`` is decoded again (on a phone-class 3B at n_ctx 512 that
was 279 of 316 tokens, 11x a normal turn).

Instead, as ``llama-cli`` does for its context shift, the block is removed from the cache in
place (``llama_memory_seq_rm``), the cells after it are moved back by its length
(``llama_memory_seq_add``; llama.cpp re-rotates their keys at the next decode), and the
``Llama`` object's own token list follows, so its prefix reuse then finds the kept turns and
only the new question is decoded.

What the shifted cache is not: a fresh evaluation of the kept turns. Their keys and values
were computed while the dropped turns were still before them, so every layer above the
first still carries what the model read there (and the re-rotated keys differ in rounding
from keys computed at the new positions). A greedy answer after a shift can therefore
differ from a fresh evaluation of the same prompt; it reads the same tokens, in order, at
consecutive positions. ``docs/performance.md`` has the numbers.

Models whose cache cannot do this (recurrent and hybrid state, sliding-window attention
whose cache has already forgotten old positions, caches llama.cpp says cannot shift) fall
back to decoding again; :func:`support` says which, and it is reported in ``ModelInfo``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Set to turn the shift off (the benchmarks' "before" and a way out if a model misbehaves).
OFF_ENV = "BURROW_ENGINE_NO_SHIFT"

#: A shift must keep at least this many cached tokens to be worth it.
MIN_KEPT = 8

#: Places tried where the kept part may start (each turn's first token is a candidate).
MAX_CANDIDATES = 512


@dataclass(frozen=True)
class Shift:
    start: int
    """Cached tokens before the cut, kept in place (header, system prompt)."""
    end: int
    """The cut is ``[start, end)`` of the cache."""
    kept: int
    """Tokens from ``end`` on that the new prompt reuses, moved to ``start``."""

    @property
    def removed(self) -> int:
        return self.end - self.start


def support(llm: Any) -> str | None:
    """None when the loaded model's cache can shift, else why it cannot."""
    import os

    import llama_cpp

    if os.environ.get(OFF_ENV):
        return f"turned off ({OFF_ENV} is set)"
    model = llm.model
    memory = llama_cpp.llama_get_memory(llm._ctx.ctx)
    if memory is None:
        return "the model has no KV cache"
    if llama_cpp.llama_model_is_recurrent(model) or llama_cpp.llama_model_is_hybrid(model):
        return "a recurrent model's state cannot drop old turns"
    if llama_cpp.llama_model_n_swa(model) > 0:
        return "sliding-window attention: the cache no longer holds old positions"
    if not llama_cpp.llama_memory_can_shift(memory):
        return "llama.cpp cannot move this model's cache positions"
    return None


def find_shift(cached: Sequence[int], new: Sequence[int], min_kept: int = MIN_KEPT) -> Shift | None:
    """The cut that turns ``cached`` into the longest prefix of ``new``, if it is worth it.

    None when ``new`` simply extends (a prefix of) the cache: plain prefix reuse does that."""
    old = np.asarray(cached, dtype=np.int64)
    want = np.asarray(new, dtype=np.int64)
    n = len(old)
    common = min(n, len(want))
    differ = np.flatnonzero(old[:common] != want[:common])
    start = int(differ[0]) if len(differ) else common
    if start >= n or start >= len(want):
        return None
    candidates = np.flatnonzero(old[start + 1 :] == want[start])[:MAX_CANDIDATES] + start + 1
    best: Shift | None = None
    for end in candidates.tolist():
        length = min(n - end, len(want) - start)
        same = old[end : end + length] == want[start : start + length]
        kept = length if same.all() else int(np.argmin(same))
        if best is None or kept > best.kept:
            best = Shift(start, end, kept)
    if best is None or best.kept < min_kept:
        return None
    return best


def apply_shift(llm: Any, shift: Shift) -> bool:
    """Cut ``shift`` out of the cache and the token list; False if llama.cpp refused (the
    cache is then left for plain prefix reuse, which decodes the rest again)."""
    import llama_cpp

    memory = llama_cpp.llama_get_memory(llm._ctx.ctx)
    reused_end = shift.end + shift.kept
    # Cells past the reused part would be cut by the next decode anyway; dropping them
    # first keeps the moved cells from landing on positions still in use.
    if not llama_cpp.llama_memory_seq_rm(memory, 0, reused_end, -1):
        return False
    if not llama_cpp.llama_memory_seq_rm(memory, 0, shift.start, shift.end):
        llm.n_tokens = min(llm.n_tokens, reused_end)
        return False
    llama_cpp.llama_memory_seq_add(memory, 0, shift.end, reused_end, -shift.removed)
    ids = llm.input_ids
    ids[shift.start : shift.start + shift.kept] = ids[shift.end : reused_end].copy()
    llm.n_tokens = shift.start + shift.kept
    return True


def forget_cache(llm: Any) -> None:
    """Empty the cache: a shift waits for the next decode to re-rotate the keys, so a cache
    shifted but never decoded must not be saved or reused."""
    llm.n_tokens = 0
    llm._ctx.kv_cache_seq_rm(-1, 0, -1)
