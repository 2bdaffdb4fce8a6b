"""What a chat session says while it answers, and what it needs of an engine.

Kept apart from :mod:`tui.chat.session` so the CLI, the UI and the tests can name the events
without the session's machinery.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from tui.engine.protocol import GenerationEvent, GenerationStats, ModelInfo, Prompt, SamplingParams


class Engine(Protocol):
    """What the session needs of :class:`tui.engine.client.EngineClient` (tests may pass a
    scripted double for screen snapshots)."""

    @property
    def model(self) -> ModelInfo | None: ...

    def tokenize(self, text: str, *, special: bool = False, add_bos: bool = False) -> list[int]: ...

    def cancel(self) -> None: ...

    def agenerate(
        self,
        prompt: Prompt,
        params: SamplingParams,
        *,
        add_bos: bool = ...,
        interval: float | Callable[[], float] = ...,
    ) -> AsyncIterator[GenerationEvent]: ...


@dataclass(frozen=True)
class ContextInfo:
    """Numbers for the context meter."""

    tokens_used: int
    n_ctx: int
    dropped_messages: int

    @property
    def tokens_available(self) -> int:
        return self.n_ctx - self.tokens_used


@dataclass(frozen=True)
class AnswerStarted:
    user_message_id: int | None
    assistant_message_id: int | None
    context: ContextInfo
    notice: str | None = None
    """Something to show once, e.g. that the model's own template failed and a named format
    is used instead."""


@dataclass(frozen=True)
class AnswerChunk:
    text: str
    """More of the answer (a reasoning model's thinking is in ``reasoning``, never here)."""
    tokens: int = 1
    """Generated tokens in this piece (pieces come merged when the session paces text)."""
    reasoning: str = ""
    """More of the model's thinking."""
    thinking: bool = False
    """The model is inside its reasoning block now."""
    reasoning_tokens: int = 0
    """Tokens of thinking so far (an estimate while streaming)."""


@dataclass(frozen=True)
class AnswerFinished:
    assistant_message_id: int | None
    text: str
    """The whole answer (for a continued answer: old text + new)."""
    status: str
    """``done`` or ``cancelled``."""
    stats: GenerationStats
    reasoning: str = ""
    """The model's thinking before the answer, stored apart from it."""
    reasoning_tokens: int = 0
    reasoning_seconds: float = 0.0


@dataclass(frozen=True)
class AnswerFailed:
    assistant_message_id: int | None
    message: str
    crashed: bool
    """The worker died or stopped responding: offer a restart."""


@dataclass(frozen=True)
class AnswerRefused(AnswerFailed):
    """The conversation with the new question does not fit the context (policy "stop", or
    a question longer than the whole context). Nothing was saved: the question is the
    caller's to keep, and the user chooses what to do (new chat, bigger context, trim)."""

    tokens_needed: int = 0
    n_ctx: int = 0
    policy: str = ""


SessionEvent = AnswerStarted | AnswerChunk | AnswerFinished | AnswerFailed


class SessionError(Exception):
    """A request the session cannot carry out (e.g. no model loaded)."""
