"""The chat screen after something went wrong around an answer: a question that could not be
saved (its conversation deleted by another process), an answer after an engine crash."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.store import NotFoundError, StoreError

if TYPE_CHECKING:
    from tui.ui.screens.chat import ChatScreen


def answer_started(screen: ChatScreen) -> None:
    """The question is saved; after a crash, the engine restarted for it: show the model."""
    screen.unsent = None
    if screen._banner.display:  # only a crash banner can be up while an answer starts
        screen.set_model_state(screen.app.model_state)


def answer_worker_failed(screen: ChatScreen, error: BaseException | None) -> None:
    """The answer's worker raised. The conversation deleted elsewhere: the question goes back
    into the composer. Anything else is a bug in the session, not a model failure: keep the
    app and say what happened."""
    screen.call_later(screen._end_stream, "failed", "")
    if isinstance(error, NotFoundError) and screen.unsent is not None:
        screen.call_later(_keep_unsent, screen, screen.unsent)
        return
    if isinstance(error, StoreError) and screen.unsent is not None:
        # The history could not take the question (read-only, full, damaged): keep it.
        screen.call_later(_give_back, screen, screen.unsent)
    screen.notify(f"Answer failed: {error}", severity="error", timeout=10)


def _give_back(screen: ChatScreen, text: str) -> None:
    screen.unsent = None
    if not screen.composer.text.strip():
        screen.composer.load_text(text)


def _keep_unsent(screen: ChatScreen, text: str) -> None:
    """Give the question back and start a new conversation for the next send."""
    _give_back(screen, text)
    screen.session.new_conversation(incognito=screen.session.incognito)
    screen._after_conversation_change()
    screen.notify(
        "This conversation was deleted elsewhere; your question is kept.", severity="warning"
    )
