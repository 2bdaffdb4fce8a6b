"""Typed Textual messages for the lifecycles the chat screen reacts to.

Workers post these; only message handlers (on the UI's side) touch widgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from textual.message import Message

if TYPE_CHECKING:  # the session (templates, store, engine protocol) loads after the first frame
    from tui.chat.events import (
        AnswerChunk,
        AnswerFailed,
        AnswerFinished,
        AnswerRefused,
        AnswerStarted,
        SessionEvent,
    )

ModelState = Literal["none", "loading", "ready", "failed"]


class ModelStateChanged(Message):
    """The engine's model moved to a new state (loading, ready, failed with a reason).

    ``missing``: it failed because there is no model anywhere (the app shows the welcome
    sheet).
    """

    def __init__(
        self, state: ModelState, name: str = "", detail: str = "", *, missing: bool = False
    ) -> None:
        super().__init__()
        self.state: ModelState = state
        self.name = name
        self.detail = detail
        self.missing = missing


class Answer:
    """The answer lifecycle: Started, then Chunk..., then exactly one of Finished or Failed."""

    @staticmethod
    def of(event: SessionEvent) -> Message:
        """The message that carries one of the session's answer events."""
        from tui.chat.events import AnswerChunk, AnswerFailed, AnswerFinished, AnswerRefused

        if isinstance(event, AnswerRefused):
            return Answer.Refused(event)
        if isinstance(event, AnswerChunk):
            return Answer.Chunk(event)
        if isinstance(event, AnswerFinished):
            return Answer.Finished(event)
        if isinstance(event, AnswerFailed):
            return Answer.Failed(event)
        return Answer.Started(event)

    class Started(Message, bubble=False):
        def __init__(self, event: AnswerStarted) -> None:
            super().__init__()
            self.event = event

    class Chunk(Message, bubble=False):
        def __init__(self, event: AnswerChunk) -> None:
            super().__init__()
            self.event = event

    class Finished(Message, bubble=False):
        def __init__(self, event: AnswerFinished) -> None:
            super().__init__()
            self.event = event

    class Failed(Message, bubble=False):
        def __init__(self, event: AnswerFailed) -> None:
            super().__init__()
            self.event = event

    class Refused(Message, bubble=False):
        """The question does not fit the context; nothing was saved."""

        def __init__(self, event: AnswerRefused) -> None:
            super().__init__()
            self.event = event


class ContextUpdated(Message, bubble=False):
    """New numbers for the context meter."""

    def __init__(self, tokens_used: int, n_ctx: int, dropped: int) -> None:
        super().__init__()
        self.tokens_used = tokens_used
        self.n_ctx = n_ctx
        self.dropped = dropped
