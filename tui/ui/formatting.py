"""What the chat screen shows of stored data: an answer's stats line, a conversation's last
activity, a message as its view shows it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tui.ui.widgets.message_view import MessageData

if TYPE_CHECKING:
    from tui.store import Message


def format_stats(stats: dict[str, Any] | None, status: str) -> str:
    """The line under an answer: tokens, tokens/s, time to first token, how it ended."""
    parts: list[str] = []
    if stats:
        tokens = stats.get("completion_tokens")
        tps = stats.get("generation_tps")
        ttft = stats.get("ttft_seconds")
        if tokens is not None:
            parts.append(f"{tokens} tokens")
        if tps:
            parts.append(f"{float(tps):.1f} tok/s")
        if ttft is not None:
            parts.append(f"first token {float(ttft):.2f}s")
        reason = stats.get("stop_reason")
        if reason == "length":
            parts.append("stopped at max tokens (Continue)")
        elif reason == "context":
            parts.append("context full")
    if status == "cancelled":
        parts.append("stopped")
    elif status in ("error", "failed"):
        parts.append("failed")
    elif status == "interrupted":
        parts.append("interrupted")
    return " · ".join(parts)


def relative_time(timestamp: float, now: float | None = None) -> str:
    seconds = max(0.0, (now or time.time()) - timestamp)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return time.strftime("%Y-%m-%d", time.localtime(timestamp))


def thought_summary(stats: dict[str, Any] | None) -> str:
    """The collapsed line of a model's thinking: "Thought for 12 s, 240 tokens"."""
    stats = stats or {}
    seconds = float(stats.get("reasoning_seconds") or 0.0)
    tokens = stats.get("reasoning_tokens")
    shown = f"{seconds:.0f}" if seconds >= 10 else f"{seconds:.1f}"
    text = f"Thought for {shown} s"
    if tokens is not None:
        text += f", {tokens} tokens"
    return text


def message_data(message: Message, branches: tuple[int, int]) -> MessageData:
    """What a message view shows of a stored message; ``branches`` is (position, count)
    among its sibling branches."""
    return MessageData(
        id=message.id,
        role=message.role,
        text=message.content,
        status=message.status,
        meta=format_stats(message.stats, message.status) if message.role == "assistant" else "",
        branch_index=branches[0],
        branch_count=branches[1],
        reasoning=message.reasoning,
        thought=thought_summary(message.stats) if message.reasoning else "",
    )
