"""Fit a conversation into the model's context window.

Before each answer the conversation is rendered and counted. If the prompt plus the tokens
reserved for the answer do not fit in ``n_ctx``, the oldest turns are left out (system
messages and the latest question always stay), whole turns at a time so the prompt never
starts with an answer to a question it no longer contains. With the ``stop`` policy, or
when even the system prompt and the latest question do not fit, :class:`ContextFull` is
raised with the numbers the UI needs to explain it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tui.chat.templates import Message, MessageLike, RenderedPrompt, Template, as_messages, render

ContextPolicy = Literal["trim", "stop"]
CountTokens = Callable[[RenderedPrompt], int]


@dataclass(frozen=True)
class ContextFit:
    """The prompt to send, and the numbers for a context meter."""

    prompt: RenderedPrompt
    messages: list[Message]
    """The messages that made it into the prompt."""
    tokens_used: int
    """Tokens of the prompt (BOS included)."""
    n_ctx: int
    reserve_tokens: int
    """Tokens kept free for the answer."""
    dropped_messages: int
    """Messages left out (oldest first) to make room."""

    @property
    def tokens_available(self) -> int:
        """Room left in the context after the prompt (the answer is written into it)."""
        return self.n_ctx - self.tokens_used

    @property
    def fraction_used(self) -> float:
        return self.tokens_used / self.n_ctx if self.n_ctx else 1.0


class ContextFull(Exception):
    """The conversation does not fit and may not (or cannot) be trimmed."""

    def __init__(
        self,
        *,
        tokens_needed: int,
        n_ctx: int,
        reserve_tokens: int,
        policy: str,
        prompt: RenderedPrompt,
    ) -> None:
        self.tokens_needed = tokens_needed
        self.n_ctx = n_ctx
        self.reserve_tokens = reserve_tokens
        self.policy = policy
        self.prompt = prompt
        limit = n_ctx - reserve_tokens
        if policy == "stop":
            advice = (
                "start a new conversation, raise the context size, or switch the "
                "context policy to trim"
            )
        else:
            advice = "shorten the question or system prompt, or raise the context size"
        super().__init__(
            f"the conversation needs {tokens_needed} tokens but only {limit} fit "
            f"({n_ctx} context - {reserve_tokens} kept for the answer): {advice}"
        )


def _turn_starts(messages: Sequence[Message], first: int, last: int) -> list[int]:
    """Indexes in [first, last) where a droppable prefix may end: before a user message."""
    return [i for i in range(first, last + 1) if i == last or messages[i].role == "user"]


def fit_messages(
    template: Template,
    messages: Iterable[MessageLike],
    count_tokens: CountTokens,
    n_ctx: int,
    reserve_tokens: int,
    policy: ContextPolicy | str = "trim",
    **render_kwargs: Any,
) -> ContextFit:
    """Render ``messages`` with ``template`` so that prompt + ``reserve_tokens`` <= ``n_ctx``.

    ``count_tokens`` counts a rendered prompt (see :class:`tui.chat.templates.TokenCounter`).
    ``render_kwargs`` go to :func:`tui.chat.templates.render` (e.g. the GGUF template for
    ``auto``). Leading system messages and the last message always stay; the messages
    between are dropped oldest first, a whole turn at a time, found by binary search so a
    long conversation costs a few counts, not one per message.
    """
    if policy not in ("trim", "stop"):
        raise ValueError(f"unknown context policy {policy!r}: use trim or stop")
    items = as_messages(messages)
    limit = n_ctx - reserve_tokens

    def attempt(drop_until: int) -> tuple[list[Message], RenderedPrompt, int]:
        kept = items[:head] + items[drop_until:]
        prompt = render(template, kept, **render_kwargs)
        return kept, prompt, count_tokens(prompt)

    head = 0
    while head < len(items) - 1 and items[head].role == "system":
        head += 1
    kept, prompt, used = attempt(head)
    if used <= limit:
        return ContextFit(prompt, kept, used, n_ctx, reserve_tokens, 0)
    if policy == "stop":
        raise ContextFull(
            tokens_needed=used,
            n_ctx=n_ctx,
            reserve_tokens=reserve_tokens,
            policy="stop",
            prompt=prompt,
        )
    last = max(len(items) - 1, head)
    # The latest question and any answer being continued stay: cut before the last user turn.
    while last > head and items[last].role != "user":
        last -= 1
    candidates = _turn_starts(items, head + 1, last)
    best: tuple[list[Message], RenderedPrompt, int, int] | None = None
    lo, hi = 0, len(candidates) - 1
    while lo <= hi:  # smallest cut that fits; more dropped means fewer tokens
        mid = (lo + hi) // 2
        cut = candidates[mid]
        kept, prompt, used = attempt(cut)
        if used <= limit:
            best = (kept, prompt, used, cut)
            hi = mid - 1
        else:
            lo = mid + 1
    if best is None:
        kept, prompt, used = attempt(last)
        raise ContextFull(
            tokens_needed=used,
            n_ctx=n_ctx,
            reserve_tokens=reserve_tokens,
            policy="trim",
            prompt=prompt,
        )
    kept, prompt, used, cut = best
    return ContextFit(prompt, kept, used, n_ctx, reserve_tokens, cut - head)


def reserve_for(max_tokens: int, n_ctx: int) -> int:
    """Tokens to keep free for the answer: ``max_tokens``, but never more than half the
    context (a 2048-token answer limit must not make a 2048 context unusable)."""
    return max(0, min(max_tokens, n_ctx // 2))
